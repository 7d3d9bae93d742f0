"""rag.eval.datasets: reading SQuAD JSON and JSON Lines, sampling, abstention split, corpus."""

from __future__ import annotations

import doctest
import json
import os
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from rag.errors import ConfigError
from rag.eval import datasets
from rag.eval.datasets import (
    EvalDataset,
    EvalQuestion,
    article_display_title,
    article_filename,
    load_dataset,
    questions_for_articles,
    sample_questions,
    split_for_abstention,
    write_corpus,
)

REAL_DATASET = Path(__file__).resolve().parents[2].parent / "shared/datasets/new_wiki_v1.0.json"
# The dev set sits in ../shared beside a checkout; CI always has it, so there it must be found.
needs_dev_set = pytest.mark.skipif(
    not REAL_DATASET.is_file() and "CI" not in os.environ,
    reason="../shared/datasets/new_wiki_v1.0.json is not beside this checkout",
)


def squad_doc() -> dict[str, Any]:
    return {
        "version": "1.1",
        "data": [
            {
                "title": "Andes",
                "paragraphs": [
                    {
                        "context": "The Andes are the longest mountain range.\n",
                        "qas": [
                            {
                                "id": "a1",
                                "question": " What is the longest range? ",
                                "answers": [
                                    {"text": "The Andes", "answer_start": 0},
                                    {"text": "The Andes", "answer_start": 0},
                                    {"text": "Andes", "answer_start": 4},
                                ],
                            }
                        ],
                    },
                    {
                        "context": "They run through Peru.",
                        "qas": [
                            {
                                "id": "a2",
                                "question": "Which country?",
                                "answers": [{"text": "Peru", "answer_start": 17}],
                            }
                        ],
                    },
                ],
            },
            {
                "title": "Sierra_Nevada_(U.S.)",
                "paragraphs": [
                    {
                        "context": "It lies in California.",
                        "qas": [
                            {
                                "id": "s1",
                                "question": "Where?",
                                "answers": [{"text": "California", "answer_start": 11}],
                            }
                        ],
                    }
                ],
            },
        ],
    }


def write_json(path: Path, document: Any) -> Path:
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def toy_dataset(n_articles: int, per_article: int) -> EvalDataset:
    articles = {f"T{a}": [f"Paragraph {a}."] for a in range(n_articles)}
    questions = [
        EvalQuestion(f"T{a}-{i}", f"Question {i}?", ["x"], article=f"T{a}")
        for a in range(n_articles)
        for i in range(per_article)
    ]
    return EvalDataset("toy", articles, questions)


def test_docstring_examples_hold() -> None:
    result = doctest.testmod(datasets)
    assert result.attempted > 0
    assert result.failed == 0


# --- article file names --------------------------------------------------------------------------


def test_article_filename() -> None:
    assert article_filename("Armenian_Apostolic_Church") == "Armenian_Apostolic_Church.txt"
    changed = article_filename("Sierra_Nevada_(U.S.)")
    assert re.fullmatch(r"Sierra_Nevada_U\.S-[0-9a-f]{8}\.txt", changed)
    assert article_filename("Sierra_Nevada_(U.S.)") == changed  # stable
    titles = ["AC/DC", "AC_DC", "AC:DC", "北京", "上海", "", "x" * 300, "x" * 301, "..", "-rf"]
    names = [article_filename(t) for t in titles]
    assert len(set(names)) == len(titles)
    for name in names:
        assert re.fullmatch(r"[A-Za-z0-9._-]+", name), name
        assert len(name) <= 120
        assert name.endswith(".txt") and not name.startswith((".", "-"))


def test_article_display_title() -> None:
    assert article_display_title("Marxism%E2%80%93Leninism") == "Marxism–Leninism"
    assert article_display_title("Flag_of_the_United_States") == "Flag of the United States"


# --- loading -------------------------------------------------------------------------------------


