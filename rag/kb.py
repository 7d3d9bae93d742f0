"""``KnowledgeBase``: the one facade the CLI, the app and notebooks use.

>>> from rag import KnowledgeBase
>>> kb = KnowledgeBase(persist_dir="/tmp/kbqa-doctest", kb="notes")   # doctest: +SKIP
>>> kb.ingest("data/")                                                # doctest: +SKIP
>>> print(kb.ask("What is kbqa?").answer)                             # doctest: +SKIP
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections.abc import Callable, Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.chain import AnswerChain, AnswerStream, History
from rag.chain import condense as condense_question
from rag.errors import ConfigError, EmptyKnowledgeBaseError, KbqaError
from rag.options import AskOptions
from rag.settings import Settings
from rag.types import Answer, IngestReport, Passage, splitter_id

if TYPE_CHECKING:
    import chromadb
    from langchain_core.embeddings import Embeddings
    from langchain_core.runnables import Runnable

    from ingest.split import TokenSplitter
    from rag.keyword import KeywordIndex
    from rag.llm import ChatBackend
    from rag.retrieval import HybridSearch, KbRetriever
    from rag.store import FileRecord, FileRegistry, KbStore


class _Lazy:
    """One model, loaded on first use behind its own lock (a slow load holds up no other)."""

    def __init__(self, load: Callable[[], Any]) -> None:
        self._load = load
        self._lock = threading.Lock()
        self.value: Any = None

    def get(self) -> Any:
        if self.value is None:
            with self._lock:
                if self.value is None:
                    self.value = self._load()
        return self.value


class Models:
    """The loaded models, once per process: share one between knowledge bases (the app does).

    Each model loads on first use behind its own lock, so asking for the embedder never waits
    for the generator's first load. ``load_embedder``, ``load_llm`` and ``load_reranker``
    replace the loaders (a test hands in fakes); by default they are ``rag.models``' and
    ``rag.llm``'s, for ``settings``.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        load_embedder: Callable[[], Embeddings] | None = None,
        load_llm: Callable[[], ChatBackend] | None = None,
        load_reranker: Callable[[], Any] | None = None,
    ) -> None:
        self.settings = settings
        self._embeddings = _Lazy(load_embedder or self._load_embedder)
        self._llm = _Lazy(load_llm or self._load_llm)
        self._reranker = _Lazy(load_reranker or self._load_reranker)

    # Looked up when called, so a loader replaced on its module is the one used.
    def _load_embedder(self) -> Embeddings:
        from rag import models

        return models.load_embedder(self.settings)

    def _load_llm(self) -> ChatBackend:
        from rag import llm

        return llm.load_chat_model(self.settings)

    def _load_reranker(self) -> Any:
        from rag import models

        return models.load_reranker(self.settings)

    @property
    def embeddings(self) -> Embeddings:
        return self._embeddings.get()

    @property
    def llm(self) -> ChatBackend:
        return self._llm.get()

    @property
    def reranker(self) -> Any:
        """The configured local cross-encoder, or None."""
        if not self.settings.reranker:
            return None
        return self._reranker.get()

    @property
    def llm_loaded(self) -> bool:
        return self._llm.value is not None

    @property
    def embedder_id(self) -> str:
        """The id recorded on the vectors these models make (``rag.models.embedder_id``)."""
        return _embedder_id(self.settings.embedder)


def _embedder_id(name: str) -> str:
    from rag.models import embedder_id

    return embedder_id(name)


def _sharing_generator(settings: Settings, models: Models) -> Models:
    """``Models`` for ``settings``' embedder that load no second generator or reranker: they
    use ``models``' (a knowledge base kept on its recorded embedder, in a process that shares
    one ``Models`` between knowledge bases)."""
    return Models(settings, load_llm=lambda: models.llm, load_reranker=lambda: models.reranker)


def _bilingual(embedder_id: str) -> bool:
    """Whether the embedder matches Chinese and English passages to each other."""
    from rag.registry import EMBEDDERS

    model = EMBEDDERS.get(embedder_id)
    return model is not None and model.bilingual


