"""rag.eval.devset: reading a dev-set folder (corpus/ + questions.jsonl + conversations.jsonl)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag.errors import ConfigError
from rag.eval.datasets import load_dataset
from rag.eval.devset import is_devset, load_devset
from tests.rag.eval_fakes import write_devset


def test_folder_reads_questions_and_conversations(tmp_path: Path) -> None:
    ds = load_devset(write_devset(tmp_path / "dev"))
    assert ds.name == "dev" and ds.corpus_dir == tmp_path / "dev" / "corpus"
    assert [q.id for q in ds.questions] == ["en1", "en2", "en3", "zh1", "x1"]
    unanswerable = ds.questions[2]
    assert unanswerable.answers == [] and not unanswerable.answerable
    assert unanswerable.gold_source is None and unanswerable.evidence is None
    cross = ds.questions[4]
    assert (cross.lang, cross.doc_lang, cross.kind) == ("zh", "en", "cross-lingual")
    assert cross.gold_source == "en/travel.md" and cross.evidence == "within 45 days"
    assert [c.kind for c in ds.conversations] == ["follow-up", "topic-switch"]
    turns = ds.conversations[0].turns
    assert [t.id for t in turns] == ["c1#1", "c1#2"] and turns[1].answers == ["45 days"]
    assert ds.articles == {}


def test_load_dataset_takes_the_folder_or_its_questions_file(tmp_path: Path) -> None:
    root = write_devset(tmp_path / "dev", conversations=False)
    assert is_devset(root) and is_devset(root / "questions.jsonl")
    for path in (root, root / "questions.jsonl"):
        ds = load_dataset(path)
        assert ds.corpus_dir == root / "corpus" and len(ds.questions) == 5
        assert ds.conversations == []
    # A JSON Lines file elsewhere is still a plain question list.
    (tmp_path / "qa.jsonl").write_text('{"question": "Q?", "answers": ["a"]}\n', encoding="utf-8")
    assert not is_devset(tmp_path / "qa.jsonl")
    assert load_dataset(tmp_path / "qa.jsonl").corpus_dir is None


def _rewrite(root: Path, **changes: object) -> None:
    path = root / "questions.jsonl"
    first, *rest = path.read_text(encoding="utf-8").splitlines()
    record = json.loads(first) | changes
    path.write_text("\n".join([json.dumps(record), *rest]), encoding="utf-8")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"answers": "45 days"}, "'answers' must be a list"),
        ({"gold_source": "en/missing.md"}, "gold_source 'en/missing.md' is not in"),
        ({"id": "en2"}, "duplicate id 'en2'"),
        ({"question": " "}, "'question' must be a non-empty string"),
        ({"evidence": 3}, "'evidence' must be a non-empty string or null"),
    ],
)
def test_bad_lines_are_one_clear_error(tmp_path: Path, changes: dict, message: str) -> None:
    root = write_devset(tmp_path / "dev")
    _rewrite(root, **changes)
    with pytest.raises(ConfigError, match=message) as err:
        load_devset(root)
    assert "questions.jsonl: line " in str(err.value)


def test_folder_without_corpus_or_questions(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="corpus/ folder"):
        load_dataset(tmp_path / "empty")
    (tmp_path / "empty" / "corpus").mkdir()
    with pytest.raises(ConfigError, match="needs questions.jsonl"):
        load_dataset(tmp_path / "empty")


def test_conversation_needs_turns(tmp_path: Path) -> None:
    root = write_devset(tmp_path / "dev")
    (root / "conversations.jsonl").write_text('{"id": "c9", "turns": []}\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="'turns' must be a non-empty list"):
        load_devset(root)


def test_unanswerable_question_takes_the_language_of_its_topic_document(tmp_path: Path) -> None:
    root = write_devset(tmp_path / "dev")
    lines = (root / "questions.jsonl").read_text(encoding="utf-8").splitlines()
    extra = {"id": "zx", "question": "年假可以折现吗？", "answers": [], "gold_source": None,
             "evidence": None, "lang": "zh", "doc_lang": None, "kind": "unanswerable",
             "topic_source": "en/travel.md"}  # fmt: skip
    lines.append(json.dumps(extra, ensure_ascii=False))
    (root / "questions.jsonl").write_text("\n".join(lines), encoding="utf-8")
    q = {q.id: q for q in load_devset(root).questions}
    assert q["zx"].topic_source == "en/travel.md" and q["zx"].doc_lang == "en"
    assert q["en3"].doc_lang is None  # no topic document: grouped by its own language


def test_answers_all_groups_are_read_and_checked(tmp_path: Path) -> None:
    root = write_devset(tmp_path / "dev")
    _rewrite(root, answers_all=[["45 days", "45天"], ["receipts"]])
    assert load_devset(root).questions[0].answers_all == [["45 days", "45天"], ["receipts"]]
    _rewrite(root, answers_all=[[]])
    with pytest.raises(ConfigError, match="'answers_all' must be"):
        load_devset(root)
    _rewrite(root, answers_all=None, topic_source="en/nowhere.md")
    with pytest.raises(ConfigError, match="topic_source 'en/nowhere.md' is not in"):
        load_devset(root)
