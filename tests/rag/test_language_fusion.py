"""Language-aware fusion: keyword hits in the question's language do not drown a passage in the
other language that dense search ranks first (``rag.retrieval.reserve_cross_language_slot``)."""

from __future__ import annotations

import pytest

from rag.retrieval import HybridSearch, reserve_cross_language_slot

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


def zh_vectors() -> dict[str, list[float]]:
    """The English answer is nearest the Chinese question; the Chinese distractors come next."""
    vectors = {QUESTION_ZH: [1.0, 0.0, 0.0], ANSWER_EN: [0.95, 0.3, 0.0]}
    for i, text in enumerate(DISTRACTORS_ZH):
        vectors[text] = [0.8 - 0.05 * i, 0.6, 0.1 * i]
    return vectors


def en_vectors() -> dict[str, list[float]]:
    """Dense search ranks the bread passage first, keyword search the planets: all English."""
    vectors = {QUESTION_EN: [1.0, 0.2, 0.0]}
    for i, text in enumerate(ENGLISH):
        vectors[text] = [0.8 - 0.2 * i, 0.1 * i, 0.3]
    vectors[ENGLISH[-1]] = [1.0, 0.2, 0.05]
    return vectors


def mixed_store(tmp_path, vectors, texts, langs):
    from tests.conformance.memory import TableEmbeddings, memory_store

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
    plain = HybridSearch(store, store.embeddings, top_k=3, cross_language=False, fusion="rrf")
    aware = HybridSearch(store, store.embeddings, top_k=3, cross_language=True, fusion="rrf")
    fused = [p.text for p in plain.search(QUESTION_ZH)]
    assert ANSWER_EN not in fused  # what this fixes: four keyword hits outvote it
    got = aware.search(QUESTION_ZH)
    # It takes the last place; the fused order before it is unchanged.
    assert [p.text for p in got] == [*fused[:2], ANSWER_EN] and got[2].keyword_rank is None
    # Asked for more passages than the model is given, it is still among the first top_k.
    assert [p.text for p in aware.search(QUESTION_ZH, top_k=5)][2] == ANSWER_EN
    assert aware.search(QUESTION_ZH, hybrid=False)[0].text == ANSWER_EN  # dense only: first


def test_same_language_questions_fuse_exactly_as_plain_rrf(tmp_path):
    store = mixed_store(tmp_path, en_vectors(), ENGLISH, ["en"] * len(ENGLISH))
    plain = HybridSearch(store, store.embeddings, top_k=2, cross_language=False, fusion="rrf")
    aware = HybridSearch(store, store.embeddings, top_k=2, cross_language=True, fusion="rrf")
    got = [(p.chunk_id, p.score, p.dense_score, p.keyword_rank) for p in aware.search(QUESTION_EN)]
    want = [(p.chunk_id, p.score, p.dense_score, p.keyword_rank) for p in plain.search(QUESTION_EN)]
    assert got == want and [c for c, *_ in got] == ["0", "1"]
    assert aware.search(QUESTION_EN, hybrid=False)[0].chunk_id == "3"  # dense search's first


def test_the_slot_goes_only_to_the_dense_first_passage_in_another_language():
    order, dense = ["zh2", "zh1", "zh3", "en1", "en2"], ["en1", "zh1", "en2"]
    assert reserve_cross_language_slot(order, dense, {"en1", "en2"}, 3) == [
        "zh2",
        "zh1",
        "en1",
        "zh3",
        "en2",
    ]
    # Dense search's first passage is in the question's language: nothing moves.
    assert reserve_cross_language_slot(order, ["zh1", "en1"], {"en1"}, 2) == order
    assert reserve_cross_language_slot(order, [], set(), 2) == order


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
    "长城.txt": "长城全长两万一千多公里，是世界上最长的城墙。",
    # Same-language distractors: they share the question's words (蜜蜂; Great Wall, long), not
    # its meaning, so keyword search ranks them and plain fusion gives them the top 4.
    "玩具.txt": "这家商店出售蜜蜂形状的玩具。",
    "博物馆.txt": "蜜蜂博物馆每周一闭馆，同伴票半价。",
    "自行车.txt": "蜜蜂牌自行车在上海生产。",
    "作文.txt": "小明的作文题目是《蜜蜂》。",
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
