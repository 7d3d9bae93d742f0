"""Ingest into real Chroma, through the real file reader: incremental, idempotent, robust.

The embedder is ``tests.fakes.FakeEmbedder`` (deterministic vectors, a word tokenizer), handed
to ``Models`` in its constructor, so this runs with no weights; the ``slow`` CLI test at the end
runs the real packaged embedder end to end.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from rag.errors import EmbedderMismatchError, IngestLockedError, SplitterMismatchError
from rag.kb import KnowledgeBase
from rag.settings import Settings
from tests.fakes import FakeEmbedder, fake_models
from tests.helpers import assert_consistent, chunk_ids

pytestmark = pytest.mark.integration


@pytest.fixture
def embedder() -> FakeEmbedder:
    return FakeEmbedder()


@pytest.fixture
def make_kb(tmp_path, embedder):
    """A KnowledgeBase in a fresh store folder over the fake embedder (shared within a test)."""

    def make(**overrides) -> KnowledgeBase:
        settings = Settings(**{"persist_dir": tmp_path / "store", **overrides})
        return KnowledgeBase(settings, models=fake_models(settings, embedder=embedder))

    return make


@pytest.fixture
def kb(make_kb) -> KnowledgeBase:
    return make_kb()


@pytest.fixture
def embed_calls(embedder) -> list[str]:
    """Texts the embedder was asked to embed (documents only)."""
    return embedder.embedded


def test_first_ingest_adds_every_file_with_metadata(kb, docs):
    report = kb.ingest(docs)
    assert report.ok
    assert report.files_added == 3 and report.chunks_written > 0
    got = kb.writable_store().collection.get(include=["metadatas", "documents"])
    metas = got["metadatas"]
    assert {m["source"] for m in metas} == {"solar.md", "baking.txt", "长城.txt"}
    for m in metas:
        assert len(m["file_sha256"]) == 64
        assert m["splitter"].startswith("recursive-") and m["embedder"] == "use-multilingual"
        assert isinstance(m["start_index"], int) and m["mime"] and m["lang"] in ("en", "zh")
    zh = [m for m in metas if m["source"] == "长城.txt"][0]
    assert zh["lang"] == "zh"
    # Markdown header path is kept as chunk context (metadata), the text is the file's own.
    [(planets, meta)] = [
        (d, m)
        for d, m in zip(got["documents"], metas, strict=True)
        if "Jupiter" in d and "kind" not in m
    ]
    assert meta["section"] == "Planets" and planets.startswith("## Planets")  # below the title
    assert meta["context"] == "The Solar System › Planets"
    assert_consistent(kb)


def test_rerun_on_unchanged_folder_embeds_nothing(kb, docs, embed_calls):
    kb.ingest(docs)
    before = chunk_ids(kb)
    embed_calls.clear()
    report = kb.ingest(docs)
    assert report.files_unchanged == 3 and report.chunks_written == 0
    assert embed_calls == []
    assert chunk_ids(kb) == before


def test_changed_file_replaces_its_chunks(kb, docs):
    kb.ingest(docs)
    old = {i for i in chunk_ids(kb)}
    (docs / "baking.txt").write_text(
        "Rye bread needs a sour starter and a long proof.", encoding="utf-8"
    )
    report = kb.ingest(docs)
    assert [f.status for f in report.files if f.source == "baking.txt"] == ["updated"]
    texts = kb.writable_store().collection.get(
        where={"source": "baking.txt"}, include=["documents"]
    )["documents"]
    assert texts and all("Sourdough" not in t for t in texts) and any("Rye" in t for t in texts)
    assert report.chunks_deleted >= 1 and chunk_ids(kb) != old
    assert_consistent(kb)


def test_deleted_file_is_pruned_and_no_prune_keeps_it(kb, docs):
    kb.ingest(docs)
    (docs / "baking.txt").unlink()
    kept = kb.ingest(docs, prune=False)
    assert kept.files_removed == 0
    assert kb.writable_store().collection.get(where={"source": "baking.txt"})["ids"]
    report = kb.ingest(docs)
    assert report.files_removed == 1
    assert kb.writable_store().collection.get(where={"source": "baking.txt"})["ids"] == []
    assert [r.source for r in kb.documents()] == ["solar.md", "长城.txt"]
    assert_consistent(kb)


def test_renamed_file_is_not_embedded_again(kb, docs, embed_calls):
    kb.ingest(docs)
    embed_calls.clear()
    (docs / "baking.txt").rename(docs / "bread.txt")
    report = kb.ingest(docs)
    statuses = {f.source: f.status for f in report.files}
    assert statuses["bread.txt"] == "added" and statuses["baking.txt"] == "removed"
    # The chunks' vectors came from the embedding cache; only the card names the file.
    assert len(embed_calls) == 1 and embed_calls[0].startswith("Document: bread\nFile: bread.txt")
    assert kb.writable_store().collection.get(where={"source": "bread.txt"})["ids"]
    assert_consistent(kb)


def test_chunk_ids_are_deterministic(make_kb, docs, tmp_path):
    a = make_kb(persist_dir=tmp_path / "a")
    b = make_kb(persist_dir=tmp_path / "b")
    a.ingest(docs)
    b.ingest(docs)
    assert chunk_ids(a) == chunk_ids(b)


def test_failed_file_keeps_what_was_stored(kb, docs):
    kb.ingest(docs)
    before = kb.writable_store().collection.get(where={"source": "baking.txt"})["ids"]
    (docs / "baking.txt").write_bytes(b"\x00\x01\x02binary\x00" * 50)
    report = kb.ingest(docs)
    failed = [f for f in report.files if f.status == "failed"]
    assert [f.source for f in failed] == ["baking.txt"] and failed[0].reason
    assert not report.ok
    assert kb.writable_store().collection.get(where={"source": "baking.txt"})["ids"] == before
    assert report.files_unchanged == 2


def test_unknown_extensions_are_skipped_and_listed(kb, docs):
    (docs / "photo.xyz").write_bytes(b"\x89PNG")
    report = kb.ingest(docs)
    skipped = [f for f in report.files if f.status == "skipped"]
    assert [f.source for f in skipped] == ["photo.xyz"] and ".xyz" in skipped[0].reason
    assert report.ok


def test_symlink_loop_is_reported_not_followed(kb, docs):
    (docs / "loop").symlink_to(docs, target_is_directory=True)
    report = kb.ingest(docs)
    assert any("symlink loop" in f.reason for f in report.files if f.status == "failed")
    assert report.files_added == 3


def test_splitter_change_is_detected_with_rebuild_command(make_kb, docs):
    make_kb().ingest(docs)
    with pytest.raises(SplitterMismatchError, match="kbqa reindex --kb default") as err:
        make_kb(chunk_size=120, chunk_overlap=10).ingest(docs)
    assert "recursive-v3-200-30" in str(err.value) and "recursive-v3-120-10" in str(err.value)


def test_embedder_change_is_detected(make_kb, docs):
    make_kb().ingest(docs)
    settings = Settings(persist_dir=make_kb().settings.persist_dir, embedder="models/other")
    other = KnowledgeBase(settings, models=fake_models(settings))
    with pytest.raises(EmbedderMismatchError, match="use-multilingual") as err:
        other.retrieve("Jupiter")
    assert "'other'" in str(err.value) and "kbqa reindex --kb default" in str(err.value)


def test_second_concurrent_ingest_refuses(kb, docs):
    from ingest.pipeline import ingest_lock

    with ingest_lock(kb.settings.kb_dir / "ingest.lock"):
        with pytest.raises(IngestLockedError, match="another ingest"):
            kb.ingest(docs)


def test_knowledge_bases_are_separate(make_kb, docs, tmp_path):
    store = tmp_path / "shared-store"
    a = make_kb(persist_dir=store, kb="alpha")
    b = make_kb(persist_dir=store, kb="beta")
    a.ingest(docs)
    assert not b.exists()
    assert a.list(a.settings) == ["alpha"]


@pytest.mark.slow
def test_cli_exit_codes_and_json_report(tmp_path, docs):
    env = {**os.environ, "KBQA_PERSIST_DIR": str(tmp_path / "cli-store")}
    ok = subprocess.run(
        [sys.executable, "-m", "ingest", str(docs), "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert ok.returncode == 0, ok.stderr
    report = json.loads(ok.stdout)
    assert (
        report["files_added"] == 3 and report["files_failed"] == 0 and report["chunks_written"] > 0
    )
    for key in ("files_updated", "files_unchanged", "files_removed", "seconds"):
        assert key in report
    (docs / "empty.txt").write_text("")
    bad = subprocess.run(
        [sys.executable, "-m", "ingest", str(docs), "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert bad.returncode == 1
    failed = [f for f in json.loads(bad.stdout)["files"] if f["status"] == "failed"]
    assert failed[0]["source"] == "empty.txt" and "empty" in failed[0]["reason"]
    usage = subprocess.run(
        [sys.executable, "-m", "ingest"], capture_output=True, text=True, env=env, timeout=600
    )
    assert usage.returncode == 2
    table = subprocess.run(
        [sys.executable, "-m", "rag.cli", "ingest", str(docs)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert table.returncode == 1 and "empty.txt" in table.stdout and "unchanged" in table.stdout


def test_reindex_rebuilds_with_new_settings_and_switches(make_kb, docs):
    from ingest.reindex import reindex

    make_kb().ingest(docs)
    changed = make_kb(chunk_size=60, chunk_overlap=10)
    report = reindex(changed)
    assert report.ok and report.files_added == 3
    meta = changed.client.get_collection("default").metadata
    assert meta["kbqa_splitter"] == "recursive-v3-60-10"
    assert [c.name for c in changed.client.list_collections()] == ["default"]
    fresh = make_kb(chunk_size=60, chunk_overlap=10)
    assert fresh.retrieve("largest planet")[0].source == "solar.md"
    assert_consistent(fresh)
    assert fresh.ingest(docs).files_unchanged == 3


def test_a_store_split_another_way_still_answers_but_refuses_ingest(make_kb, docs):
    make_kb().ingest(docs)
    upgraded = make_kb(chunk_size=60, chunk_overlap=10)  # as after a splitter-version bump
    assert upgraded.retrieve("largest planet")[0].source == "solar.md"
    with pytest.raises(SplitterMismatchError, match="kbqa reindex --kb default"):
        upgraded.ingest(docs)
    assert make_kb().ingest(docs).files_unchanged == 3


def test_reindex_keeps_old_kb_when_a_file_fails(make_kb, docs):
    from ingest.reindex import reindex
    from rag.errors import KbqaError

    make_kb().ingest(docs)
    before = chunk_ids(make_kb())
    (docs / "baking.txt").write_bytes(b"\x00" * 100)
    changed = make_kb(chunk_size=60, chunk_overlap=10)
    with pytest.raises(KbqaError, match="old knowledge base is unchanged"):
        reindex(changed)
    # Same chunks, still answering (which passage ranks first is the fake embedder's lottery).
    assert chunk_ids(make_kb()) == before
    assert "solar.md" in {p.source for p in make_kb().retrieve("Jupiter")}


def test_collection_deleted_behind_kbqas_back_is_rebuilt(make_kb, docs):
    kb = make_kb()
    kb.ingest(docs)
    kb.client.delete_collection(kb.name)
    again = make_kb()
    report = again.ingest(docs)
    assert report.files_added == 3 and again.store.count() > 0
    assert_consistent(again)
