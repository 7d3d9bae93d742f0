"""rag.eval.harness (``run_eval``): building the eval knowledge base, asking, end to end.

Fast tests run the harness over ``FakeKb`` (no model); the slow ones over the real small models."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from rag.errors import ConfigError
from rag.eval import harness
from rag.eval.datasets import (
    article_filename,
    load_dataset,
    split_for_abstention,
)
from rag.eval.gold import EVIDENCE_RULE
from rag.eval.harness import eval_settings, run_eval, write_report
from rag.settings import Settings
from tests.conftest import MODEL_CACHE, SMALL
from tests.rag.eval_fakes import ARTICLES, FakeKb, write_devset

REAL_DATASET = Path(__file__).resolve().parents[2].parent / "shared/datasets/new_wiki_v1.0.json"
# The dev set sits in ../shared beside a checkout; CI always has it, so there it must be found.
needs_dev_set = pytest.mark.skipif(
    not REAL_DATASET.is_file() and "CI" not in os.environ,
    reason="../shared/datasets/new_wiki_v1.0.json is not beside this checkout",
)
PLOTS = ("hit_at_k.png", "f1_by_type.png", "latency.png")
RATE_KEYS = ("hit@1", "hit@5", "mrr", "em", "f1", "answer_f1", "refused_unanswerable",
             "refused_answerable")  # fmt: skip

QUESTIONS = {
    "Andes": [
        (0, "How long is the Andes mountain range?", "about 7,000 km"),
        (1, "How many countries do the Andes run through?", "seven"),
    ],
    "Sourdough_(bread)": [
        (0, "Why does sourdough bread rise?", "wild yeast and lactic acid bacteria"),
        (1, "What must a sourdough starter be fed with every day?", "flour and water"),
        (1, "How often must a sourdough starter be fed?", "every day"),
    ],
    "Jupiter": [
        (0, "Which is the largest planet in the Solar System?", "Jupiter"),
        (1, "What is the largest moon of Jupiter?", "Ganymede"),
        (1, "How many known moons does Jupiter have?", "at least 95"),
    ],
}
TINY = {"chunk_size": 40, "chunk_overlap": 0}


def squad_json() -> dict[str, Any]:
    data = []
    for title, paragraphs in ARTICLES.items():
        qas: list[list[dict[str, Any]]] = [[] for _ in paragraphs]
        for i, (p, question, answer) in enumerate(QUESTIONS[title]):
            start = paragraphs[p].find(answer)
            qas[p].append(
                {
                    "id": f"{title}-{i}",
                    "question": question,
                    "answers": [{"text": answer, "answer_start": start}],
                }
            )
        data.append(
            {
                "title": title,
                "paragraphs": [
                    {"context": c, "qas": q} for c, q in zip(paragraphs, qas, strict=True)
                ],
            }
        )
    return {"version": "1.1", "data": data}


@pytest.fixture
def tiny_dataset(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(squad_json()), encoding="utf-8")
    return path


# --- a dev-set folder over a fake knowledge base (fast) ------------------------------------------

REPLIES = {
    "How long do I have to hand in my travel receipts?": "You have 45 days.",
    "Which class must I fly on flights under six hours?": "I don't know",  # wrongly refused
    "What does the licence cost?": "",  # rightly refused
    "员工每年有几天带薪年假？": "每年十五天。",
    "报销单据要在多少天内上传？ receipts uploaded days": "30天",  # wrong
    "And the receipts, by when?": "Within 45 days of the trip.",
    "How many days must receipts be uploaded within?": "45 days",
    "病假需要什么？": "需要医生证明。",
}


def reply(question: str, history: list, passages: list) -> str:
    return REPLIES[question]


@pytest.fixture
def devset(tmp_path: Path) -> Path:
    return write_devset(tmp_path / "realistic")


def fake_run(devset: Path, out: Path, **kwargs: Any) -> tuple[Any, FakeKb]:
    kb = FakeKb(eval_settings(devset, out), respond=reply)
    return run_eval(devset, kb=kb, out_dir=out, **{"limit": None, **kwargs}), kb


def test_folder_dataset_is_ingested_as_is_and_scored_by_language(devset, tmp_path):
    result, kb = fake_run(devset, tmp_path / "out")
    assert result.dataset_kind == "folder" and result.gold_rule == EVIDENCE_RULE
    info = result.knowledge_base
    assert info["corpus_dir"] == str(devset / "corpus") and info["files_added"] == 2
    assert {r.source for r in kb.documents()} == {"en/travel.md", "zh/leave.txt"}
    assert not (tmp_path / "out" / "corpus").exists()  # nothing written: the corpus as it is
    assert result.counts["answerable"] == 4 and result.counts["unanswerable"] == 1
    assert result.counts["conversations"] == 2 and result.counts["conversation_turns"] == 4
    g = result.groups
    assert list(g) == ["all questions", "en", "zh", "cross-language", "conversations"]
    assert (g["en"]["answer_contains_gold"], g["en"]["refused_answerable"]) == (0.5, 0.5)
    assert g["en"]["refused_unanswerable"] == 1.0 and g["en"]["given_gold"] == 1.0
    assert g["zh"]["answer_contains_gold"] == 1.0 and g["zh"]["citation_precision"] == 1.0
    assert g["cross-language"]["answer_contains_gold"] == 0.0
    assert g["conversations"]["answer_contains_gold"] == 0.75  # "Within 45 days" misses "Economy"
    assert result.by_kind["unanswerable"]["refused_unanswerable"] == 1.0


def test_conversations_are_asked_turn_by_turn_with_the_history(devset, tmp_path):
    result, kb = fake_run(devset, tmp_path / "out")
    asked = dict(kb.asked[-4:])  # the conversations come after the single questions
    assert asked["Which class must I fly on flights under six hours?"] == []
    assert asked["And the receipts, by when?"] == [
        ("user", "Which class must I fly on flights under six hours?"),
        ("assistant", "The documents do not say."),
    ]
    assert asked["病假需要什么？"][0] == ("user", "How many days must receipts be uploaded within?")
    turns = [r for r in result.rows if r.conversation == "c1"]
    assert [t.turn for t in turns] == [1, 2] and turns[1].kind == "follow-up"
    assert turns[0].standalone_question is None
    assert turns[1].standalone_question.startswith("And the receipts, by when?")
    assert turns[1].answer_contains_gold == 1.0 and turns[1].given_gold is True


def test_limit_caps_answerable_refusal_questions_and_conversations(devset, tmp_path):
    result, _ = fake_run(devset, tmp_path / "out", limit=1)
    assert result.counts["answerable"] == 1 and result.counts["unanswerable"] == 1
    assert result.counts["conversations"] == 2  # max(2, 1 // 4)
    again, _ = fake_run(devset, tmp_path / "out2", limit=1)
    assert [r.id for r in again.rows] == [r.id for r in result.rows]  # one seed, one sample


def test_a_small_limit_takes_every_language_group(devset, tmp_path):
    for seed in range(6):
        result, _ = fake_run(devset, tmp_path / f"out{seed}", limit=3, generate=False, seed=seed)
        singles = [r for r in result.rows if r.conversation is None and r.answerable]
        assert {(r.lang, r.doc_lang) for r in singles} == {("en", "en"), ("zh", "zh"), ("zh", "en")}


def test_without_generation_nothing_is_asked(devset, tmp_path):
    result, kb = fake_run(devset, tmp_path / "out", generate=False)
    assert kb.asked == []
    assert result.groups["en"]["given_gold"] == 1.0
    assert result.groups["en"]["answer_contains_gold"] is None
    assert result.metrics["refused_unanswerable"] is None


def test_folder_report_has_the_targets_table_and_method(devset, tmp_path):
    pytest.importorskip("matplotlib")
    result, _ = fake_run(devset, tmp_path / "out")
    outputs = write_report(result, tmp_path / "out")
    report = outputs.report.read_text(encoding="utf-8")
    assert "| set | questions | passage given to the model | answer contains gold |" in report
    assert "| en | 3 | 1.000 | 0.500 | 0.500 | 1.000 |" in report
    assert "| conversations | 4 |" in report and "## By kind" in report
    assert "| retrieval hit@1 (gold passage) | 0.750 | 4 |" in report
    assert EVIDENCE_RULE in report and "must be refused" in report
    assert "Answer contains gold" in report and "held out" not in report.lower()
    payload = json.loads(outputs.results.read_text(encoding="utf-8"))
    assert payload["groups"]["zh"]["answer_contains_gold"] == 1.0
    assert payload["rows"][-1]["conversation"] == "c2" and payload["rows"][-1]["turn"] == 2


def test_article_dataset_holds_out_articles_over_a_fake_kb(tiny_dataset, tmp_path):
    out = tmp_path / "out"
    kb = FakeKb(eval_settings(tiny_dataset, out))
    result = run_eval(tiny_dataset, kb=kb, limit=4, out_dir=out, generate=False)
    held = result.knowledge_base["held_out_articles"]
    assert len(held) == 1 and result.dataset_kind == "articles"
    assert {r.source for r in kb.documents()} == {
        article_filename(t) for t in ARTICLES if t not in held
    }
    assert result.counts["answerable"] == 4 and result.counts["unanswerable"] == 2
    assert all(r.hit_rank is None for r in result.rows if not r.answerable)
    # The retrieval settings that decide what is found are written with the results.
    assert result.settings["fusion"] == "score" and result.settings["translate_queries"] is False
    assert result.settings["keyword_score_weight"] == 0.4 and "language_fusion" in result.settings


# --- a real knowledge base: the small hand-made dataset ------------------------------------------


def tiny_settings(dataset: Path, out: Path, **extra: Any) -> Settings:
    return eval_settings(dataset, out, **{**SMALL, **TINY, **extra})


@pytest.mark.integration
@pytest.mark.slow
def test_tiny_dataset_holds_out_articles_and_matches_gold_paragraphs(
    tiny_dataset, tmp_path, models
):
    ds = load_dataset(tiny_dataset)
    kept, held = split_for_abstention(ds, harness.HOLDOUT_FRACTION, seed=0)
    assert len(kept) == 2 and len(held) == 1
    out = tmp_path / "out"
    settings = tiny_settings(tiny_dataset, out)
    result = run_eval(tiny_dataset, settings, limit=4, out_dir=out, generate=False, models=models)

    from rag.kb import KnowledgeBase

    kb = KnowledgeBase(settings, models=models)
    assert {r.source for r in kb.documents()} == {article_filename(t) for t in kept}
    assert result.knowledge_base["files_added"] == 2 and result.knowledge_base["chunks"] >= 4
    assert result.counts["answerable"] == 4 and result.counts["unanswerable"] == 2  # max(2, 4 // 4)
    held_files = {article_filename(t) for t in held}
    for row in result.rows:
        assert (row.gold_source in held_files) is (not row.answerable)
        if row.answerable:
            # Each paragraph is its own chunk and every chunk is retrieved: one is gold, and the
            # document card too when the paragraph opens its article (the card quotes it).
            assert 1 <= sum(r["gold"] for r in row.retrieved) <= 2 and row.hit_rank is not None
            assert row.doc_rank is not None and row.doc_rank <= row.hit_rank
        else:
            assert row.hit_rank is None and row.doc_rank is None
    assert result.metrics["hit@5"] == 1.0 and result.metrics["f1"] is None

    again = run_eval(tiny_dataset, settings, limit=None, out_dir=out, generate=False, models=models)
    assert again.knowledge_base["files_unchanged"] == 2 and again.knowledge_base["files_added"] == 0
    assert again.counts["unanswerable"] == len(QUESTIONS[held[0]])  # no limit: all of them


@pytest.mark.integration
@pytest.mark.slow
def test_held_out_article_is_removed_from_a_shared_store(tiny_dataset, tmp_path, models):
    ds = load_dataset(tiny_dataset)
    held_by_seed = {
        seed: split_for_abstention(ds, harness.HOLDOUT_FRACTION, seed=seed)[1] for seed in range(20)
    }
    first = 0
    second = next(s for s, held in held_by_seed.items() if held != held_by_seed[first])
    store = tmp_path / "shared-store"
    from rag.kb import KnowledgeBase

    for seed, out in ((first, tmp_path / "one"), (second, tmp_path / "two")):
        settings = tiny_settings(tiny_dataset, out, persist_dir=store)
        run_eval(
            tiny_dataset, settings, limit=2, out_dir=out, generate=False, seed=seed, models=models
        )
        sources = {r.source for r in KnowledgeBase(settings, models=models).documents()}
        assert article_filename(held_by_seed[seed][0]) not in sources and len(sources) == 2


@pytest.mark.integration
@pytest.mark.slow
def test_jsonl_without_passages_asks_an_existing_kb(tmp_path, docs, make_kb, models):
    kb = make_kb(kb="notes")
    kb.ingest(docs)
    dataset = tmp_path / "qa.jsonl"
    lines = [
        {
            "question": "Which planet is the largest planet?",
            "answers": ["Jupiter"],
            "source": "solar.md",
        },
        {"question": "Why does sourdough bread rise?", "answers": ["wild yeast"]},
    ]
    dataset.write_text("\n".join(json.dumps(x) for x in lines), encoding="utf-8")
    settings = eval_settings(
        dataset, tmp_path / "o", kb="notes", persist_dir=kb.settings.persist_dir, **SMALL
    )
    result = run_eval(
        dataset, settings, limit=None, out_dir=tmp_path / "o", generate=False, models=models
    )
    assert result.counts == {"questions": 2, "answerable": 2, "unanswerable": 0, "with_gold": 1,
                             "answered": 0, "errors": 0}  # fmt: skip
    assert result.knowledge_base["corpus_dir"] is None
    assert result.metrics["hit@1"] == 1.0  # only the question with a gold source is scored


def test_shared_models_must_match_the_eval_settings(tiny_dataset, tmp_path, models):
    settings = eval_settings(tiny_dataset, tmp_path, **{**SMALL, "llm_model": "qwen2.5-coder-0.5b"})
    with pytest.raises(ConfigError, match="generator"):
        run_eval(tiny_dataset, settings, limit=1, out_dir=tmp_path, models=models)


@pytest.mark.integration
@pytest.mark.slow
def test_folder_dataset_end_to_end_with_the_small_models(tmp_path, models):
    """kbqa eval on a dev-set folder: real ingest of corpus/, real chain, every turn scored."""
    pytest.importorskip("matplotlib")
    devset = write_devset(tmp_path / "realistic")
    out = tmp_path / "out"
    settings = eval_settings(devset, out, **{**SMALL, "max_new_tokens": 24})
    result = run_eval(devset, settings, limit=None, out_dir=out, models=models)
    assert result.knowledge_base["files_added"] == 2 and result.knowledge_base["chunks"] >= 2
    from rag.kb import KnowledgeBase

    sources = {r.source for r in KnowledgeBase(settings, models=models).documents()}
    assert sources == {"en/travel.md", "zh/leave.txt"}
    turns = [r for r in result.rows if r.conversation is not None]
    assert len(turns) == 4 and all(r.abstained is not None for r in turns)
    second = next(r for r in turns if r.conversation == "c1" and r.turn == 2)
    assert second.standalone_question  # asked with the first turn as history
    assert set(result.groups) >= {"en", "zh", "cross-language", "conversations"}
    outputs = write_report(result, out)
    assert "| conversations | 4 |" in outputs.report.read_text(encoding="utf-8")


# --- the real development set, end to end --------------------------------------------------------


@pytest.fixture(scope="module")
def dev_run(tmp_path_factory, models):
    root = tmp_path_factory.mktemp("eval-dev")
    out = root / "out"
    settings = eval_settings(REAL_DATASET, out, **{**SMALL, "max_new_tokens": 32})
    result = run_eval(REAL_DATASET, settings, limit=20, out_dir=out, models=models)
    outputs = write_report(result, out)
    return root, result, outputs


@pytest.mark.integration
@pytest.mark.slow
@needs_dev_set
def test_dev_set_end_to_end(dev_run):
    pytest.importorskip("matplotlib")
    _root, result, outputs = dev_run
    assert outputs.report.is_file() and outputs.results.is_file()
    assert all((outputs.report.parent / name).is_file() for name in PLOTS)
    payload = json.loads(outputs.results.read_text(encoding="utf-8"))
    for key in RATE_KEYS:
        assert 0.0 <= payload["metrics"][key] <= 1.0, key
    assert payload["metrics"]["hit@5"] > 0.3
    assert payload["counts"]["answerable"] == 20 and payload["counts"]["unanswerable"] == 5
    assert payload["knowledge_base"]["articles"] == 43 and len(payload["rows"]) == 25
    assert {"retrieve", "first_token", "total"} <= set(payload["latency"])
    row = next(r for r in payload["rows"] if r["answerable"] and not r["abstained"])
    assert row["prediction"] and not row["prediction"].startswith("According to the context")


@pytest.mark.integration
@pytest.mark.slow
@needs_dev_set
def test_dev_set_cli_reuses_the_ingested_kb(dev_run):
    root, result, _outputs = dev_run
    out = root / "cli-out"
    env = {**os.environ, "KBQA_MODEL_CACHE_DIR": str(MODEL_CACHE), "KBQA_LLM_MODEL": "smollm2-135m"}
    proc = subprocess.run(
        [sys.executable, "-m", "rag.cli", "eval", str(REAL_DATASET), "--limit", "3",
         "--no-generate", "--persist-dir", result.knowledge_base["persist_dir"], "--out", str(out)],
        capture_output=True, text=True, env=env, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "| retrieval hit@5 (gold paragraph) |" in proc.stdout
    assert f"wrote {out / 'report.md'}" in proc.stdout and "Traceback" not in proc.stderr
    payload = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert payload["knowledge_base"]["files_added"] == 0
    assert payload["knowledge_base"]["files_unchanged"] == 43
    assert payload["generate"] is False and payload["metrics"]["f1"] is None
    assert "--no-generate" in (out / "report.md").read_text(encoding="utf-8")
