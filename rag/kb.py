"""``KnowledgeBase``: the one facade the CLI, the app and notebooks use.

>>> from rag import KnowledgeBase
>>> kb = KnowledgeBase(persist_dir="/tmp/kbqa-doctest", kb="notes")   # doctest: +SKIP
>>> kb.ingest("data/")                                                # doctest: +SKIP
>>> print(kb.ask("What is kbqa?").answer)                             # doctest: +SKIP
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.chain import AnswerStream, History, trim_history
from rag.errors import EmptyKnowledgeBaseError, KbqaError
from rag.settings import Settings
from rag.types import Answer, IngestReport, Passage

if TYPE_CHECKING:
    import chromadb
    from langchain_core.embeddings import Embeddings
    from langchain_core.runnables import Runnable

    from ingest.split import TokenSplitter
    from rag.keyword import KeywordIndex
    from rag.llm import ChatBackend
    from rag.retrieval import HybridSearch, KbRetriever
    from rag.store import FileRecord, FileRegistry, KbStore


class Models:
    """The loaded models, once per process: share one between knowledge bases (the app does)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._embeddings: Embeddings | None = None
        self._llm: ChatBackend | None = None
        self._reranker: Any = None

    @property
    def embeddings(self) -> Embeddings:
        with self._lock:
            if self._embeddings is None:
                from rag.models import load_embedder

                self._embeddings = load_embedder(self.settings)
            return self._embeddings

    @property
    def llm(self) -> ChatBackend:
        with self._lock:
            if self._llm is None:
                from rag.llm import load_chat_model

                self._llm = load_chat_model(self.settings)
            return self._llm

    @property
    def reranker(self) -> Any:
        """The configured local cross-encoder, or None."""
        if not self.settings.reranker:
            return None
        with self._lock:
            if self._reranker is None:
                from rag.models import load_reranker

                self._reranker = load_reranker(self.settings)
            return self._reranker

    @property
    def llm_loaded(self) -> bool:
        return self._llm is not None


