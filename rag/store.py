"""The vector store: Chroma (embedded or server) plus the keyword index, kept in step.

``KbStore`` is the LangChain ``VectorStore`` that ingest hands to ``langchain_core.indexing.index``:
every add and delete goes to Chroma and to the keyword index, so the two never disagree about
which chunks exist. A collection records the embedder and splitter it was built with; opening it
with another embedder is an ``EmbedderMismatchError``, and ingesting into it with another splitter
a ``SplitterMismatchError``; both name the two and the rebuild command.

What is embedded is ``embedded_text``: the chunk's ``context`` line (title, heading path, page;
``ingest.split``) above its text; what is keyword-indexed is ``keyword_text``: its ``section``
(heading path) above its text. What Chroma keeps as the document, and what a passage shows and
cites, is the text alone.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.vectorstores import VectorStore

from rag.errors import (
    ConfigError,
    EmbedderMismatchError,
    KbqaError,
    KnowledgeBaseNotFoundError,
    SplitterMismatchError,
)
from rag.keyword import KeywordIndex
from rag.locks import unless_writing  # noqa: F401 - re-exported for older imports
from rag.types import FileRecord

if TYPE_CHECKING:
    import chromadb

    from rag.settings import Settings

EMBEDDER_KEY = "kbqa_embedder"
DIM_KEY = "kbqa_dim"
SPLITTER_KEY = "kbqa_splitter"


def embedded_text(text: str, metadata: dict[str, Any] | None) -> str:
    """What is embedded for a chunk: its ``context`` line (title › headings › page), then its text.

    >>> embedded_text("Run pg_dump.", {"context": "PostgreSQL › Backup › p. 3"})
    'PostgreSQL › Backup › p. 3\\nRun pg_dump.'
    >>> embedded_text("Run pg_dump.", {})
    'Run pg_dump.'
    """
    context = str((metadata or {}).get("context") or "")
    return f"{context}\n{text}" if context else text


def keyword_text(text: str, metadata: dict[str, Any] | None) -> str:
    """What is keyword-indexed for a chunk: its ``section`` (heading path), then its text.

    Not the title and page of ``context``: a title on every chunk of a file matches them all
    alike, which pushed the chunk that names the title in its own text (the authors line of page
    1) out of BM25's top 4 on the realistic set (the document card holds the title instead), and a
    page number matched numbers in questions ("Debian 12" and every chunk of page 12).

    >>> keyword_text("Run pg_dump.", {"section": "Backup > Dumps", "context": "Manual › p. 3"})
    'Backup > Dumps\\nRun pg_dump.'
    """
    section = str((metadata or {}).get("section") or "")
    return f"{section}\n{text}" if section else text


def chroma_client(settings: Settings) -> chromadb.ClientAPI:
    """Embedded ``PersistentClient`` in ``persist_dir``, or an ``HttpClient`` for ``chroma_url``."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
    if settings.chroma_url:
        url = urlparse(settings.chroma_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ConfigError(f"KBQA_CHROMA_URL {settings.chroma_url!r} is not an http(s) URL")
        try:
            return chromadb.HttpClient(
                host=url.hostname,
                port=url.port or (443 if url.scheme == "https" else 8000),
                ssl=url.scheme == "https",
                settings=chroma_settings,
            )
        except Exception as exc:  # noqa: BLE001
            raise ConfigError(
                f"cannot reach the Chroma server at {settings.chroma_url}: {exc}"
            ) from exc
    settings.persist_dir.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(settings.persist_dir), settings=chroma_settings)


def reopen_chroma(settings: Settings) -> chromadb.ClientAPI:
    """A new embedded client that reads the store as it is on disk now.

    Chroma keeps one embedded client per folder in a process and loads a collection's vector
    index once, so it never sees what another process (``kbqa ingest`` while the app runs)
    added or deleted. Dropping the cached client makes the next one load afresh; the clients
    already handed out keep working on what they loaded.
    """
    embedded_clients().pop(str(settings.persist_dir), None)
    return chroma_client(settings)


# kbqa reads three private attributes of its dependencies; each is read in one function here,
# which names the installed version when it moved (tests/test_dependency_internals.py checks
# them on the installed versions, so an upgrade that moves one fails loudly).


