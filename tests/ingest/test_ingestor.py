"""The ingest pipeline alone: its store, splitter, registry and record manager handed in as
in-memory parts (issue 14), so it runs with no weights and no Chroma."""

from __future__ import annotations

import pytest
from langchain_core.embeddings import DeterministicFakeEmbedding
from langchain_core.indexing import InMemoryRecordManager
from langchain_core.vectorstores import InMemoryVectorStore

from ingest.pipeline import Ingestor, remove_source
from ingest.split import TokenSplitter
from rag.errors import IngestLockedError, LoaderError
from rag.locks import ingest_lock
from rag.settings import Settings
from rag.types import FileRecord


class WordTokens:
    def count_tokens(self, text: str) -> int:
        return len(text.split())


class MemoryRegistry:
    def __init__(self) -> None:
        self.records: dict[str, FileRecord] = {}

    def get(self, source: str) -> FileRecord | None:
        return self.records.get(source)

    def all(self) -> list[FileRecord]:
        return [self.records[s] for s in sorted(self.records)]

    def put(self, record: FileRecord) -> None:
        self.records[record.source] = record

    def delete(self, source: str) -> None:
        self.records.pop(source, None)


class Parts:
    """One knowledge base's parts, kept between runs like the real ones on disk."""

    def __init__(self, tmp_path) -> None:
        self.settings = Settings(persist_dir=tmp_path / "store", file_timeout=0)
        self.store = InMemoryVectorStore(DeterministicFakeEmbedding(size=16))
        self.registry = MemoryRegistry()
        self.record_manager = InMemoryRecordManager("test")
        self.record_manager.create_schema()
        self.opened = 0

    def open_store(self) -> InMemoryVectorStore:
        self.opened += 1
        return self.store

    def ingestor(self) -> Ingestor:
        return Ingestor(
            self.settings,
            splitter=TokenSplitter(WordTokens(), 12, 2),
            open_store=self.open_store,
            registry=self.registry,
            record_manager=self.record_manager,
            embedder_id="fake-embedder",
        )

    def chunks(self) -> dict[str, dict]:
        """Chunk id → metadata, as the store holds them."""
        return {chunk_id: row["metadata"] for chunk_id, row in self.store.store.items()}


@pytest.fixture
def parts(tmp_path) -> Parts:
    return Parts(tmp_path)


@pytest.fixture
def folder(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "solar.md").write_text(
        "# Planets\n\nJupiter is the largest planet. Mars is the red planet because of rust.\n",
        encoding="utf-8",
    )
    (docs / "baking.txt").write_text(
        "Sourdough rises because wild yeast ferments the dough and makes gas.\n", encoding="utf-8"
    )
    (docs / "notes.xyz").write_text("not a supported type", encoding="utf-8")
    return docs


def test_chunks_are_written_and_stamped(parts, folder):
    report = parts.ingestor().run(folder)
    assert report.ok and report.files_added == 2 and report.chunks_written > 2
    assert {f.source: f.status for f in report.files}["notes.xyz"] == "skipped"
    metas = list(parts.chunks().values())
    assert {m["source"] for m in metas} == {"solar.md", "baking.txt"}
    assert {m["embedder"] for m in metas} == {"fake-embedder"}
    assert {m["splitter"] for m in metas} == {"recursive-v3-12-2"}
    assert all(len(m["file_sha256"]) == 64 for m in metas)
    assert parts.registry.get("solar.md").chunks == sum(m["source"] == "solar.md" for m in metas)


def test_unchanged_files_are_not_read_again(parts, folder):
    parts.ingestor().run(folder)
    before = dict(parts.chunks())
    report = parts.ingestor().run(folder)
    assert report.files_unchanged == 2 and report.chunks_written == 0
    assert parts.chunks() == before


def test_changed_file_replaces_its_chunks_and_deleted_file_is_pruned(parts, folder):
    parts.ingestor().run(folder)
    old_baking = {i for i, m in parts.chunks().items() if m["source"] == "baking.txt"}
    (folder / "baking.txt").write_text("Rye bread is dense and sour.\n", encoding="utf-8")
    (folder / "solar.md").unlink()
    report = parts.ingestor().run(folder)
    statuses = {f.source: f.status for f in report.files}
    assert statuses["baking.txt"] == "updated" and statuses["solar.md"] == "removed"
    sources = {m["source"] for m in parts.chunks().values()}
    assert sources == {"baking.txt"}
    assert not old_baking & set(parts.chunks())
    assert parts.registry.get("solar.md") is None


def test_remove_source_deletes_one_files_chunks(parts, folder):
    parts.ingestor().run(folder)
    n = remove_source(
        "solar.md",
        store=parts.store,
        record_manager=parts.record_manager,
        registry=parts.registry,
    )
    assert n > 0 and {m["source"] for m in parts.chunks().values()} == {"baking.txt"}
    assert parts.record_manager.list_keys(group_ids=["solar.md"]) == []


def test_a_held_ingest_lock_refuses_before_the_store_opens(parts, folder):
    with ingest_lock(parts.settings.kb_dir / "ingest.lock"):
        with pytest.raises(IngestLockedError, match="another ingest"):
            parts.ingestor().run(folder)
    assert parts.opened == 0


def test_missing_folder_is_a_loader_error(parts, tmp_path):
    with pytest.raises(LoaderError, match="no such file"):
        parts.ingestor().run(tmp_path / "nowhere")


def test_both_file_hashers_give_the_sha256_of_the_whole_file(tmp_path):
    import hashlib
    import os

    from ingest.pipeline import file_sha256
    from rag.model_cache import sha256_file

    data = os.urandom(3 * (1 << 20) + 7)  # more than one read block of the old loops
    path = tmp_path / "blob.bin"
    path.write_bytes(data)
    expected = hashlib.sha256(data).hexdigest()
    assert file_sha256(path) == sha256_file(path) == expected