class KnowledgeBase:
    """Open (or create) a knowledge base, ingest documents, ask questions.

    Settings come from ``settings`` or are built from ``overrides`` (plus env and kbqa.toml).
    Nothing heavy happens here: models and stores load on first use.
    """

    def __init__(
        self, settings: Settings | None = None, *, models: Models | None = None, **overrides: Any
    ) -> None:
        base = settings or Settings(**overrides)
        if settings is not None and overrides:
            base = Settings(**{**settings.model_dump(), **overrides})
        self.settings = base
        self.models = models or Models(base)
        self._reopen_lock = threading.Lock()
        self._seen_version = -1  # the keyword index's data_version when ``store`` opened

    # -- components --------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.settings.kb

    @property
    def embeddings(self) -> Embeddings:
        return self.models.embeddings

    @property
    def llm(self) -> ChatBackend:
        return self.models.llm

    @cached_property
    def embedder_id(self) -> str:
        from rag.models import embedder_id

        return embedder_id(self.settings.embedder)

    @cached_property
    def client(self) -> chromadb.ClientAPI:
        from rag.store import chroma_client

        return chroma_client(self.settings)

    @cached_property
    def registry(self) -> FileRegistry:
        from rag.store import FileRegistry

        return FileRegistry(self.settings.kb_dir / "files.sqlite")

    @cached_property
    def keyword(self) -> KeywordIndex:
        from rag.keyword import KeywordIndex

        return KeywordIndex(self.settings.kb_dir / "keyword.sqlite")

    @cached_property
    def _record_manager(self) -> Any:
        from langchain_classic.indexes import SQLRecordManager

        self.settings.kb_dir.mkdir(parents=True, exist_ok=True)
        manager = SQLRecordManager(
            "kbqa", db_url=f"sqlite:///{self.settings.kb_dir / 'records.sqlite'}"
        )
        manager.create_schema()
        return manager

    def record_manager(self) -> Any:
        return self._record_manager

    def splitter(self) -> TokenSplitter:
        from ingest.split import TokenSplitter

        client = getattr(self.embeddings, "_client", None)
        tokenizer = getattr(client, "tokenizer", None)
        if tokenizer is None:
            raise KbqaError(f"embedder {self.settings.embedder!r} exposes no tokenizer to split by")
        return TokenSplitter(
            tokenizer,
            self.settings.chunk_size,
            self.settings.chunk_overlap,
            max_tokens=getattr(client, "max_seq_length", None),
        )

    @cached_property
    def _dim(self) -> int:
        return len(self.embeddings.embed_query("dimension probe"))

    def writable_store(self) -> KbStore:
        """The store ingest writes to, created if missing; embeddings go through the cache."""
        from langchain_classic.embeddings import CacheBackedEmbeddings

        from rag.embedding_cache import SqliteByteStore
        from rag.store import KbStore, ensure_collection

        ensure_collection(
            self.client,
            self.name,
            embedder=self.embedder_id,
            dim=self._dim,
            splitter=self.splitter().id,
        )
        self._sync_with_collection()
        cache = SqliteByteStore(self.settings.persist_dir / "kbqa" / "embedding-cache.sqlite")
        cached = CacheBackedEmbeddings.from_bytes_store(
            self.embeddings,
            cache,
            namespace=self.embedder_id,
            key_encoder="sha256",
            batch_size=None,  # one embed call per ingest flush: fewer padded tokens (see pipeline)
        )
        return KbStore(self.client, self.name, cached, self.keyword)

    def _sync_with_collection(self) -> None:
        """Forget local bookkeeping that belongs to another incarnation of the collection.

        The registry, record manager and keyword index live beside the store; when the
        collection was deleted and recreated (a reset server, a deleted folder), they would
        claim chunks that no longer exist and ingest would skip every file as unchanged.
        """
        marker = self.settings.kb_dir / "collection-id"
        current = str(self.client.get_collection(self.name).id)
        known = marker.read_text().strip() if marker.exists() else None
        if known != current and (known is not None or self.registry.all()):
            manager = self.record_manager()
            keys = manager.list_keys()
            if keys:
                manager.delete_keys(keys)
            self.keyword.delete(self.keyword.ids())
            for record in self.registry.all():
                self.registry.delete(record.source)
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(current)

    @cached_property
    def store(self) -> KbStore:
        """The store questions read from; it must exist and match the embedder and splitter."""
        from ingest.split import splitter_id
        from rag.store import KbStore, check_compatible, require_collection

        self._seen_version = self.keyword.data_version()
        meta = require_collection(self.client, self.name)
        check_compatible(
            meta,
            self.name,
            self.embedder_id,
            splitter_id(self.settings.chunk_size, self.settings.chunk_overlap),
        )
        return KbStore(self.client, self.name, self.embeddings, self.keyword)

    @cached_property
    def search(self) -> HybridSearch:
        from rag.retrieval import HybridSearch

        s = self.settings
        return HybridSearch(
            self.store,
            self.embeddings,
            top_k=s.top_k,
            fetch_k=s.fetch_k,
            hybrid=s.hybrid,
            rrf_k=s.rrf_k,
            keyword_weight=s.keyword_weight,
            mmr=s.mmr,
            reranker=self._reranker_for(s),
        )

    def _reranker_for(self, s: Settings) -> Any:
        if not s.reranker:
            return None
        if s.reranker == self.models.settings.reranker:
            return self.models.reranker
        from rag.models import load_reranker

        return load_reranker(s)

    # -- ingest ------------------------------------------------------------------------------
    def ingest(
        self,
        path: str | Path,
        *,
        prune: bool = True,
        progress: Any = None,
        show_progress: bool | None = False,
        only: set[str] | None = None,
    ) -> IngestReport:
        """Ingest a folder (pruning files that disappeared from it) or a single file."""
        from ingest.pipeline import Ingestor

        report = Ingestor(self).run(
            Path(path), prune=prune, progress=progress, show_progress=show_progress, only=only
        )
        self.__dict__.pop("store", None)
        self.__dict__.pop("search", None)
        return report

    def remove_source(self, source: str, store: KbStore | None = None) -> int:
        """Delete one file's chunks from Chroma, the keyword index and the record manager."""
        manager = self.record_manager()
        keys = manager.list_keys(group_ids=[source])
        target = store or self.writable_store()
        if keys:
            target.delete(keys)
            manager.delete_keys(keys)
        self.registry.delete(source)
        return len(keys)

    def remove(self, source: str) -> int:
        """Remove a document by its source path (as listed by ``documents()``)."""
        from ingest.pipeline import ingest_lock

        if self.registry.get(source) is None:
            known = ", ".join(r.source for r in self.registry.all()[:10]) or "none"
            raise KbqaError(
                f"{source!r} is not in knowledge base {self.name!r} (documents: {known})"
            )
        with ingest_lock(self.settings.kb_dir / "ingest.lock", wait_seconds=10.0):
            return self.remove_source(source)

    def documents(self) -> list[FileRecord]:
        return self.registry.all()

    # -- ask ---------------------------------------------------------------------------------
    def retrieve(
        self,
        query: str,
        *,
        top_k: int | None = None,
        sources: Sequence[str] | None = None,
        hybrid: bool | None = None,
    ) -> list[Passage]:
        """The passages the chain would read for ``query`` (``sources``: file names or globs)."""
        self._reopen_if_changed()
        if self.store.is_empty():
            raise EmptyKnowledgeBaseError(
                f"knowledge base {self.name!r} holds no documents yet; add some with:"
                f" kbqa ingest DIR --kb {self.name}"
            )
        chosen = None
        if sources:
            chosen = self.search.sources_matching(
                list(sources), [r.source for r in self.registry.all()]
            )
        return self.search.search(query, top_k=top_k, sources=chosen, hybrid=hybrid)

    def _reopen_if_changed(self) -> None:
        """Reopen the store when another process wrote to it (see ``rag.store.reopen_chroma``).

        The keyword index is written in step with Chroma, so its SQLite ``data_version`` tells.
        Until an ingest running elsewhere finishes, questions read the store as it was loaded
        (the reopen waits for the ingest lock), so index files are never read half-written.
        """
        if self.settings.chroma_url or "store" not in self.__dict__:
            return
        if self.keyword.data_version() == self._seen_version:
            return
        from rag.store import reopen_chroma, unless_writing

        with self._reopen_lock, unless_writing(self.settings.kb_dir / "ingest.lock") as free:
            if free and self.keyword.data_version() != self._seen_version:
                self.__dict__["client"] = reopen_chroma(self.settings)
                self.__dict__.pop("store", None)
                self.__dict__.pop("search", None)

    def evidence(self, question: str, passages: Sequence[Passage]) -> float:
        """How well ``passages`` cover ``question`` (0..1); the chain abstains below the threshold."""
        return self.search.evidence(question, passages)

    def condense(self, history: History, question: str, lang: str) -> str:
        from rag import prompts

        llm = self.llm
        trimmed = trim_history(history, llm.context_window // 2, llm.count_tokens)
        if not trimmed:
            return question
        text = llm.invoke(
            prompts.condense_messages(trimmed, question, lang), max_new_tokens=48, temperature=0.0
        ).content
        line = str(text).strip().splitlines()[0] if str(text).strip() else ""
        return line or question

    def stream(
        self, question: str, history: History | None = None, **overrides: Any
    ) -> AnswerStream:
        """Answer text as it is generated; the checked ``Answer`` is ``.answer`` afterwards."""
        return AnswerStream(self, question, history, **overrides)

    def ask(self, question: str, history: History | None = None, **overrides: Any) -> Answer:
        """Answer a question from the documents, with checked citations."""
        stream = self.stream(question, history, **overrides)
        for _ in stream:
            pass
        assert stream.answer is not None
        return stream.answer

    def as_runnable(self) -> Runnable:
        """The chain as a LangChain runnable: ``{"question", "history"?}`` or a str → ``Answer``."""
        from langchain_core.runnables import RunnableLambda

        def run(inputs: Any) -> Answer:
            if isinstance(inputs, str):
                return self.ask(inputs)
            return self.ask(inputs["question"], inputs.get("history"))

        return RunnableLambda(run, name="kbqa")

    def retriever(self, top_k: int | None = None) -> KbRetriever:
        from rag.retrieval import KbRetriever

        return KbRetriever(search=self.search, top_k=top_k or self.settings.top_k)

    # -- housekeeping ------------------------------------------------------------------------
    @staticmethod
    def list(settings: Settings | None = None) -> list[str]:
        from rag.store import chroma_client, list_collections

        return list_collections(chroma_client(settings or Settings()))

    def exists(self) -> bool:
        from rag.store import list_collections

        return self.name in list_collections(self.client)

    def status(self) -> dict[str, Any]:
        docs = self.documents()
        count = self.store.count() if self.exists() else 0
        return {
            "kb": self.name,
            "persist_dir": str(self.settings.persist_dir),
            "chroma": self.settings.chroma_url or "embedded",
            "documents": len(docs),
            "chunks": count,
            "keyword_chunks": self.keyword.count(),
            "embedder": self.embedder_id,
            "generator": self.settings.llm_model,
        }

    def drop(self) -> None:
        """Delete this knowledge base: its collection and its kbqa files."""
        if self.exists():
            self.client.delete_collection(self.name)
        for name in ("registry", "keyword", "_record_manager", "store", "search"):
            obj = self.__dict__.pop(name, None)
            if hasattr(obj, "close"):
                obj.close()
        shutil.rmtree(self.settings.kb_dir, ignore_errors=True)
