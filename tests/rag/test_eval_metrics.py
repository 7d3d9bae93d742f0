"""Hand-checked cases for rag.eval.metrics; every expected value is worked out in a comment."""

from __future__ import annotations

import doctest

import pytest

from rag.errors import ConfigError
from rag.eval import metrics
from rag.eval.metrics import (
    QUESTION_TYPES,
    answer_tokens,
    citation_precision,
    citation_recall,
    contains_answer,
    exact_match,
    hit_at_k,
    mean,
    normalize_answer,
    percentile,
    question_type,
    reciprocal_rank,
    token_f1,
)


def test_docstring_examples_hold() -> None:
    result = doctest.testmod(metrics)
    assert result.attempted > 0
    assert result.failed == 0


# --- normalisation -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The Eiffel Tower", "eiffel tower"),
        ("  an   apple, a PEAR. ", "apple pear"),
        ("U.S.", "us"),  # ASCII punctuation goes without leaving a space
        ("well-known", "wellknown"),
        ("theatre", "theatre"),  # articles only as whole words
        ("Marxism–Leninism", "marxism–leninism"),  # official script keeps non-ASCII punctuation
        ("", ""),
    ],
)
def test_normalize_answer_matches_squad(text: str, expected: str) -> None:
    assert normalize_answer(text) == expected


def test_normalize_answer_cjk() -> None:
    assert normalize_answer("《北京大学》。") == "北京大学"
    assert normalize_answer("“北京 大学”，成立于１８９８年！") == "北京大学成立于1898年"
    assert normalize_answer("2008 年 的 Olympic Games") == "2008年的olympic games"


def test_answer_tokens() -> None:
    assert answer_tokens("The Eiffel Tower!") == ["eiffel", "tower"]
    assert answer_tokens("2008年 Beijing 奥运") == ["2008", "年", "beijing", "奥", "运"]
    assert answer_tokens("the") == []


# --- exact match and F1 --------------------------------------------------------------------------


def test_exact_match_ignores_articles_case_and_punctuation() -> None:
    assert exact_match("The Andes!", ["andes"]) == 1.0
    assert exact_match("an Andes range", ["Andes range."]) == 1.0
    assert exact_match("Andes mountains", ["Andes"]) == 0.0


def test_exact_match_takes_best_gold() -> None:
    assert exact_match("two delegates", ["Each brotherhood elects two", "two delegates"]) == 1.0
    assert exact_match("anything", []) == 0.0


def test_token_f1_partial_overlap() -> None:
    # pred "eiffel tower" (2 tokens), gold "eiffel tower in paris" (4 tokens): 2 shared.
    # P = 2/2 = 1, R = 2/4 = 0.5, F1 = 2 * 1 * 0.5 / 1.5 = 2/3.
    assert token_f1("the Eiffel Tower", ["Eiffel tower in Paris"]) == pytest.approx(2 / 3)
    # pred "1 2 2 3" vs gold "2 2 4": shared multiset {2, 2} = 2. P = 2/4, R = 2/3,
    # F1 = 2 * (1/2) * (2/3) / (1/2 + 2/3) = (2/3) / (7/6) = 4/7.
    assert token_f1("1 2 2 3", ["2 2 4"]) == pytest.approx(4 / 7)


def test_token_f1_takes_max_over_golds() -> None:
    # vs "paris": P = 1/2, R = 1, F1 = 2/3; vs "in paris": exact, F1 = 1.
    assert token_f1("in Paris", ["Paris", "in Paris"]) == 1.0
    # vs "lyon": 0; vs "paris france": P = 1/2, R = 1/2, F1 = 1/2.
    assert token_f1("Paris, Texas", ["Lyon", "Paris France"]) == pytest.approx(0.5)


def test_token_f1_edge_cases() -> None:
    assert token_f1("Berlin", ["Paris"]) == 0.0
    assert token_f1("", ["Paris"]) == 0.0
    assert token_f1("the", ["a"]) == 1.0  # both normalise to nothing (SQuAD 2.0 convention)
    assert token_f1("Paris", []) == 0.0


def test_token_f1_chinese_is_per_character() -> None:
    # 北京大学 (4 chars) vs 北京的大学 (5 chars): 4 shared. P = 1, R = 4/5, F1 = 8/9.
    assert token_f1("北京大学", ["北京的大学"]) == pytest.approx(8 / 9)
    # 1898年 -> [1898, 年]; 成立于1898年 -> [成, 立, 于, 1898, 年]: 2 shared.
    # P = 2/2, R = 2/5, F1 = 2 * 0.4 / 1.4 = 4/7.
    assert token_f1("1898年", ["成立于1898年"]) == pytest.approx(4 / 7)
    assert exact_match("北京 大学。", ["北京大学"]) == 1.0


# --- retrieval -----------------------------------------------------------------------------------


def test_hit_at_k() -> None:
    ranked = ["c1", "c2", "c3", "c4"]
    assert hit_at_k(ranked, {"c3"}, k=3) == 1.0
    assert hit_at_k(ranked, {"c3"}, k=2) == 0.0
    assert hit_at_k(ranked, "c1", k=1) == 1.0
    assert hit_at_k(ranked, {"x", "c4"}, k=10) == 1.0  # k beyond the list is fine
    assert hit_at_k([], {"c1"}, k=5) == 0.0
    with pytest.raises(ConfigError, match="got 0"):
        hit_at_k(ranked, "c1", k=0)