def test_load_squad_json(tmp_path: Path) -> None:
    ds = load_dataset(write_json(tmp_path / "dev.json", squad_doc()))
    assert ds.name == "dev"
    assert list(ds.articles) == ["Andes", "Sierra_Nevada_(U.S.)"]
    assert ds.articles["Andes"] == [
        "The Andes are the longest mountain range.\n",
        "They run through Peru.",
    ]
    assert [q.id for q in ds.questions] == ["a1", "a2", "s1"]
    first = ds.questions[0]
    assert first == EvalQuestion(
        id="a1",
        question="What is the longest range?",
        answers=["The Andes", "Andes"],  # duplicates dropped, order kept
        gold_source="Andes.txt",
        gold_passage="The Andes are the longest mountain range.\n",
        article="Andes",
    )
    assert ds.questions[2].gold_source == article_filename("Sierra_Nevada_(U.S.)")


def test_load_squad_skips_impossible_questions(tmp_path: Path) -> None:
    doc = squad_doc()
    doc["data"][0]["paragraphs"][0]["qas"].append(
        {"id": "x", "question": "Unanswerable?", "answers": [], "is_impossible": True}
    )
    ds = load_dataset(write_json(tmp_path / "v2.json", doc))
    assert [q.id for q in ds.questions] == ["a1", "a2", "s1"]


def test_load_jsonl(tmp_path: Path) -> None:
    lines = [
        {"question": "Capital of Peru?", "answers": ["Lima"], "source": "peru.pdf", "id": "p1"},
        {},  # replaced by a blank line below
        {
            "question": "秘鲁的首都？",
            "answers": [{"text": "利马"}],
            "context": "利马是秘鲁的首都。",
        },
        {"question": "Longest range?", "answers": ["Andes"], "title": "Andes", "passage": "P1"},
    ]
    text = "\n".join("" if not line else json.dumps(line, ensure_ascii=False) for line in lines)
    path = tmp_path / "qs.jsonl"
    path.write_text(text + "\n", encoding="utf-8")
    ds = load_dataset(path)
    assert ds.name == "qs"
    assert [q.id for q in ds.questions] == ["p1", "line-3", "line-4"]
    assert ds.questions[0].gold_source == "peru.pdf"
    assert ds.questions[0].gold_passage is None and ds.questions[0].article is None
    assert ds.questions[1].answers == ["利马"]
    assert ds.questions[1].gold_passage == "利马是秘鲁的首都。"
    assert ds.questions[2].article == "Andes"
    assert ds.questions[2].gold_source == "Andes.txt"
    assert ds.articles == {"Andes": ["P1"]}


def test_jsonl_passage_lines_add_distractor_paragraphs(tmp_path: Path) -> None:
    lines = [
        {"article": "长城", "context": "长城很长。"},
        {
            "question": "长城在哪里？",
            "answers": ["中国"],
            "article": "长城",
            "context": "长城在中国。",
        },
        {"title": "长城", "passage": "长城很长。"},  # a repeated passage is kept once
    ]
    path = tmp_path / "zh.jsonl"
    path.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines), "utf-8")
    ds = load_dataset(path)
    assert ds.articles == {"长城": ["长城很长。", "长城在中国。"]}
    assert [q.gold_passage for q in ds.questions] == ["长城在中国。"]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"article": "长城"}\n', "utf-8")
    with pytest.raises(ConfigError, match="line 1: a line needs 'question' and 'answers'"):
        load_dataset(bad)


def test_jsonl_detected_without_jsonl_suffix(tmp_path: Path) -> None:
    path = tmp_path / "qs.json"
    path.write_text(
        '{"question": "A?", "answers": ["a"]}\n{"question": "B?", "answers": ["b"]}\n',
        encoding="utf-8",
    )
    assert [q.question for q in load_dataset(path).questions] == ["A?", "B?"]


