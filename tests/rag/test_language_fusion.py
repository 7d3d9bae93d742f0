"""Language-aware fusion: keyword hits in the question's language do not drown a passage in the
other language that dense search ranks first (``rag.retrieval.language_aware_fuse``)."""

from __future__ import annotations

import pytest
from langchain_core.embeddings import Embeddings

from rag.retrieval import HybridSearch, language_aware_fuse, rrf_fuse

QUESTION_ZH = "长城有多长？"
ANSWER_EN = "The Great Wall is 21,196 kilometres long, measured in 2012."
# Chinese passages that share the word 长城 with the question but do not say how long it is.
DISTRACTORS_ZH = [
    "长城的门票在网上预订。",
    "长城附近有很多饭店。",
    "长城在冬天游客很少。",
    "长城的照片很有名。",
]
QUESTION_EN = "Which planet is the largest planet?"
ENGLISH = [
    "Jupiter is the largest planet in the Solar System.",
    "Saturn is a planet with rings.",
    "Mars is a small red planet.",
    "Bread rises because yeast ferments the dough.",
]


class TableEmbeddings(Embeddings):
    """Fixed vectors: every text is listed with the direction it points in."""

    def __init__(self, vectors: dict[str, list[float]]) -> None:
        self.vectors = vectors

    def embed_query(self, text: str) -> list[float]:
        return self.vectors.get(text, [0.0, 0.0, 1.0])  # the store's dimension probe

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self.vectors[t] for t in texts]


def zh_vectors() -> dict[str, list[float]]:
    """The English answer is nearest the Chinese question; the Chinese distractors come next."""
    vectors = {QUESTION_ZH: [1.0, 0.0, 0.0], ANSWER_EN: [0.95, 0.3, 0.0]}
    for i, text in enumerate(DISTRACTORS_ZH):
        vectors[text] = [0.8 - 0.05 * i, 0.6, 0.1 * i]
    return vectors


def en_vectors() -> dict[str, list[float]]:
    vectors = {QUESTION_EN: [1.0, 0.2, 0.0]}
    for i, text in enumerate(ENGLISH):
        vectors[text] = [1.0 - 0.2 * i, 0.1 * i, 0.3]
    return vectors


def mixed_store(tmp_path, vectors, texts, langs):
    from tests.conformance.memory import memory_store

    store = memory_store(tmp_path, TableEmbeddings(vectors))
    metas = [
        {"source": f"{i}.txt", **({"lang": lang} if lang else {})} for i, lang in enumerate(langs)
    ]
    store.add_texts(texts, metas, ids=[str(i) for i in range(len(texts))])
    return store


def test_a_cross_language_dense_hit_is_kept_where_plain_rrf_drops_it(tmp_path):
    texts = [ANSWER_EN, *DISTRACTORS_ZH]
    # The English passage carries its language; one distractor has none (read from its text).
    store = mixed_store(tmp_path, zh_vectors(), texts, ["en", "zh", "zh", None, "zh"])
    plain = HybridSearch(store, store.embeddings, top_k=3, cross_language=False)
    aware = HybridSearch(store, store.embeddings, top_k=3, cross_language=True)
    assert ANSWER_EN not in [p.text for p in plain.search(QUESTION_ZH)]  # what this fixes
    got = aware.search(QUESTION_ZH)
    assert got[0].text == ANSWER_EN and got[0].keyword_rank is None
    assert all(p.keyword_rank is not None for p in got[1:])  # the rest is fused as before
    # Dense only finds it too: the fusion keeps what dense search knew.
    assert aware.search(QUESTION_ZH, hybrid=False)[0].text == ANSWER_EN


def test_same_language_questions_fuse_exactly_as_plain_rrf(tmp_path):
    store = mixed_store(tmp_path, en_vectors(), ENGLISH, ["en"] * len(ENGLISH))
    plain = HybridSearch(store, store.embeddings, top_k=4, cross_language=False)
    aware = HybridSearch(store, store.embeddings, top_k=4, cross_language=True)
    got = [(p.chunk_id, p.score, p.dense_score, p.keyword_rank) for p in aware.search(QUESTION_EN)]
    want = [(p.chunk_id, p.score, p.dense_score, p.keyword_rank) for p in plain.search(QUESTION_EN)]
    assert got == want and got[0][0] == "0"


