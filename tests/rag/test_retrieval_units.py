"""Fast unit tests of the retrieval pieces: fusion, keyword index, tokenisation, validation."""

import pytest
from langchain_core.embeddings import Embeddings

from rag.errors import ConfigError
from rag.keyword import KeywordIndex
from rag.retrieval import HybridSearch, mmr_order, rrf_fuse
from rag.text import detect_language, split_sentences, tokenize


def test_rrf_rewards_agreement_and_weights():
    fused = rrf_fuse([(["a", "b", "c"], 1.0), (["c", "b"], 1.0)], k=60)
    assert max(fused, key=fused.get) == "b" or max(fused, key=fused.get) == "c"
    assert fused["b"] > fused["a"]
    only_dense = rrf_fuse([(["a", "b"], 1.0), (["b"], 0.0)], k=60)
    assert only_dense["a"] > only_dense["b"]


def test_mmr_prefers_diverse_passages():
    query = [1.0, 0.3]
    vectors = {"a": [0.99, 0.14], "a_again": [1.0, 0.0], "b": [0.6, 0.8]}
    # By relevance alone the near-copy comes second; MMR takes the different passage instead.
    assert mmr_order(query, ["a", "a_again", "b"], vectors, top_k=2, lam=1.0) == ["a", "a_again"]
    assert mmr_order(query, ["a", "a_again", "b"], vectors, top_k=2) == ["a", "b"]
    assert mmr_order(query, [], {}, top_k=2) == []


class TopicEmbeddings(Embeddings):
    """A passage's vector is its first word's topic (near-copies get near-equal vectors); every
    question is one vector, closest to Jupiter and then to Saturn."""

    TOPICS = {"jupiter": [1.0, 0.0, 0.0], "saturn": [0.6, 0.8, 0.0], "bread": [0.0, 0.0, 1.0]}

    def embed_query(self, text: str) -> list[float]:
        return [0.95, 0.31, 0.0, 0.0]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        # The length term keeps near-copies from being exact duplicates (HNSW can drop those).
        return [[*self.TOPICS[t.split()[0]], 0.01 * len(t.split())] for t in texts]


def test_mmr_search_diversifies_the_passages(tmp_path):
    from tests.conformance.memory import memory_store

    store = memory_store(tmp_path, TopicEmbeddings())
    texts = [
        "jupiter is the largest planet",
        "jupiter is the largest planet by far",
        "jupiter is the largest planet of all eight",
        "saturn is the second largest planet",
        "bread rises",
    ]
    store.add_texts(texts, [{"source": f"{i}.md"} for i in range(5)], ids=list("01234"))
    plain = HybridSearch(store, store.embeddings, top_k=2, hybrid=False)
    diverse = HybridSearch(store, store.embeddings, top_k=2, hybrid=False, mmr=True)
    question = "which planet is largest jupiter"
    assert {p.chunk_id for p in plain.search(question)} <= {"0", "1", "2"}  # two near-copies
    picked = [p.text for p in diverse.search(question)]
    assert picked[0].startswith("jupiter") and picked[1].startswith("saturn")


def test_keyword_index_is_persistent_incremental_and_bilingual(tmp_path):
    path = tmp_path / "kw.sqlite"
    index = KeywordIndex(path)
    index.add(
        ["1", "2", "3"],
        ["Running engines overheat", "长城是军事防御工程", "Bread rises"],
        ["a", "b", "c"],
    )
    assert [h[0] for h in index.search("engine runs", 3)] == ["1"]  # porter stemming
    assert [h[0] for h in index.search("防御工程在哪里", 3)] == ["2"]  # jieba segmentation
    assert index.search("bread", 3, sources=["a"]) == []
    index.close()
    reopened = KeywordIndex(path)
    assert reopened.count() == 3
    reopened.add(["1"], ["Frozen lakes"], ["a"])  # replace by id
    assert reopened.count() == 3 and reopened.search("engine", 3) == []
    assert reopened.delete(["2", "nope"]) == 1 and reopened.ids() == {"1", "3"}


def test_tokenize_and_language():
    assert tokenize("The Engines!", drop_stopwords=True) == ["engines"]
    assert "长城" in tokenize("长城在哪里")
    assert detect_language("什么是长城？") == "zh" and detect_language("What is kbqa?") == "en"
    assert split_sentences("One. Two! 三。四？") == ["One.", "Two!", "三。", "四？"]


@pytest.mark.parametrize("field", ["top_k", "fetch_k", "rrf_k"])
def test_search_validates_in_constructor(field):
    with pytest.raises(ConfigError, match=field):
        HybridSearch(store=None, embeddings=None, **{field: 0})  # type: ignore[arg-type]


def test_keyword_count_is_cached_but_follows_writes_from_any_connection(tmp_path):
    path = tmp_path / "kw.sqlite"
    mine, other = KeywordIndex(path), KeywordIndex(path)  # another process's ingest, in effect
    mine.add(["a"], ["first chunk"], ["x"])
    assert mine.count() == other.count() == 1
    other.add(["b", "c"], ["second chunk", "third chunk"], ["x", "y"])
    assert mine.count() == 3  # another connection committed: the cached count is dropped
    mine.delete(["a"])
    assert mine.count() == other.count() == 2
    # Cached: a count(*) that ran again would see this row, written behind both connections'
    # backs without a commit they could notice (same connection, so data_version stays).
    mine._conn.execute("INSERT INTO chunks(chunk_id, source) VALUES ('z', 'x')")
    assert mine.count() == 2