def test_missing_file_raises_config_error(tmp_path: Path) -> None:
    path = tmp_path / "nope.json"
    with pytest.raises(ConfigError, match="nope.json.*not found"):
        load_dataset(path)


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [
        ("empty.json", "", "empty"),
        ("broken.json", '{"data": [', "not valid JSON"),
        ("list.json", "[1, 2]", "unknown dataset layout"),
        ("nodata.json", '{"version": "1.1"}', "unknown dataset layout"),
        ("datanotlist.json", '{"data": {}}', "'data' must be a list"),
        ("notitle.json", '{"data": [{"paragraphs": []}]}', r"data\[0\]: 'title'"),
        (
            "noquestion.json",
            '{"data": [{"title": "T", "paragraphs": [{"context": "c", "qas": [{"id": "1", '
            '"answers": [{"text": "a"}]}]}]}]}',
            r"data\[0\]\.paragraphs\[0\]\.qas\[0\]: 'question'",
        ),
        (
            "noanswers.json",
            '{"data": [{"title": "T", "paragraphs": [{"context": "c", "qas": [{"id": "1", '
            '"question": "q", "answers": []}]}]}]}',
            "no answers",
        ),
        (
            "dupid.json",
            '{"data": [{"title": "T", "paragraphs": [{"context": "c", "qas": ['
            '{"id": "1", "question": "q", "answers": ["a"]}, '
            '{"id": "1", "question": "r", "answers": ["b"]}]}]}]}',
            "duplicate question id '1'",
        ),
        ("noqs.json", '{"data": []}', "no questions"),
        (
            "bad.jsonl",
            '{"question": "A?", "answers": ["a"]}\n\n{oops\n',
            "line 3 is not valid JSON",
        ),
        ("noans.jsonl", '{"question": "A?"}\n', "line 1: missing 'answers'"),
        ("strans.jsonl", '{"question": "A?", "answers": "a"}\n', "'answers' must be a list"),
        ("array.jsonl", "[1]\n", "line 1 must be a JSON object"),
    ],
)
def test_bad_layouts_raise_config_error_naming_file(
    tmp_path: Path, name: str, content: str, problem: str
) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError, match=problem) as info:
        load_dataset(path)
    assert str(path) in str(info.value)


def test_non_utf8_file_raises_config_error(tmp_path: Path) -> None:
    path = tmp_path / "latin1.json"
    path.write_bytes('{"data": "café"}'.encode("latin-1"))
    with pytest.raises(ConfigError, match="UTF-8"):
        load_dataset(path)


# --- sampling and splitting ----------------------------------------------------------------------


def test_sample_is_deterministic_and_spread() -> None:
    ds = toy_dataset(n_articles=10, per_article=8)
    first = sample_questions(ds, 20, seed=3)
    assert [q.id for q in first] == [q.id for q in sample_questions(ds, 20, seed=3)]
    assert len(first) == 20 and len({q.id for q in first}) == 20
    per_article = Counter(q.article for q in first)
    assert len(per_article) == 10 and set(per_article.values()) == {2}
    assert [q.id for q in first] != [q.id for q in sample_questions(ds, 20, seed=4)]


def test_sample_prefix_and_limits() -> None:
    ds = toy_dataset(n_articles=4, per_article=3)
    everything = sample_questions(ds, None)
    assert sorted(q.id for q in everything) == sorted(q.id for q in ds.questions)
    assert sample_questions(ds, 5) == everything[:5]  # smaller limit: a prefix of a larger
    assert sample_questions(ds, 1000) == everything
    assert sample_questions(ds, 0) == []
    with pytest.raises(ConfigError, match="-1"):
        sample_questions(ds, -1)


def test_sample_with_uneven_articles() -> None:
    ds = toy_dataset(n_articles=1, per_article=5)
    ds.questions.append(EvalQuestion("lone", "?", ["x"], article="Other"))
    ds.articles["Other"] = ["p"]
    sample = sample_questions(ds, 2, seed=0)
    assert {q.article for q in sample} == {"T0", "Other"}


