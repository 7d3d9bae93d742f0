"""Document cards: one chunk per file with what the file says about itself (issue 13).

Real files of each format (PDF by fpdf2, DOCX by python-docx, HTML, Markdown with front matter),
real Chroma, the real file reader, ``FakeEmbedder`` (no weights).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.kb import KnowledgeBase
from rag.settings import Settings
from tests.fakes import FakeEmbedder, fake_models
from tests.helpers import assert_consistent, chunk_ids
from tests.ingest.test_context import _pdf_with_outline

pytestmark = pytest.mark.integration

GUIDE = """---
title: Field Guide
author: Ann Lee
date: 2024-03-01
tags: [birds, coast]
---
# Field Guide

Herons wade in shallow water and hunt fish at dawn.
"""
PAGE = """<html><head><title>Tide Tables</title>
<meta name="author" content="Harbour Office"><meta name="description" content="When the sea
rises and falls at the pier."><meta name="dcterms.date" content="2023-07-04"></head>
<body><h1>Tide Tables</h1><p>High water comes twice a day.</p></body></html>"""


@pytest.fixture
def kb(tmp_path: Path) -> KnowledgeBase:
    settings = Settings(persist_dir=tmp_path / "store", chunk_size=40, chunk_overlap=4)
    return KnowledgeBase(settings, models=fake_models(settings, embedder=FakeEmbedder()))


@pytest.fixture
def folder(tmp_path: Path, make_docx) -> Path:
    import docx

    root = tmp_path / "docs"
    root.mkdir()
    (root / "guide.md").write_text(GUIDE, encoding="utf-8")
    (root / "tides.html").write_text(PAGE, encoding="utf-8")
    _pdf_with_outline(root / "manual.pdf")
    path = make_docx(root / "report.docx", core_title="Annual Report")
    word = docx.Document(str(path))
    word.core_properties.author = "Chen Wei"
    word.core_properties.subject = "Budget for 2025"
    word.save(str(path))
    return root


def _cards(kb: KnowledgeBase) -> dict[str, tuple[str, dict]]:
    got = kb.writable_store().collection.get(
        where={"kind": "card"}, include=["documents", "metadatas"]
    )
    cards = [
        (meta["source"], (text, meta))
        for text, meta in zip(got["documents"], got["metadatas"], strict=True)
    ]
    assert len(cards) == len(dict(cards)), "one card per file"
    return dict(cards)


def test_every_file_gets_a_card_with_its_own_metadata(kb: KnowledgeBase, folder: Path) -> None:
    assert kb.ingest(folder).ok
    cards = _cards(kb)
    assert set(cards) == {"guide.md", "tides.html", "manual.pdf", "report.docx"}
    pdf, meta = cards["manual.pdf"]
    assert pdf.startswith("Document: Field Manual\nFile: manual.pdf (PDF, 2 pages)\n")
    for line in (
        "Author: Dana Whitfield",
        "Subject: Running the field servers",
        "Keywords: servers, backups",
        "Date: 2024-05-17",
        "Contents: Setup; Backups; Restoring",
        "Opening: Setup Unpack the rack",
    ):
        assert line in pdf
    assert meta["page"] == 1 and meta["title"] == "Field Manual"  # cited as the file, p. 1
    word, _ = cards["report.docx"]
    assert "Document: Annual Report" in word and "Author: Chen Wei" in word
    assert "Subject: Budget for 2025" in word
    html, meta = cards["tides.html"]
    assert "Author: Harbour Office" in html and "Date: 2023-07-04" in html
    assert "Description: When the sea rises and falls at the pier." in html
    assert "page" not in meta
    guide, _ = cards["guide.md"]
    assert "Author: Ann Lee" in guide and "Keywords: birds, coast" in guide
    assert "Herons wade in shallow water" in guide  # the opening of the first page


def test_a_question_about_the_author_finds_the_card(kb: KnowledgeBase, folder: Path) -> None:
    kb.ingest(folder)
    hits = dict(kb.keyword.search("Who is the author of the field manual?", k=3))
    card_ids = set(kb.writable_store().collection.get(where={"kind": "card"}, include=[])["ids"])
    assert next(iter(hits)) in card_ids


def test_unchanged_files_add_nothing_even_when_read_again(kb: KnowledgeBase, folder: Path) -> None:
    kb.ingest(folder)
    before = chunk_ids(kb)
    assert kb.ingest(folder).chunks_written == 0
    for record in kb.registry.all():  # make ingest read and split every file again
        kb.registry.delete(record.source)
    report = kb.ingest(folder)
    assert report.chunks_written == 0 and report.chunks_deleted == 0  # cards are deterministic
    assert chunk_ids(kb) == before
    assert_consistent(kb)


def test_a_changed_file_replaces_its_card_and_a_removed_file_takes_it(
    kb: KnowledgeBase, folder: Path
) -> None:
    kb.ingest(folder)
    (folder / "guide.md").write_text(GUIDE.replace("Ann Lee", "Ravi Rao"), encoding="utf-8")
    kb.ingest(folder)
    guide, _ = _cards(kb)["guide.md"]
    assert "Author: Ravi Rao" in guide and "Ann Lee" not in guide
    (folder / "tides.html").unlink()
    kb.ingest(folder)
    assert "tides.html" not in _cards(kb)
    assert not kb.writable_store().collection.get(where={"source": "tides.html"})["ids"]
    assert_consistent(kb)