def _version(package: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"


def embedded_clients() -> dict[str, Any]:
    """chromadb's cache of embedded clients by folder (``SharedSystemClient._identifier_to_system``)."""
    try:
        from chromadb.api.shared_system_client import SharedSystemClient

        cache = SharedSystemClient._identifier_to_system
    except (ImportError, AttributeError) as exc:
        raise KbqaError(
            "chromadb's embedded-client cache (SharedSystemClient._identifier_to_system) is gone"
            f" in chromadb {_version('chromadb')}; kbqa cannot reopen the store to see another"
            " process's writes"
        ) from exc
    if not isinstance(cache, dict):
        raise KbqaError(
            f"chromadb {_version('chromadb')}: SharedSystemClient._identifier_to_system is a"
            f" {type(cache).__name__}, not the dict kbqa expects"
        )
    return cache


def chroma_collection(chroma: Any) -> Any:
    """The chromadb collection behind a ``langchain_chroma.Chroma`` (its private ``_collection``)."""
    try:
        return chroma._collection
    except AttributeError as exc:
        raise KbqaError(
            f"langchain_chroma.Chroma has no `_collection` in langchain-chroma"
            f" {_version('langchain-chroma')}; kbqa reads its collection through it"
        ) from exc


def list_collections(client: chromadb.ClientAPI) -> list[str]:
    return sorted(c.name if hasattr(c, "name") else str(c) for c in client.list_collections())


class FileRegistry:
    """Which files a knowledge base holds, with their content hash: lets ingest skip unchanged
    files without reading them, and gives the app and ``kbqa status`` their document table."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(str(path), check_same_thread=False, timeout=30)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS files (source TEXT PRIMARY KEY, file_sha256 TEXT NOT NULL,"
            " size INTEGER, chunks INTEGER, pages INTEGER, title TEXT, lang TEXT,"
            " ingested_at REAL, root TEXT)"
        )

    def get(self, source: str) -> FileRecord | None:
        with self._lock:
            row = self._conn.execute("SELECT * FROM files WHERE source = ?", (source,)).fetchone()
        return FileRecord(*row) if row else None

    def all(self) -> list[FileRecord]:
        with self._lock:
            rows = self._conn.execute("SELECT * FROM files ORDER BY source").fetchall()
        return [FileRecord(*row) for row in rows]

    def put(self, record: FileRecord) -> None:
        with self._lock, self._conn:
            self._conn.execute(
                "INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    record.source,
                    record.file_sha256,
                    record.size,
                    record.chunks,
                    record.pages,
                    record.title,
                    record.lang,
                    record.ingested_at or time.time(),
                    record.root,
                ),
            )

    def delete(self, source: str) -> None:
        with self._lock, self._conn:
            self._conn.execute("DELETE FROM files WHERE source = ?", (source,))

    def close(self) -> None:
        self._conn.close()


class KbStore(VectorStore):
    """Chroma collection + keyword index behind the ``VectorStore`` interface."""

    def __init__(
        self,
        client: chromadb.ClientAPI,
        name: str,
        embeddings: Embeddings | None,
        keyword: KeywordIndex,
    ) -> None:
        from langchain_chroma import Chroma

        self.name = name
        self.client = client
        self.keyword = keyword
        self._embeddings = embeddings
        self.chroma = Chroma(
            client=client,
            collection_name=name,
            embedding_function=embeddings,
            create_collection_if_not_exists=False,
        )

    @property
    def embeddings(self) -> Embeddings | None:
        return self._embeddings

    @property
    def collection(self) -> Any:
        return chroma_collection(self.chroma)

    @classmethod
    def from_texts(cls, *args: Any, **kwargs: Any) -> KbStore:  # pragma: no cover - unused API
        raise NotImplementedError("open a KbStore with open_store()")

    def add_documents(self, documents: list[Document], **kwargs: Any) -> list[str]:
        """Add documents, or replace those whose id is already stored, in Chroma and keywords.

        A document's id is ``ids[i]``, else its own ``id``, else a new UUID (as in every
        LangChain store; ingest always passes ids).
        """
        import uuid

        given = kwargs.get("ids") or [None] * len(documents)
        if len(given) != len(documents):
            raise ValueError(f"{len(given)} ids for {len(documents)} documents")
        ids = [str(i or d.id or uuid.uuid4()) for i, d in zip(given, documents, strict=True)]
        if self._embeddings is None:
            written = self.chroma.add_documents(documents, ids=ids)
        else:
            embedded = [embedded_text(d.page_content, d.metadata) for d in documents]
            written = self._upsert(documents, ids, self._embeddings.embed_documents(embedded))
        self.keyword.add(
            ids,
            [keyword_text(d.page_content, d.metadata) for d in documents],
            [str(d.metadata.get("source", "")) for d in documents],
        )
        return written

    def _upsert(
        self, documents: list[Document], ids: list[str], vectors: list[list[float]]
    ) -> list[str]:
        """Write vectors of ``embedded_text`` with the original texts as Chroma's documents.

        As ``langchain_chroma.Chroma.add_texts`` does, documents without metadata go in their
        own call (Chroma refuses an empty metadata dict).
        """
        with_meta = [i for i, d in enumerate(documents) if d.metadata]
        without = [i for i, d in enumerate(documents) if not d.metadata]
        for group in (with_meta, without):
            if not group:
                continue
            self.collection.upsert(
                ids=[ids[i] for i in group],
                embeddings=[vectors[i] for i in group],
                documents=[documents[i].page_content for i in group],
                metadatas=[documents[i].metadata for i in group] if group is with_meta else None,
            )
        return ids

    def add_texts(
        self, texts: Iterable[str], metadatas: list[dict] | None = None, **kwargs: Any
    ) -> list[str]:
        texts = list(texts)
        metadatas = metadatas or [{} for _ in texts]
        docs = [Document(page_content=t, metadata=m) for t, m in zip(texts, metadatas, strict=True)]
        return self.add_documents(docs, **kwargs)

    def delete(self, ids: list[str] | None = None, **kwargs: Any) -> bool | None:
        if not ids:
            return True
        for start in range(0, len(ids), 5000):
            self.chroma.delete(ids=list(ids[start : start + 5000]))
        self.keyword.delete(ids)
        return True

    def get_by_ids(self, ids: Sequence[str], /) -> list[Document]:
        return self.chroma.get_by_ids(ids)

    def similarity_search(self, query: str, k: int = 4, **kwargs: Any) -> list[Document]:
        return self.chroma.similarity_search(query, k=k, **kwargs)

    def count(self) -> int:
        return int(self.collection.count())

    def is_empty(self) -> bool:
        """Whether no chunk is stored, asked of the keyword index (written in step with Chroma).

        Not Chroma's ``get(limit=1)``: that scans its table too (6 ms at 100k chunks, 60 ms at
        1M, every question; bench/scale.py), like ``count()``.
        """
        return self.keyword.is_empty()


def check_compatible(
    metadata: dict[str, Any] | None,
    name: str,
    embedder: str,
    splitter: str,
    *,
    writing: bool = True,
) -> None:
    """Raise when a collection was built with another embedder, or split another way.

    Another embedder makes every stored vector meaningless to the question's, so reading stops
    too. Another splitter (a new chunk size, or a new kbqa version that loads files better)
    leaves the stored chunks answerable: questions go on, and only ingest refuses, so one
    collection never mixes chunks of two kinds.
    """
    metadata = metadata or {}
    old_embedder, old_splitter = metadata.get(EMBEDDER_KEY), metadata.get(SPLITTER_KEY)
    if old_embedder and old_embedder != embedder:
        raise EmbedderMismatchError(
            f"knowledge base {name!r} was built with embedder {old_embedder!r}, but the settings"
            f" name {embedder!r}; rebuild it with: kbqa reindex --kb {name}"
        )
    if writing and old_splitter and old_splitter != splitter:
        raise SplitterMismatchError(
            f"knowledge base {name!r} was split with {old_splitter!r}, but this kbqa and its"
            f" settings split with {splitter!r}; rebuild it with: kbqa reindex --kb {name}"
        )


def ensure_collection(
    client: chromadb.ClientAPI, name: str, *, embedder: str, dim: int, splitter: str
) -> None:
    """Create the collection if missing (recording embedder and splitter); check it otherwise."""
    if name in list_collections(client):
        check_compatible(client.get_collection(name).metadata, name, embedder, splitter)
        return
    client.create_collection(
        name,
        metadata={EMBEDDER_KEY: embedder, DIM_KEY: dim, SPLITTER_KEY: splitter},
        configuration={"hnsw": {"space": "cosine"}},
    )


def require_collection(client: chromadb.ClientAPI, name: str) -> dict[str, Any]:
    if name not in list_collections(client):
        known = ", ".join(list_collections(client)) or "none yet"
        raise KnowledgeBaseNotFoundError(
            f"knowledge base {name!r} does not exist (existing: {known}); create it with:"
            f" kbqa ingest DIR --kb {name}"
        )
    return dict(client.get_collection(name).metadata or {})