def test_abstention_split_is_disjoint_and_covers_all() -> None:
    ds = toy_dataset(n_articles=20, per_article=1)
    kept, held = split_for_abstention(ds, 0.1, seed=1)
    assert len(held) == 2 and len(kept) == 18
    assert not set(kept) & set(held)
    assert set(kept) | set(held) == set(ds.articles)
    assert kept == [t for t in ds.articles if t in kept]  # dataset order
    assert (kept, held) == split_for_abstention(ds, 0.1, seed=1)
    held_questions = questions_for_articles(ds, held)
    assert {q.article for q in held_questions} == set(held)


def test_abstention_split_small_datasets() -> None:
    kept, held = split_for_abstention(toy_dataset(2, 1), 0.1)
    assert len(kept) == 1 and len(held) == 1
    assert split_for_abstention(toy_dataset(1, 1), 0.5) == (["T0"], [])
    kept, held = split_for_abstention(toy_dataset(3, 1), 0.99)
    assert len(kept) == 1 and len(held) == 2
    with pytest.raises(ConfigError, match="holdout_fraction"):
        split_for_abstention(toy_dataset(3, 1), 1.0)


# --- writing the corpus --------------------------------------------------------------------------


def test_write_corpus_round_trip(tmp_path: Path) -> None:
    ds = load_dataset(write_json(tmp_path / "dev.json", squad_doc()))
    titles = list(ds.articles)
    paths = write_corpus(ds, titles, tmp_path / "corpus")
    assert [p.name for p in paths] == [article_filename(t) for t in titles]
    for title, path in zip(titles, paths, strict=True):
        text = path.read_text(encoding="utf-8")
        heading, *paragraphs = text.rstrip("\n").split("\n\n")
        assert heading == article_display_title(title)
        assert paragraphs == [p.strip() for p in ds.articles[title]]
    # Every question's gold source is a written file, holding its gold passage.
    by_name = {p.name: p.read_text(encoding="utf-8") for p in paths}
    for q in ds.questions:
        assert q.gold_passage is not None and q.gold_source is not None
        assert q.gold_passage.strip() in by_name[q.gold_source]


def test_write_corpus_unchanged_files_are_kept(tmp_path: Path) -> None:
    ds = toy_dataset(2, 1)
    (path,) = write_corpus(ds, ["T0"], tmp_path)
    before = path.stat().st_mtime_ns
    assert write_corpus(ds, ["T0", "T0"], tmp_path) == [path]
    assert path.stat().st_mtime_ns == before


def test_write_corpus_blank_lines_inside_a_paragraph(tmp_path: Path) -> None:
    ds = EvalDataset("toy", {"T": ["line one\n\n\nline two", "second"]})
    (path,) = write_corpus(ds, ["T"], tmp_path)
    assert path.read_text(encoding="utf-8") == "T\n\nline one\nline two\n\nsecond\n"


def test_write_corpus_errors(tmp_path: Path) -> None:
    ds = toy_dataset(2, 1)
    with pytest.raises(ConfigError, match="'Nope'"):
        write_corpus(ds, ["Nope"], tmp_path)
    cased = EvalDataset("toy", {"Apple": ["a"], "apple": ["b"]})
    with pytest.raises(ConfigError, match="letter case"):
        write_corpus(cased, ["Apple", "apple"], tmp_path)


# --- the real dev set ----------------------------------------------------------------------------


@needs_dev_set
def test_real_new_wiki_dev_set() -> None:
    ds = load_dataset(REAL_DATASET)
    assert len(ds.articles) == 48
    assert len(ds.questions) == 7936
    assert sum(len(p) for p in ds.articles.values()) == 1581
    assert len({q.id for q in ds.questions}) == 7936
    assert all(q.answers and q.gold_passage and q.article for q in ds.questions)
    assert len({q.gold_source for q in ds.questions}) == 48
    sample = sample_questions(ds, 20)
    assert len({q.article for q in sample}) == 20
