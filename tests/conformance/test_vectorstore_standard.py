"""LangChain's standard vector-store tests on ``KbStore`` (Chroma and the keyword index in step).

Ingest hands ``KbStore`` to ``langchain_core.indexing.index``, so it must behave as any
``VectorStore`` does: ids kept or generated, adds idempotent by id, deletes of missing ids quiet.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from langchain_core.documents import Document
from langchain_tests.integration_tests import VectorStoreIntegrationTests

from rag.store import KbStore
from tests.conformance.memory import memory_store


class TestKbStore(VectorStoreIntegrationTests):
    @pytest.fixture
    def vectorstore(self, tmp_path) -> Iterator[KbStore]:  # type: ignore[override]
        store = memory_store(tmp_path, self.get_embeddings())
        try:
            yield store
        finally:
            store.client.delete_collection(store.name)
            store.keyword.close()


def test_the_keyword_index_follows_every_add_and_delete(tmp_path):
    store = memory_store(tmp_path, VectorStoreIntegrationTests.get_embeddings())
    ids = store.add_documents([Document(page_content="red planet"), Document(page_content="bread")])
    assert store.keyword.ids() == set(ids) and store.count() == 2
    store.add_documents([Document(page_content="blue ocean")], ids=[ids[0]])  # replaced by id
    assert [hit[0] for hit in store.keyword.search("ocean", 5)] == [ids[0]]
    assert store.keyword.search("planet", 5) == []
    store.delete([ids[1], "never-added"])
    assert store.keyword.ids() == {ids[0]} and store.count() == 1
