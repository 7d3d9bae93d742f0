"""LangChain's standard retriever tests on ``KbRetriever`` (hybrid search over a real store).

The fast classes search an in-memory Chroma and a real keyword index with a deterministic fake
embedder; the slow class searches a knowledge base built with the packaged MiniLM.
"""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.documents import Document
from langchain_core.embeddings import DeterministicFakeEmbedding
from langchain_tests.integration_tests import RetrieversIntegrationTests

from rag.errors import ConfigError, UnknownOptionError
from rag.retrieval import HybridSearch, KbRetriever
from tests.conformance.memory import memory_store

FACTS = [
    "Jupiter is the largest planet in the Solar System.",
    "Mars is called the red planet because iron oxide covers its surface.",
    "Saturn's rings are made of ice and rock.",
    "Venus is the hottest planet, hotter than Mercury.",
    "Sourdough bread rises because wild yeast ferments the dough.",
    "The Great Wall of China is about 8,850 kilometres long.",
]


@pytest.fixture(scope="module")
def planet_search(tmp_path_factory: pytest.TempPathFactory) -> HybridSearch:
    store = memory_store(tmp_path_factory.mktemp("retriever"), DeterministicFakeEmbedding(size=16))
    store.add_documents(
        [
            Document(page_content=t, metadata={"source": f"facts/{i}.md"})
            for i, t in enumerate(FACTS)
        ],
        ids=[f"fact-{i}" for i in range(len(FACTS))],
    )
    return HybridSearch(store, store.embeddings, top_k=4)


class _KbRetrieverSuite(RetrieversIntegrationTests):
    search: HybridSearch

    @pytest.fixture(autouse=True)
    def _search(self, planet_search: HybridSearch) -> None:
        self.search = planet_search

    @property
    def retriever_constructor(self) -> type[KbRetriever]:
        return KbRetriever

    @property
    def retriever_constructor_params(self) -> dict:
        return {"search": self.search}

    @property
    def retriever_query_example(self) -> str:
        return "Which planet is the largest?"


class TestKbRetrieverK(_KbRetrieverSuite):
    """``k``: LangChain's name for the number of documents, in the constructor and per call."""


class TestKbRetrieverTopK(_KbRetrieverSuite):
    """``top_k``: kbqa's name for it."""

    @property
    def num_results_arg_name(self) -> str:
        return "top_k"


def test_a_misspelled_option_is_an_error_naming_the_valid_ones(planet_search):
    retriever = KbRetriever(search=planet_search)
    with pytest.raises(
        UnknownOptionError, match=r"'topk' \(did you mean 'top_k'\?\); valid options: k, top_k"
    ):
        retriever.invoke("planet", topk=1)
    with pytest.raises(ConfigError, match="disagree"):
        retriever.invoke("planet", k=1, top_k=2)
    with pytest.raises(ConfigError, match="got 0"):
        KbRetriever(search=planet_search, k=0)
    with pytest.raises(ConfigError, match="got -1"):
        retriever.invoke("planet", top_k=-1)


def test_documents_carry_ids_and_scores(planet_search):
    docs = KbRetriever(search=planet_search, k=2).invoke("Which planet is the largest?")
    assert [d.metadata["source"] for d in docs] == [f"facts/{d.id[5:]}.md" for d in docs]
    assert docs[0].metadata["score"] >= docs[1].metadata["score"]


@pytest.fixture(scope="module")
def minilm_kb(tmp_path_factory: pytest.TempPathFactory, models: Any) -> Any:
    """A knowledge base built as users build one: the packaged MiniLM, files ingested."""
    from rag.kb import KnowledgeBase
    from tests.conftest import SMALL

    folder = tmp_path_factory.mktemp("minilm")
    docs = folder / "docs"
    docs.mkdir()
    for i, fact in enumerate(FACTS):
        (docs / f"fact{i}.md").write_text(fact + "\n", encoding="utf-8")
    kb = KnowledgeBase(models=models, **{**SMALL, "persist_dir": folder / "store"})
    kb.ingest(docs)
    return kb


@pytest.mark.slow
@pytest.mark.integration
class TestKnowledgeBaseRetriever(_KbRetrieverSuite):
    """``KnowledgeBase.retriever()``'s search, over MiniLM vectors."""

    @pytest.fixture(autouse=True)
    def _search(self, minilm_kb: Any) -> None:
        self.search = minilm_kb.search

    def test_the_knowledge_base_hands_out_this_retriever(self, minilm_kb: Any) -> None:
        docs = minilm_kb.retriever(top_k=2).invoke("Which planet is the largest?", k=1)
        assert [d.metadata["source"] for d in docs] == ["fact0.md"]
