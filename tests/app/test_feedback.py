"""Feedback on answers: stored as JSON Lines beside the knowledge base, exported as a dev set
that ``kbqa eval`` loads (``rag.eval.devset.load_devset``) and scores (``score_row``)."""

from __future__ import annotations

import json

import pytest

from app.feedback import (
    DOWN,
    UP,
    eval_record,
    export_devset,
    export_kb_feedback,
    feedback_for,
    feedback_path,
    load_feedback,
    save_feedback,
)
from rag.cli import main as kbqa
from rag.errors import KbqaError
from rag.eval.devset import load_devset
from rag.eval.scoring import score_row
from rag.settings import Settings
from rag.store import FileRegistry
from rag.types import Answer, Citation, FileRecord, Passage

SOLAR = "Jupiter is the largest planet in the Solar System. Mars is the red planet."


def passage(text: str = SOLAR, source: str = "solar.md") -> Passage:
    return Passage(1, "c1", source, None, text, 0.9, dense_score=0.8)


def answered(question: str = "Which planet is the largest?") -> Answer:
    return Answer(
        question,
        "Jupiter is the largest planet [1].",
        [Citation(1, "solar.md", None, "Jupiter is the largest planet in the Solar System.", 0.8)],
        [passage()],
        abstained=False,
        raw_answer="Jupiter is the largest planet [1].",
    )


def refused(question: str = "What is the boiling point of nitrogen?") -> Answer:
    return Answer(question, "The documents do not say.", [], [passage()], abstained=True)


def test_ratings_are_appended_and_the_last_one_of_an_answer_wins(tmp_path):
    path = tmp_path / "kb" / "feedback.jsonl"
    save_feedback(path, feedback_for(answered(), rating=DOWN, at=1.0))
    save_feedback(path, feedback_for(refused(), rating=UP, at=2.0))
    save_feedback(path, feedback_for(answered(), rating=UP, correction=" Jupiter ", at=3.0))
    assert len(path.read_text().splitlines()) == 3  # nothing rewritten
    items = load_feedback(path)
    assert [(i.question, i.rating, i.correction) for i in items] == [
        ("What is the boiling point of nitrogen?", UP, ""),
        ("Which planet is the largest?", UP, "Jupiter"),
    ]


def test_a_broken_line_loses_only_itself(tmp_path):
    path = tmp_path / "feedback.jsonl"
    save_feedback(path, feedback_for(answered(), rating=UP))
    with path.open("a") as out:
        out.write('{"id": "fb-half", "question": "cut of')
    assert [i.rating for i in load_feedback(path)] == [UP]


def test_feedback_lives_in_the_knowledge_base_folder(tmp_path):
    settings = Settings(persist_dir=tmp_path / "store", kb="notes")
    assert feedback_path(settings) == tmp_path / "store" / "kbqa" / "notes" / "feedback.jsonl"


def test_a_follow_up_is_stored_as_its_standalone_question():
    answer = answered("And which is largest?")
    answer.standalone_question = "Which planet is the largest in the Solar System?"
    assert feedback_for(answer, rating=UP).question == answer.standalone_question


def test_what_each_rating_says_about_the_right_answer():
    up = eval_record(feedback_for(answered(), rating=UP), {"solar.md": "en"})
    assert up is not None
    assert (up["answers"], up["gold_source"], up["doc_lang"]) == (
        ["Jupiter is the largest planet."],
        "solar.md",
        "en",
    )
    assert up["evidence"] == "Jupiter is the largest planet in the Solar System."
    corrected = eval_record(feedback_for(answered(), rating=DOWN, correction="Saturn"))
    assert corrected is not None
    assert (corrected["answers"], corrected["gold_source"]) == (["Saturn"], None)
    must_refuse = eval_record(feedback_for(refused(), rating=UP))
    assert must_refuse is not None and must_refuse["answers"] == []
    assert eval_record(feedback_for(answered(), rating=DOWN)) is None
    with pytest.raises(ValueError, match="rating"):
        feedback_for(answered(), rating=5)


