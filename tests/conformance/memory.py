"""An empty ``KbStore`` held in memory, for tests that need a real store without files."""

from __future__ import annotations

import uuid
from pathlib import Path

from langchain_core.embeddings import Embeddings

from rag.keyword import KeywordIndex
from rag.store import KbStore, ensure_collection


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


class TableEmbeddings(Embeddings):
    """Fixed vectors: every text is listed with the direction it points in."""

    def __init__(self, vectors: dict[str, list[float]]) -> None:
        self.vectors = vectors

    def embed_query(self, text: str) -> list[float]:
        return self.vectors.get(text, [0.0, 0.0, 1.0])  # the store's dimension probe

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self.vectors[t] for t in texts]
