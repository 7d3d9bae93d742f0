"""In-memory stand-ins for the models, handed to ``Models`` through its constructor.

``FakeEmbedder`` is LangChain's ``DeterministicFakeEmbedding`` with the ``_client.tokenizer``
kbqa splits by: a real ``tokenizers.Tokenizer`` that counts words (and each Chinese character),
built in memory, so it pickles to the file reader's child process like the real one. No weights.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from langchain_core.embeddings import DeterministicFakeEmbedding, Embeddings
from langchain_core.language_models import GenericFakeChatModel
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers

from rag.kb import Models
from rag.settings import Settings


def word_tokenizer() -> Tokenizer:
    """A tokenizer with no vocabulary: every word, punctuation run or CJK character is a token."""
    tokenizer = Tokenizer(models.WordLevel({"[UNK]": 0}, unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(handle_chinese_chars=True, lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    return tokenizer


class FakeEmbedder(Embeddings):
    """Deterministic vectors from each text's hash; remembers every document text it embedded."""

    def __init__(self, size: int = 32) -> None:
        self._inner = DeterministicFakeEmbedding(size=size)
        self._client = SimpleNamespace(tokenizer=word_tokenizer(), max_seq_length=None)
        self.embedded: list[str] = []

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        self.embedded.extend(texts)
        return self._inner.embed_documents(texts)

    def embed_query(self, text: str) -> list[float]:
        return self._inner.embed_query(text)


def fake_models(settings: Settings, *replies: str, embedder: FakeEmbedder | None = None) -> Models:
    """``Models`` for ``settings`` whose embedder is ``embedder`` (a new ``FakeEmbedder`` by
    default) and whose chat model says ``replies`` in turn."""
    chosen = embedder or FakeEmbedder()
    chat: Any = GenericFakeChatModel(messages=iter(replies))
    return Models(settings, load_embedder=lambda: chosen, load_llm=lambda: chat)
