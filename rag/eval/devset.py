"""Read a development-set folder: real documents in ``corpus/`` and the questions asked of them.

The folder holds ``corpus/`` (document files, ingested as they are), ``questions.jsonl`` and,
optionally, ``conversations.jsonl``. A question line has ``id``, ``question``, ``answers`` (gold
answer phrases; an empty list means the documents do not answer it and it must be refused),
``gold_source`` (a path relative to ``corpus/``, or null), ``evidence`` (a substring of that
document's text stating the answer, or null), ``lang``, ``doc_lang`` and ``kind``; optionally
``answers_all`` (groups of variants, each of which a complete answer holds) and, for an
unanswerable question, ``topic_source`` (the document it is about: its ``doc_lang``, when not
given, is that of the other questions on that document). A conversation
line has ``id``, ``kind`` ("follow-up" or "topic-switch") and ``turns``, each turn with the
fields of a question (its ``id`` defaults to ``<conversation id>#<turn number>``).

>>> import json, tempfile
>>> from pathlib import Path
>>> root = Path(tempfile.mkdtemp())
>>> (root / "corpus").mkdir()
>>> _ = (root / "corpus" / "travel.md").write_text("Receipts are due within 45 days.")
>>> line = {"id": "t1", "question": "When are receipts due?", "answers": ["45 days"],
...         "gold_source": "travel.md", "evidence": "within 45 days", "lang": "en",
...         "doc_lang": "en", "kind": "paraphrase"}
>>> _ = (root / "questions.jsonl").write_text(json.dumps(line) + "\\n")
>>> ds = load_devset(root)
>>> ds.corpus_dir == root / "corpus", ds.questions[0].evidence, ds.conversations
(True, 'within 45 days', [])
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rag.errors import ConfigError
from rag.eval.questions import EvalConversation, EvalDataset, EvalQuestion

__all__ = ["CONVERSATIONS_FILE", "CORPUS_DIR", "QUESTIONS_FILE", "is_devset", "load_devset"]

CORPUS_DIR = "corpus"
QUESTIONS_FILE = "questions.jsonl"
CONVERSATIONS_FILE = "conversations.jsonl"


def is_devset(path: Path) -> bool:
    """Whether ``path`` is a dev-set folder, or the ``questions.jsonl`` beside a ``corpus/``.

    >>> is_devset(Path("/nonexistent"))
    False
    """
    path = Path(path)
    if path.is_dir():
        return True
    return path.name == QUESTIONS_FILE and (path.parent / CORPUS_DIR).is_dir()


def load_devset(path: Path) -> EvalDataset:
    """Read a dev-set folder (or its ``questions.jsonl``); ``ConfigError`` names any bad line."""
    root = Path(path)
    if root.is_file():
        root = root.parent
    corpus = root / CORPUS_DIR
    questions_path = root / QUESTIONS_FILE
    if not corpus.is_dir():
        raise ConfigError(f"{root}: a dataset folder needs a {CORPUS_DIR}/ folder of documents")
    if not questions_path.is_file():
        raise ConfigError(f"{root}: a dataset folder needs {QUESTIONS_FILE}")
    seen: set[str] = set()
    questions = []
    for where, record in _records(questions_path):
        question = _question(record, where, questions_path, corpus, default_id=None)
        _check_unique(question.id, seen, where, questions_path)
        questions.append(question)
    conversations = []
    conversations_path = root / CONVERSATIONS_FILE
    if conversations_path.is_file():
        for where, record in _records(conversations_path):
            conversation = _conversation(record, where, conversations_path, corpus)
            _check_unique(conversation.id, seen, where, conversations_path)
            conversations.append(conversation)
    if not questions and not conversations:
        raise ConfigError(f"{questions_path}: no questions found")
    _fill_topic_languages([*questions, *(t for c in conversations for t in c.turns)])
    return EvalDataset(
        name=root.name,
        questions=questions,
        corpus_dir=corpus,
        conversations=conversations,
    )


def _fill_topic_languages(questions: list[EvalQuestion]) -> None:
    # An unanswerable question has no gold document; the one it is about gives its language, so
    # a Chinese question about an English manual counts as cross-language.
    doc_langs = {q.gold_source: q.doc_lang for q in questions if q.gold_source and q.doc_lang}
    for q in questions:
        if q.doc_lang is None and q.topic_source is not None:
            q.doc_lang = doc_langs.get(q.topic_source)


def _answer_groups(record: dict[str, Any], where: str, path: Path) -> list[list[str]] | None:
    raw = record.get("answers_all")
    if raw is None:
        return None
    groups = raw if isinstance(raw, list) else None
    if not groups or not all(
        isinstance(g, list) and g and all(isinstance(a, str) and a.strip() for a in g)
        for g in groups
    ):
        raise ConfigError(
            f"{path}: {where}: 'answers_all' must be a non-empty list of non-empty lists of strings"
        )
    return [[a.strip() for a in g] for g in groups]


def jsonl_records(path: Path, text: str) -> list[tuple[str, dict[str, Any]]]:
    """Each non-blank line of JSON Lines ``text`` as ``("line N", object)``.

    >>> jsonl_records(Path("q.jsonl"), '{"a": 1}\\n\\n{"b": 2}')
    [('line 1', {'a': 1}), ('line 3', {'b': 2})]
    """
    records = []
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"line {line_no}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise ConfigError(f"{path}: {where} is not valid JSON ({err.msg})") from err
        if not isinstance(record, dict):
            raise ConfigError(f"{path}: {where} must be a JSON object")
        records.append((where, record))
    return records


def _records(path: Path) -> list[tuple[str, dict[str, Any]]]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path}: cannot read as UTF-8 text ({err})") from err
    return jsonl_records(path, text)


def _check_unique(item_id: str, seen: set[str], where: str, path: Path) -> None:
    if item_id in seen:
        raise ConfigError(f"{path}: {where}: duplicate id {item_id!r}")
    seen.add(item_id)


def _text(
    record: dict[str, Any], key: str, where: str, path: Path, *, required: bool
) -> str | None:
    value = record.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        need = "a non-empty string" if required else "a non-empty string or null"
        raise ConfigError(f"{path}: {where}: '{key}' must be {need}")
    return value.strip() if key != "evidence" else value


def _answers(record: dict[str, Any], where: str, path: Path) -> list[str]:
    raw = record.get("answers")
    if not isinstance(raw, list):
        raise ConfigError(f"{path}: {where}: 'answers' must be a list (empty: must be refused)")
    texts = []
    for i, answer in enumerate(raw):
        value = answer.get("text") if isinstance(answer, dict) else answer
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"{path}: {where}: answers[{i}] must be a non-empty string")
        texts.append(value.strip())
    return list(dict.fromkeys(texts))


def _question(
    record: dict[str, Any], where: str, path: Path, corpus: Path, default_id: str | None
) -> EvalQuestion:
    qid = record.get("id", default_id)
    if isinstance(qid, int) and not isinstance(qid, bool):
        qid = str(qid)
    if not isinstance(qid, str) or not qid.strip():
        raise ConfigError(f"{path}: {where}: 'id' must be a non-empty string")
    answers = _answers(record, where, path)
    gold_source = _text(record, "gold_source", where, path, required=False)
    topic_source = _text(record, "topic_source", where, path, required=False)
    for key, value in (("gold_source", gold_source), ("topic_source", topic_source)):
        if value is not None and not (corpus / value).is_file():
            raise ConfigError(f"{path}: {where}: {key} {value!r} is not in {corpus}")
    return EvalQuestion(
        id=qid,
        question=str(_text(record, "question", where, path, required=True)),
        answers=answers,
        gold_source=gold_source,
        evidence=_text(record, "evidence", where, path, required=False),
        lang=_text(record, "lang", where, path, required=False),
        doc_lang=_text(record, "doc_lang", where, path, required=False),
        kind=_text(record, "kind", where, path, required=False),
        answers_all=_answer_groups(record, where, path),
        topic_source=topic_source,
    )


def _conversation(record: dict[str, Any], where: str, path: Path, corpus: Path) -> EvalConversation:
    cid = _text(record, "id", where, path, required=True)
    turns_raw = record.get("turns")
    if not isinstance(turns_raw, list) or not turns_raw:
        raise ConfigError(f"{path}: {where}: 'turns' must be a non-empty list")
    turns = []
    for i, turn in enumerate(turns_raw, start=1):
        if not isinstance(turn, dict):
            raise ConfigError(f"{path}: {where}: turns[{i - 1}] must be an object")
        turns.append(_question(turn, f"{where}, turn {i}", path, corpus, default_id=f"{cid}#{i}"))
    kind = _text(record, "kind", where, path, required=False) or "follow-up"
    return EvalConversation(id=str(cid), kind=kind, turns=turns)