# The parts a KnowledgeBase opens lazily and caches; ``close`` forgets (and closes) them.
_log = logging.getLogger(__name__)
_OPENED = ("registry", "keyword", "_record_manager", "store", "search", "chain")


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
            # Only the values set on ``settings`` (and the overrides) count as set: a default left
            # unset stays a default, so the recorded embedder below can take its place.
            base = Settings(**{**settings.model_dump(exclude_unset=True), **overrides})
        # The embedder the settings name (``kbqa reindex`` moves the knowledge base to it).
        self.configured_embedder = base.embedder
        self.settings = base
        self.kept_embedder: str | None = None
        recorded = None if "embedder" in base.model_fields_set else self._recorded_embedder()
        if recorded is not None and recorded != _embedder_id(base.embedder):
            # Built with another packaged embedder than today's default, and no setting names
            # one: keep answering with the embedder its vectors were made by.
            self.kept_embedder = recorded
            base = self.settings = base.model_copy(update={"embedder": recorded})
            if models is not None and models.embedder_id != recorded:
                # Share the generator and reranker, not the embedder.
                models = _sharing_generator(base, models)
        if models is not None and models.embedder_id != _embedder_id(base.embedder):
            # The vectors would be made by the models' embedder but recorded under the settings'.
            raise ConfigError(
                f"the settings name embedder {base.embedder!r}, but the models given load"
                f" {models.settings.embedder!r}; pass models built from the same settings"
                " (Models(settings)) or leave models out"
            )
        self.models = models or Models(base)
        self._reopen_lock = threading.Lock()
        self._seen_version = -1  # the keyword index's data_version when ``store`` opened
        self._languages: tuple[tuple[int, int], frozenset[str]] | None = None
        # The last question translation (text, seconds); ``retrieve`` sets it.
        self.last_translation: tuple[str, float] | None = None

    def _recorded_embedder(self) -> str | None:
        """The packaged embedder this knowledge base's collection was built with, if it exists.

        Read only where kbqa has kept files for it (its ``kb_dir``), so opening a new knowledge
        base stays free of any store access.
        """
        from rag.registry import EMBEDDERS
        from rag.store import EMBEDDER_KEY

        if not self.settings.kb_dir.is_dir():
            return None
        try:
            if not self.exists():
                return None
        except KbqaError:  # an unreachable server: the first real use says so
            return None
        recorded = (self.client.get_collection(self.name).metadata or {}).get(EMBEDDER_KEY)
        return str(recorded) if recorded in EMBEDDERS else None

    @property
    def embedder_note(self) -> str | None:
        """Why this knowledge base answers with another embedder than the default, and how to
        move it (None when it uses the configured one)."""
        if self.kept_embedder is None:
            return None
        return (
            f"knowledge base {self.name!r} was built with embedder {self.kept_embedder!r} and keeps"
            f" using it; the default is now {_embedder_id(self.configured_embedder)!r}, which also"
            f" matches questions and documents across Chinese and English. Move it with: kbqa"
            f" reindex --kb {self.name} (or keep it with KBQA_EMBEDDER={self.kept_embedder})"
        )

    def adopt_embedder(self, models: Models) -> None:
        """Answer with ``models``' embedder from now on (``kbqa reindex`` rebuilt the store)."""
        self.close()
        self.__dict__.pop("_dim", None)
        self.settings = self.settings.model_copy(update={"embedder": models.settings.embedder})
        self.models, self.kept_embedder = models, None

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

    @property
    def embedder_id(self) -> str:
        """The id recorded with this knowledge base's vectors: its models' embedder (the
        constructor refuses models that load another embedder than the settings name)."""
        return self.models.embedder_id

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
        """Chunks measured in the tokens of the embedder that embeds them."""
        from ingest.split import TokenSplitter
        from rag.models import embedder_tokens

        tokenizer, max_tokens = embedder_tokens(self.embeddings, self.models.settings.embedder)
        return TokenSplitter(
            tokenizer, self.settings.chunk_size, self.settings.chunk_overlap, max_tokens=max_tokens
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
            splitter=splitter_id(self.settings.chunk_size, self.settings.chunk_overlap),
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
        """The store questions read from; it must exist and match the embedder."""
        from rag.store import KbStore, check_compatible, require_collection

        self._seen_version = self.keyword.data_version()
        meta = require_collection(self.client, self.name)
        check_compatible(
            meta,
            self.name,
            self.embedder_id,
            splitter_id(self.settings.chunk_size, self.settings.chunk_overlap),
            writing=False,
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
            cross_language=s.language_fusion and _bilingual(self.embedder_id),
            fusion=s.fusion,
            keyword_score_weight=s.keyword_score_weight,
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

        ingestor = Ingestor(
            self.settings,
            splitter=self.splitter(),
            open_store=self.writable_store,
            registry=self.registry,
            record_manager=self.record_manager(),
            embedder_id=self.embedder_id,
        )
        report = ingestor.run(
            Path(path), prune=prune, progress=progress, show_progress=show_progress, only=only
        )
        self._forget("store", "search")
        return report

    def remove_source(self, source: str, store: KbStore | None = None) -> int:
        """Delete one file's chunks from Chroma, the keyword index and the record manager."""
        from ingest.pipeline import remove_source

        return remove_source(
            source,
            store=store or self.writable_store(),
            record_manager=self.record_manager(),
            registry=self.registry,
        )

    def remove(self, source: str) -> int:
        """Remove a document by its source path (as listed by ``documents()``)."""
        from rag.locks import ingest_lock

        if self.registry.get(source) is None:
            from rag.errors import KbqaError

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
        found = self.search.search(query, top_k=top_k, sources=chosen, hybrid=hybrid)
        if not self.settings.translate_queries or (sources and not chosen):
            return found
        from rag.text import detect_language
        from rag.translate import merge_translated, other_language, translate_question

        lang = detect_language(query)
        target = other_language(lang)
        if target not in self.languages():
            return found  # a one-language knowledge base: no model call
        started = time.perf_counter()
        try:
            translated = translate_question(self.llm, query, target)
        except Exception as err:  # noqa: BLE001 - a missing generator must not stop a search
            # The translation only adds passages: without a generator (``--no-generate`` on a
            # machine lacking its weights) the question's own search still stands.
            _log.warning("question not translated (%s); searching with it alone", err)
            return found
        self.last_translation = (translated, round(time.perf_counter() - started, 3))
        if not translated:
            return found
        other = self.search.search(translated, top_k=top_k, sources=chosen, hybrid=hybrid)
        k = min(top_k or self.settings.top_k, self.settings.top_k)
        return merge_translated(found, other, lang, k=k, top_k=top_k or self.settings.top_k)

    def languages(self) -> frozenset[str]:
        """The languages ("en", "zh") of the chunks this knowledge base holds (chunk metadata
        ``lang``); two metadata look-ups, redone only when the keyword index changed."""
        # data_version tells another process's writes, the count this process's own ingest.
        version = (self.keyword.data_version(), self.keyword.count())
        if self._languages is None or self._languages[0] != version:
            held = frozenset(
                lang
                for lang in ("en", "zh")
                if self.store.collection.get(where={"lang": lang}, limit=1, include=[])["ids"]
            )
            self._languages = (version, held)
        return self._languages[1]

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
        from rag.locks import unless_writing
        from rag.store import reopen_chroma

        with self._reopen_lock, unless_writing(self.settings.kb_dir / "ingest.lock") as free:
            if free and self.keyword.data_version() != self._seen_version:
                self.__dict__["client"] = reopen_chroma(self.settings)
                self._forget("store", "search")

    def evidence(self, question: str, passages: Sequence[Passage]) -> float:
        """How well ``passages`` cover ``question`` (0..1); the chain abstains below the threshold."""
        return self.search.evidence(question, passages)

    def condense(self, history: History, question: str, lang: str) -> str:
        """A follow-up rewritten as a standalone question (``rag.chain.condense``)."""
        return condense_question(self.llm, history, question, lang)

    @cached_property
    def chain(self) -> AnswerChain:
        """The answering chain: this knowledge base's passages and the shared chat model."""
        s = self.settings
        return AnswerChain(
            self,  # its ``retrieve`` and ``evidence`` (rag.chain.PassageSearch)
            lambda: self.models.llm,
            abstain_below=s.abstain_below,
            citation_threshold=s.citation_threshold,
            answer_language=s.answer_language,
        )

    def stream(
        self,
        question: str,
        history: History | None = None,
        options: AskOptions | None = None,
        **overrides: Any,
    ) -> AnswerStream:
        """Answer text as it is generated; the checked ``Answer`` is ``.answer`` afterwards.

        ``options`` and ``overrides`` are ``AskOptions`` fields (``top_k``, ``temperature``…);
        an unknown name raises ``UnknownOptionError`` naming the valid ones.
        """
        return self.chain.stream(question, history, AskOptions.from_kwargs(options, **overrides))

    def ask(
        self,
        question: str,
        history: History | None = None,
        options: AskOptions | None = None,
        **overrides: Any,
    ) -> Answer:
        """Answer a question from the documents, with checked citations (options as ``stream``)."""
        stream = self.stream(question, history, options, **overrides)
        for _ in stream:
            pass
        assert stream.answer is not None
        return stream.answer

    def as_runnable(self, options: AskOptions | None = None, **overrides: Any) -> Runnable:
        """The chain as a LangChain runnable: a str, or ``{"question", "history"?, option…}``
        → ``Answer``. Options given here apply to every call; an input's own override them."""
        from langchain_core.runnables import RunnableLambda

        defaults = AskOptions.from_kwargs(options, **overrides)

        def run(inputs: Any) -> Answer:
            if isinstance(inputs, str):
                return self.ask(inputs, options=defaults)
            extra = {k: v for k, v in inputs.items() if k not in ("question", "history")}
            return self.ask(inputs["question"], inputs.get("history"), defaults, **extra)

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
            **({"note": self.embedder_note} if self.embedder_note else {}),
        }

    def close(self) -> None:
        """Release this object's open files (SQLite handles) and forget its opened parts; the
        next use opens them again. ``kbqa reindex`` calls it before moving a folder."""
        self._forget(*_OPENED)

    def _forget(self, *names: str) -> None:
        for name in names:
            obj = self.__dict__.pop(name, None)
            if hasattr(obj, "close"):
                obj.close()

    def drop(self) -> None:
        """Delete this knowledge base: its collection and its kbqa files."""
        if self.exists():
            self.client.delete_collection(self.name)
        self.close()
        shutil.rmtree(self.settings.kb_dir, ignore_errors=True)