def test_reciprocal_rank_and_mrr() -> None:
    ranked = ["c1", "c2", "c3"]
    assert reciprocal_rank(ranked, "c1") == 1.0
    assert reciprocal_rank(ranked, {"c3", "c2"}) == 0.5  # first gold hit counts
    assert reciprocal_rank(ranked, "zz") == 0.0
    # MRR over three questions with first hits at ranks 1, 3 and none: (1 + 1/3 + 0) / 3 = 4/9.
    rrs = [reciprocal_rank(ranked, g) for g in ("c1", "c3", "zz")]
    assert mean(rrs) == pytest.approx(4 / 9)


# --- summaries -----------------------------------------------------------------------------------


def test_mean() -> None:
    assert mean([]) == 0.0
    assert mean([1.0, 2.0, 4.5]) == pytest.approx(2.5)
    assert mean(x for x in (1.0, 0.0)) == 0.5


@pytest.mark.parametrize(
    ("values", "p", "expected"),
    [
        # numpy.percentile(..., method="linear"): position = (n - 1) * p / 100.
        ([1, 2, 3, 4], 50, 2.5),  # position 1.5 -> 2 + 0.5 * (3 - 2)
        ([1, 2, 3, 4], 0, 1.0),
        ([1, 2, 3, 4], 100, 4.0),
        ([10, 20, 30, 40, 50], 90, 46.0),  # position 3.6 -> 40 + 0.6 * 10
        ([15, 20, 35, 40, 50], 40, 29.0),  # position 1.6 -> 20 + 0.6 * 15
        ([3.0, 1.0, 2.0], 95, 2.9),  # unsorted input; position 1.9 -> 2 + 0.9 * 1
        ([7], 95, 7.0),
        ([], 95, 0.0),
    ],
)
def test_percentile(values: list[float], p: float, expected: float) -> None:
    assert percentile(values, p) == pytest.approx(expected)


def test_percentile_rejects_p_outside_range() -> None:
    with pytest.raises(ConfigError, match="101"):
        percentile([1, 2], 101)


# --- citations -----------------------------------------------------------------------------------

LIMA = "Lima is the capital of Peru."
LIMA_POP = "About 10 million people live in Lima."
QUITO = "Quito is the capital of Ecuador."


def test_contains_answer_respects_token_boundaries() -> None:
    assert contains_answer(LIMA, ["the capital"])
    assert not contains_answer("A party was held.", ["art"])
    assert not contains_answer(LIMA, ["the"])  # normalises to nothing: never matches
    assert contains_answer("北京大学成立于1898年。", ["北京 大学"])


def test_citation_precision() -> None:
    # Two distinct passages cited, one contains "Lima": 1/2.
    assert citation_precision([LIMA, QUITO], ["Lima"]) == 0.5
    assert citation_precision([LIMA, LIMA_POP], ["lima"]) == 1.0
    assert citation_precision([LIMA, LIMA], ["Lima"]) == 1.0  # cited twice, counted once
    assert citation_precision([QUITO], ["Lima"]) == 0.0
    assert citation_precision([], ["Lima"]) is None


def test_citation_recall() -> None:
    retrieved = [LIMA, QUITO, LIMA_POP]
    # Two retrieved passages hold "Lima"; one of them is cited: 1/2.
    assert citation_recall([LIMA], retrieved, ["Lima"]) == 0.5
    assert citation_recall([LIMA, LIMA_POP, QUITO], retrieved, ["Lima"]) == 1.0
    assert citation_recall([QUITO], retrieved, ["Lima"]) == 0.0
    assert citation_recall([], retrieved, ["Lima"]) == 0.0
    # No retrieved passage holds the answer: nothing could be cited.
    assert citation_recall([QUITO], [QUITO], ["Lima"]) is None
    assert citation_recall([], [], ["Lima"]) is None


# --- question types ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("What is the capital of Peru?", "what"),
        ("In which year was it founded?", "which"),
        ("Who wrote Hamlet?", "who"),
        ("Whose flag has 50 stars?", "who"),
        ("When did the war end?", "when"),
        ("Where is Lima?", "where"),
        ("Why is the sky blue?", "why"),
        ("How did the empire fall?", "how"),
        ("How many delegates does each brotherhood elect?", "how many"),
        ("how much did it cost", "how many"),
        ("The treaty was signed in what city?", "what"),
        ("is there a delegate?", "other"),
        ("北京大学是什么时候成立的？", "when"),
        ("秘鲁的首都是什么？", "what"),
        ("谁写了哈姆雷特？", "who"),
        ("利马在哪里？", "where"),
        ("哪个国家的国旗有50颗星？", "which"),
        ("为什么天空是蓝色的？", "why"),
        ("帝国是如何灭亡的？", "how"),
        ("每个兄弟会选出几名代表？", "how many"),
        ("秘鲁有多少人口？", "how many"),
        ("几乎所有人都知道这件事吗？", "other"),
    ],
)
def test_question_type(question: str, expected: str) -> None:
    assert question_type(question) == expected
    assert expected in QUESTION_TYPES


@pytest.mark.parametrize(
    ("text", "gold", "found"),
    [
        ("Run pg_dump -t orders.", "-t", True),
        ("Run pg_dump --table orders.", "-t", False),  # inside a longer option
        ("The table is big.", "-t", False),  # normalised "-t" would be the token "t"
        ("Use the @> operator.", "@>", True),
        ("Use the @? operator.", "@>", False),
        ("It returns -1 on error.", "-1", True),
        ("It returns 1 on error.", "-1", False),
        ("写成 C++ 代码", "C++", True),
        ("I don't know.", "No", False),  # "no" is not a token of "don't know"
    ],
)
def test_symbol_answers_match_as_written(text: str, gold: str, found: bool) -> None:
    assert contains_answer(text, [gold]) is found
