"""LangChain's standard embeddings tests on every embedder kbqa ships.

- ``all-minilm-l6-v2`` (the default): a ``HuggingFaceEmbeddings``, loaded as kbqa loads it
  (``rag.models.load_embedder``: the packaged folder, normalised vectors, CPU).
- ``use-multilingual`` and ``multilingual-e5-small``: ``rag.embedders``' own classes.

All of them load packaged weights, so the whole module is in the slow tier.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import pytest
from langchain_core.embeddings import Embeddings
from langchain_tests.integration_tests import EmbeddingsIntegrationTests
from langchain_tests.unit_tests import EmbeddingsUnitTests

from rag.embedders import E5SmallEmbeddings, UniversalSentenceEncoderEmbeddings
from rag.settings import Settings

pytestmark = [pytest.mark.slow, pytest.mark.integration]


def kbqa_embedder(**settings: Any) -> Embeddings:
    """The embedder ``Settings(**settings)`` name, loaded by kbqa (the suites' "class")."""
    from rag.models import load_embedder

    return load_embedder(Settings(**settings))


@cache
def loaded(alias: str) -> Embeddings:
    """One load per embedder for the whole session: the integration tests only read it."""
    return kbqa_embedder(embedder=alias, torch_threads=1)


class _Loaded(EmbeddingsIntegrationTests):
    alias: str

    @pytest.fixture
    def model(self) -> Embeddings:
        return loaded(self.alias)


class TestMiniLMUnit(EmbeddingsUnitTests):
    @property
    def embeddings_class(self) -> Any:
        return kbqa_embedder

    @property
    def embedding_model_params(self) -> dict:
        return {"embedder": "all-minilm-l6-v2"}


class TestMiniLM(_Loaded):
    alias = "all-minilm-l6-v2"

    @property
    def embeddings_class(self) -> Any:
        return kbqa_embedder

    def test_it_loads_through_sentence_transformers(self, model: Embeddings) -> None:
        from langchain_huggingface import HuggingFaceEmbeddings

        assert isinstance(model, HuggingFaceEmbeddings)
        assert len(model.embed_query("planet")) == 384


class TestUniversalSentenceEncoderUnit(EmbeddingsUnitTests):
    @property
    def embeddings_class(self) -> type[UniversalSentenceEncoderEmbeddings]:
        return UniversalSentenceEncoderEmbeddings

    @property
    def embedding_model_params(self) -> dict:
        return {"threads": 1}


class TestUniversalSentenceEncoder(_Loaded):
    alias = "use-multilingual"

    @property
    def embeddings_class(self) -> type[UniversalSentenceEncoderEmbeddings]:
        return UniversalSentenceEncoderEmbeddings

    def test_it_is_the_default_embedder(self, model: Embeddings) -> None:
        assert Settings().embedder == self.alias
        assert isinstance(model, UniversalSentenceEncoderEmbeddings)
        assert len(model.embed_query("planet")) == 512


class TestE5SmallUnit(EmbeddingsUnitTests):
    @property
    def embeddings_class(self) -> type[E5SmallEmbeddings]:
        return E5SmallEmbeddings

    @property
    def embedding_model_params(self) -> dict:
        return {"threads": 1}


class TestE5Small(_Loaded):
    alias = "multilingual-e5-small"

    @property
    def embeddings_class(self) -> type[E5SmallEmbeddings]:
        return E5SmallEmbeddings
