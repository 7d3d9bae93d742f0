"""Fixtures for LangChain's standard test suites (``langchain-tests``) run on kbqa's parts.

The suites are classes whose ``async def`` tests need pytest-asyncio; they are marked here as
they are collected, so nothing outside this folder runs in an event loop.
"""

from __future__ import annotations

import inspect
import uuid
from pathlib import Path

import pytest
from langchain_core.embeddings import Embeddings

from rag.keyword import KeywordIndex
from rag.store import KbStore, ensure_collection


@pytest.hookimpl(tryfirst=True)
def pytest_pycollect_makeitem(collector: pytest.Collector, name: str, obj: object) -> None:
    if collector.funcnamefilter(name) and inspect.iscoroutinefunction(obj):
        pytest.mark.asyncio(obj)


def memory_store(folder: Path, embeddings: Embeddings) -> KbStore:
    """An empty ``KbStore``: a fresh collection in an in-memory Chroma, keyword index in ``folder``."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    # In-memory clients of one process share their collections: each store gets its own name.
    client = chromadb.EphemeralClient(settings=ChromaSettings(anonymized_telemetry=False))
    name = f"conformance-{uuid.uuid4().hex[:12]}"
    dim = len(embeddings.embed_query("dimension"))
    ensure_collection(client, name, embedder="fake", dim=dim, splitter="none")
    return KbStore(client, name, embeddings, KeywordIndex(folder / "keyword.sqlite"))
