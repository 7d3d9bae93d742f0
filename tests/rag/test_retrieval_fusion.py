"""Score fusion (the default): cosine + keyword_score_weight x BM25 / best BM25, so a passage whose
cosine stands far above the rest is not outvoted by weak passages that share the question's words
(``rag.retrieval.score_fuse``; reciprocal-rank fusion, ``fusion="rrf"``, lets them through)."""

from __future__ import annotations

import pytest

from rag.errors import ConfigError
from rag.retrieval import HybridSearch, score_fuse

QUESTION = "When are receipts due?"
ANSWER = "Expense claims must be filed within 45 days of the trip's end."
# They share the question's word "receipts", not its meaning.
DISTRACTORS = [
    "Keep paper receipts in a folder.",
    "Receipts from taxis need a stamp.",
    "Scan receipts in colour.",
    "Hotel receipts show the room rate.",
]


def store_of(tmp_path, vectors: dict[str, list[float]], texts: list[str]):
    from tests.conformance.memory import TableEmbeddings, memory_store

    store = memory_store(tmp_path, TableEmbeddings(vectors))
    metas = [{"source": f"{i}.txt", "lang": "en"} for i in range(len(texts))]
    store.add_texts(texts, metas, ids=[str(i) for i in range(len(texts))])
    return store


def test_a_far_better_cosine_is_not_outvoted_by_keyword_hits(tmp_path):
    # The answer's cosine is 0.95; each distractor's about 0.41, but keyword search finds them.
    vectors = {QUESTION: [1.0, 0.0, 0.0], ANSWER: [0.95, 0.31, 0.0]}
    for i, text in enumerate(DISTRACTORS):
        vectors[text] = [0.4 - 0.02 * i, 0.9, 0.0]
    store = store_of(tmp_path, vectors, [ANSWER, *DISTRACTORS])
    rrf = HybridSearch(store, store.embeddings, top_k=2, fusion="rrf")
    # What this fixes: under RRF two distractors (dense rank 2-3 and a keyword rank) outrank it.
    assert ANSWER not in [p.text for p in rrf.search(QUESTION)]
    default = HybridSearch(store, store.embeddings, top_k=2)
    got = default.search(QUESTION)
    assert got[0].text == ANSWER and got[0].keyword_rank is None
    assert got[1].text in DISTRACTORS and got[1].keyword_rank is not None


def test_keyword_hits_still_decide_between_close_cosines(tmp_path):
    near = "Receipts are due within 45 days."  # the question's words, cosine 0.75
    other = "Travel is booked through the portal."  # no shared word, cosine 0.80
    vectors = {QUESTION: [1.0, 0.0, 0.0], near: [0.75, 0.66, 0.0], other: [0.8, 0.6, 0.0]}
    store = store_of(tmp_path, vectors, [other, near])
    search = HybridSearch(store, store.embeddings, top_k=2)
    assert [p.text for p in search.search(QUESTION, hybrid=False)] == [other, near]
    assert [p.text for p in search.search(QUESTION)] == [near, other]
    # With no weight on keywords, score fusion is dense search's order.
    cosine_only = HybridSearch(store, store.embeddings, top_k=2, keyword_score_weight=0.0)
    assert [p.text for p in cosine_only.search(QUESTION)] == [other, near]


def test_score_fuse_scales_bm25_by_the_best_hit():
    fused = score_fuse({"a": 0.5, "b": 0.5, "c": 0.5}, [("a", 12.0), ("b", 3.0)], 0.4)
    assert fused == pytest.approx({"a": 0.9, "b": 0.6, "c": 0.5})
    assert score_fuse({"a": 0.5}, [], 0.4) == {"a": 0.5}


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"fusion": "sum"}, "fusion must be one of score, rrf"),
        ({"keyword_score_weight": -1}, "0 or more"),
    ],
)
def test_fusion_options_are_checked_in_the_constructor(tmp_path, options, message):
    store = store_of(tmp_path, {QUESTION: [1.0, 0.0, 0.0]}, [])
    with pytest.raises(ConfigError, match=message):
        HybridSearch(store, store.embeddings, **options)


@pytest.mark.parametrize("fusion", ["score", "rrf"])
def test_the_knowledge_base_fuses_as_its_settings_say(tmp_path, fusion):
    from rag.kb import KnowledgeBase
    from rag.settings import Settings
    from tests.fakes import fake_models

    settings = Settings(
        persist_dir=tmp_path / "store", file_timeout=0, fusion=fusion, keyword_score_weight=0.25
    )
    kb = KnowledgeBase(settings, models=fake_models(settings))
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.txt").write_text("Receipts are due within 45 days.\n")
    kb.ingest(tmp_path / "docs")
    assert (kb.search.fusion, kb.search.keyword_score_weight) == (fusion, 0.25)
    assert Settings().fusion == "score"