def test_export_loads_as_a_dev_set_and_scores(tmp_path):
    original = tmp_path / "docs" / "solar.md"
    original.parent.mkdir()
    original.write_text(SOLAR)
    items = [
        feedback_for(answered(), rating=UP),
        feedback_for(refused(), rating=UP),
        feedback_for(answered("Which planet is red?"), rating=DOWN, correction="Mars"),
        feedback_for(answered("Which is smallest?"), rating=DOWN),  # says nothing: left out
    ]
    report = export_devset(items, {"solar.md": original}, tmp_path / "out", {"solar.md": "en"})
    assert (report.questions, report.skipped, report.documents) == (3, 1, 1)

    dataset = load_devset(tmp_path / "out")
    assert (tmp_path / "out" / "corpus" / "solar.md").read_text() == SOLAR
    by_question = {q.question: q for q in dataset.questions}
    largest = by_question["Which planet is the largest?"]
    assert largest.gold_source == "solar.md" and largest.answers
    assert by_question["What is the boiling point of nitrogen?"].answers == []
    assert by_question["Which planet is red?"].answers == ["Mars"]

    # The answer that was rated up scores as correct, with its cited passage as the gold one.
    row = score_row(
        largest,
        answerable=True,
        ranked=[passage()],
        top_k=4,
        relevance_threshold=0.5,
        answer=answered(),
    )
    assert row.answer_contains_gold == 1.0 and row.given_gold is True
    wrong = answered()
    wrong.answer = "Saturn is the largest planet [1]."
    assert (
        score_row(
            largest,
            answerable=True,
            ranked=[passage()],
            top_k=4,
            relevance_threshold=0.5,
            answer=wrong,
        ).answer_contains_gold
        == 0.0
    )


def test_a_cited_file_that_is_gone_loses_its_gold_source(tmp_path):
    report = export_devset(
        [feedback_for(answered(), rating=UP)], {"solar.md": None}, tmp_path / "out"
    )
    assert report.missing == ["solar.md"]
    (question,) = load_devset(tmp_path / "out").questions
    assert question.gold_source is None and question.evidence is None


def test_kbqa_feedback_export_command(tmp_path, capsys):
    store = tmp_path / "store"
    settings = Settings(persist_dir=store, kb="notes")
    docs = store / "documents" / "notes"
    docs.mkdir(parents=True)
    (docs / "solar.md").write_text(SOLAR)
    registry = FileRegistry(settings.kb_dir / "files.sqlite")
    registry.put(FileRecord("solar.md", "sha", 10, 1, 1, "Solar", "en", 1.0, str(docs)))
    registry.close()
    with pytest.raises(KbqaError, match="no feedback yet"):
        export_kb_feedback(settings, tmp_path / "none")
    save_feedback(feedback_path(settings), feedback_for(answered(), rating=UP, kb="notes"))

    out = tmp_path / "my-eval"
    assert kbqa(["feedback", "export", "notes", str(out), "--persist-dir", str(store)]) == 0
    printed = capsys.readouterr().out
    assert "wrote 1 question(s)" in printed and f"kbqa eval {out}" in printed
    (line,) = (out / "questions.jsonl").read_text().splitlines()
    assert json.loads(line)["gold_source"] == "solar.md"
    assert load_devset(out).questions[0].doc_lang == "en"


@pytest.mark.slow
@pytest.mark.integration
def test_rating_an_answer_in_the_app_saves_it_and_it_exports(use_env, store, tmp_path):
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    app = Path(__file__).resolve().parents[2] / "app" / "streamlit_app.py"
    use_env(store)
    path = feedback_path(Settings(persist_dir=store, kb="default"))
    path.unlink(missing_ok=True)
    at = AppTest.from_file(str(app), default_timeout=300).run()
    at.chat_input(key="question").set_value("Which planet is the largest planet?").run()
    assert not at.exception, [e.value for e in at.exception]
    (thumbs,) = at.feedback
    assert thumbs.value is None and not path.exists()  # nothing is stored before a click

    thumbs.set_value(UP).run()
    (item,) = load_feedback(path)
    assert (item.question, item.rating, item.kb) == (
        "Which planet is the largest planet?",
        UP,
        "default",
    )
    assert item.model == "smollm2-135m"
    (correction,) = [w for w in at.text_input if w.key and w.key.startswith("correction-")]
    correction.input("Jupiter").run()
    (item,) = load_feedback(path)
    assert item.correction == "Jupiter" and len(path.read_text().splitlines()) == 2

    report = export_kb_feedback(Settings(persist_dir=store, kb="default"), tmp_path / "eval")
    assert report.questions == 1 and report.documents == 3
    (question,) = load_devset(tmp_path / "eval").questions
    assert question.answers == ["Jupiter"] and question.question.startswith("Which planet")