def test_fusion_scores():
    dense, keyword = ["en1", "zh1", "zh2", "zh3"], ["zh2", "zh1", "zh3"]
    plain = rrf_fuse([(dense, 1.0), (keyword, 1.0)], k=60)
    fused = language_aware_fuse(dense, keyword, 1.0, 60, {"en1"})
    assert sorted(plain, key=plain.get)[0] == "en1"  # plain RRF ranks it last
    assert max(fused, key=fused.get) == "en1"
    assert fused["en1"] == pytest.approx(2 / 61)  # its dense rank, counted for both rankings
    assert {c: fused[c] for c in keyword} == {c: plain[c] for c in keyword}
    # A foreign passage keyword search ranks better than dense search keeps that keyword rank.
    both = language_aware_fuse(["a", "b"], ["b"], 1.0, 60, {"b"})
    assert both["b"] == pytest.approx(1 / 62 + 1 / 61)
    # The keyword weight scales the stand-in rank as it scales a keyword rank.
    assert language_aware_fuse(["a"], [], 0.5, 60, {"a"})["a"] == pytest.approx(1.5 / 61)


@pytest.mark.parametrize(
    ("embedder", "language_fusion", "expected"),
    [
        ("use-multilingual", True, True),
        ("use-multilingual", False, False),
        # English-only: its dense ranks across languages are noise, so plain RRF stays.
        ("all-minilm-l6-v2", True, False),
        ("/models/my-embedder", True, False),
    ],
)
def test_the_knowledge_base_fuses_by_language_only_with_a_bilingual_embedder(
    tmp_path, embedder, language_fusion, expected
):
    from rag.kb import KnowledgeBase
    from rag.settings import Settings
    from tests.fakes import fake_models

    settings = Settings(
        persist_dir=tmp_path / "store",
        file_timeout=0,
        embedder=embedder,
        language_fusion=language_fusion,
    )
    kb = KnowledgeBase(settings, models=fake_models(settings))
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.txt").write_text("长城有两万多公里长。\n", encoding="utf-8")
    kb.ingest(tmp_path / "docs")
    assert kb.search.cross_language is expected


# -- the real packaged default embedder, default settings --------------------------------------
CROSS_DOCS = {
    "bees.txt": "Honeybees tell their nestmates where flowers are by performing a waggle dance.",
    "长城.txt": "长城全长两万一千多公里，是世界上最长的军事建筑。",
    # Same-language distractors: they share the question's words, not its answer.
    "蜂蜜.txt": "蜜蜂酿的蜂蜜可以做成蛋糕。",
    "玩具.txt": "这家商店出售蜜蜂形状的玩具和花。",
    "博物馆.txt": "蜜蜂博物馆每周一闭馆，同伴票半价。",
    "作文.txt": "小明的作文题目是《蜜蜂》，写了花园里的花。",
    "hotel.txt": "The Great Wall Hotel in Beijing has a long swimming pool.",
    "cars.txt": "Great Wall Motors sells cars in Europe; the waiting list is long.",
    "tour.txt": "Tickets for the Great Wall of China tour are sold online.",
    "fog.txt": "A great wall of fog covered the harbour for a long time.",
}


@pytest.mark.slow
@pytest.mark.integration
@pytest.mark.parametrize(
    ("question", "source"),
    [
        ("蜜蜂怎样告诉同伴花在哪里？", "bees.txt"),
        ("How long is the Great Wall of China?", "长城.txt"),
    ],
)
def test_default_settings_find_the_passage_across_languages(make_kb, tmp_path, question, source):
    folder = tmp_path / "cross"
    folder.mkdir()
    for name, text in CROSS_DOCS.items():
        (folder / name).write_text(text + "\n", encoding="utf-8")
    kb = make_kb()  # default embedder, hybrid search, top-k 4
    kb.ingest(folder)
    assert kb.search.cross_language and kb.settings.hybrid
    got = kb.retrieve(question)
    assert source in [p.source for p in got], [(p.source, p.score) for p in got]
