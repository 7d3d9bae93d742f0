"""Helpers shared by the suites: store consistency, and stopping a server the test started."""

from __future__ import annotations

import subprocess


def chunk_ids(kb) -> set[str]:
    return set(kb.writable_store().collection.get(include=[])["ids"])


def assert_consistent(kb) -> None:
    """Chroma, the keyword index and the record manager hold exactly the same chunk ids."""
    ids = chunk_ids(kb)
    assert kb.keyword.ids() == ids
    manager = kb.record_manager()
    assert set(manager.list_keys()) == ids


def stop(process: subprocess.Popen, grace: float = 20.0) -> None:
    """Terminate a server the test started; kill it when it ignores that for ``grace`` s."""
    process.terminate()
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=60)
