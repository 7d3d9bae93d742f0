"""Assertions shared by the ingest suites (embedded store and Chroma server)."""

from __future__ import annotations


def chunk_ids(kb) -> set[str]:
    return set(kb.writable_store().collection.get(include=[])["ids"])


def assert_consistent(kb) -> None:
    """Chroma, the keyword index and the record manager hold exactly the same chunk ids."""
    ids = chunk_ids(kb)
    assert kb.keyword.ids() == ids
    manager = kb.record_manager()
    assert set(manager.list_keys()) == ids
