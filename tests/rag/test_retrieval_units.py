"""Fast unit tests of the retrieval pieces: fusion, keyword index, tokenisation, validation."""

import pytest

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
    vectors = {"a": [1.0, 0.0], "a2": [0.99, 0.01], "b": [0.0, 1.0]}
    relevance = {"a": 1.0, "a2": 0.95, "b": 0.6}
    assert mmr_order(["a", "a2", "b"], relevance, vectors, top_k=2, lam=0.5) == ["a", "b"]


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
