"""rag.eval.harness and ``kbqa eval``: gold-passage rule, scoring, abstention, report, end to end."""

from __future__ import annotations

import argparse
import doctest
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from rag.errors import ConfigError
from rag.eval import harness
from rag.eval.cli import add_eval_command
from rag.eval.datasets import (
    EvalQuestion,
    article_filename,
    load_dataset,
    split_for_abstention,
)
from rag.eval.harness import (
    EvalResult,
    clean_prediction,
    default_kb_name,
    eval_settings,
    passage_is_gold,
    run_eval,
    score_row,
    summarize,
    write_report,
)
from rag.settings import Settings
from rag.types import Answer, Citation, Passage
from tests.conftest import MODEL_CACHE, SMALL

REAL_DATASET = Path(__file__).resolve().parents[2].parent / "shared/datasets/new_wiki_v1.0.json"
# The dev set sits in ../shared beside a checkout; CI always has it, so there it must be found.
needs_dev_set = pytest.mark.skipif(
    not REAL_DATASET.is_file() and "CI" not in os.environ,
    reason="../shared/datasets/new_wiki_v1.0.json is not beside this checkout",
)
PLOTS = ("hit_at_k.png", "f1_by_type.png", "latency.png")
RATE_KEYS = ("hit@1", "hit@5", "mrr", "em", "f1", "answer_f1", "refused_unanswerable",
             "refused_answerable")  # fmt: skip

# Three small articles; with chunk_size 40 every paragraph becomes its own chunk.
ARTICLES = {
    "Andes": [
        "The Andes are the longest continental mountain range in the world, about 7,000 km long.",
        "The Andes run through seven countries: Venezuela, Colombia, Ecuador, Peru, Bolivia,"
        " Chile and Argentina.",
    ],
    "Sourdough_(bread)": [
        "Sourdough bread rises because wild yeast and lactic acid bacteria ferment the dough.",
        "A sourdough starter must be fed with flour and water every day to stay active.",
    ],
    "Jupiter": [
        "Jupiter is the largest planet in the Solar System, more than twice as massive as the"
        " others combined.",
        "Jupiter has a faint ring system and at least 95 known moons, the largest being Ganymede.",
    ],
}
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


def passage(n: int, text: str, source: str, dense: float = 0.6, start: int = 10) -> Passage:
    return Passage(n=n, chunk_id=f"c{n}-{source}", source=source, page=None, text=text,
                   score=1.0 / n, dense_score=dense, metadata={"start_index": start})  # fmt: skip


# --- the gold-passage rule -----------------------------------------------------------------------

GOLD = ARTICLES["Andes"][1]


def test_docstring_examples_hold() -> None:
    from rag.eval import plots

    for module in (harness, plots):
        assert doctest.testmod(module).failed == 0


def test_chunk_inside_the_gold_paragraph_is_gold() -> None:
    whole = passage_is_gold(GOLD, "Andes.txt", gold_source="Andes.txt", gold_passage=GOLD)
    part = passage_is_gold("Peru, Bolivia,\n Chile and Argentina.", "Andes.txt",
                           gold_source="Andes.txt", gold_passage=GOLD)  # fmt: skip
    assert whole and part


def test_same_text_from_another_file_is_not_gold() -> None:
    assert not passage_is_gold(GOLD, "Jupiter.txt", gold_source="Andes.txt", gold_passage=GOLD)


def test_other_paragraph_of_the_gold_article_is_not_gold() -> None:
    other = ARTICLES["Andes"][0]
    assert not passage_is_gold(other, "Andes.txt", gold_source="Andes.txt", gold_passage=GOLD)


def test_first_line_title_is_ignored() -> None:
    with_title = f"Andes\n\n{GOLD}"
    assert passage_is_gold(with_title, "Andes.txt", gold_source="Andes.txt", gold_passage=GOLD,
                           title="Andes")  # fmt: skip
    # A chunk holding nothing but the title is no paragraph at all.
    assert not passage_is_gold("Andes", "Andes.txt", gold_source="Andes.txt", gold_passage=GOLD,
                               title="Andes")  # fmt: skip
    # Without the title known, a chunk that starts its document loses its first line.
    assert passage_is_gold(f"Some Title\n{GOLD}", "x/Andes.txt", gold_source="Andes.txt",
                           gold_passage=GOLD, starts_document=True)  # fmt: skip


def test_chunk_spanning_two_paragraphs_counts_where_most_of_it_lies() -> None:
    first, second = ARTICLES["Andes"]
    spanning = f"{first[-30:]}\n\n{second}"  # a short tail of one, all of the next
    assert passage_is_gold(spanning, "Andes.txt", gold_source="Andes.txt", gold_passage=second)
    assert not passage_is_gold(spanning, "Andes.txt", gold_source="Andes.txt", gold_passage=first)


def test_gold_by_source_alone_or_not_at_all() -> None:
    assert passage_is_gold("anything", "docs/solar.md", gold_source="solar.md", gold_passage=None)
    assert not passage_is_gold("anything", "solar.md", gold_source=None, gold_passage=None)


def test_clean_prediction_strips_prefill_and_markers() -> None:
    assert clean_prediction("Answer: Lima [1].") == "Lima."
    assert clean_prediction("根据文档，北京 [2]", "zh") == "北京"
    assert clean_prediction("") == ""


@pytest.mark.parametrize("stem", ["new_wiki_v1.0", "a", "my data (v2)!", "x" * 90, "北京"])
def test_default_kb_name_is_a_valid_kb_name(stem: str) -> None:
    name = default_kb_name(f"/data/{stem}.json")
    assert Settings(kb=name).kb == name and name.startswith("eval")


def test_eval_settings_keep_out_of_the_users_store(tmp_path: Path) -> None:
    s = eval_settings("data/dev.jsonl", tmp_path / "out", top_k=None, hybrid=False)
    assert (s.kb, s.persist_dir, s.hybrid) == ("eval-dev", tmp_path / "out" / "store", False)
    given = eval_settings("dev.json", tmp_path, kb="mine", persist_dir=tmp_path / "p", top_k=7)
    assert (given.kb, given.persist_dir, given.top_k) == ("mine", tmp_path / "p", 7)


# --- scoring and abstention accounting (pure) ----------------------------------------------------


def question(
    qid: str, answer: str, source: str = "Andes.txt", passage_text: str = GOLD
) -> EvalQuestion:
    return EvalQuestion(qid, f"Question {qid}?", [answer], source, passage_text, "Andes")


def make_answer(
    raw: str, passages: list[Passage], abstained: bool = False, cite: tuple[int, ...] = ()
) -> Answer:
    citations = [Citation(n, passages[n - 1].source, None, "", 1.0) for n in cite]
    timings = {"retrieve": 0.01, "total": 0.5} | (
        {} if abstained and not raw else {"first_token": 0.2}
    )
    answer_text = "The documents do not contain the answer." if abstained else raw
    return Answer(question="?", answer=answer_text, citations=citations, passages=passages,
                  abstained=abstained, timings=timings, raw_answer=raw)  # fmt: skip


def test_score_row_ranks_answer_and_citations() -> None:
    ranked = [passage(1, ARTICLES["Andes"][0], "Andes.txt"), passage(2, GOLD, "Andes.txt"),
              passage(3, "Jupiter is big.", "Jupiter.txt")]  # fmt: skip
    answer = make_answer("seven [2]", ranked, cite=(1, 2))
    row = score_row(question("q", "seven"), answerable=True, ranked=ranked, top_k=2,
                    relevance_threshold=0.25, answer=answer)  # fmt: skip
    assert (row.hit_rank, row.doc_rank) == (2, 1)
    assert [r["gold"] for r in row.retrieved] == [False, True, False]
    assert (row.prediction, row.em, row.f1) == ("seven", 1.0, 1.0)
    assert row.citation_precision == 0.5 and row.citation_recall == 1.0
    assert row.timings["first_token"] == 0.2


def test_abstention_accounting() -> None:
    hit = [passage(1, GOLD, "Andes.txt", dense=0.7)]
    far = [passage(1, "Quito is high.", "Ecuador.txt", dense=0.1)]
    rows = [
        # answerable: one answered right, one wrongly refused by the model
        score_row(question("a1", "seven"), answerable=True, ranked=hit, top_k=4,
                  relevance_threshold=0.25, answer=make_answer("seven [1]", hit, cite=(1,))),
        score_row(question("a2", "seven"), answerable=True, ranked=hit, top_k=4,
                  relevance_threshold=0.25, answer=make_answer("I don't know.", hit, abstained=True)),
        # unanswerable: one refused at the similarity gate, one answered anyway
        score_row(question("u1", "x", "Gone.txt"), answerable=False, ranked=far, top_k=4,
                  relevance_threshold=0.25, answer=make_answer("", far, abstained=True)),
        score_row(question("u2", "x", "Gone.txt"), answerable=False, ranked=hit, top_k=4,
                  relevance_threshold=0.25, answer=make_answer("seven", hit)),
    ]  # fmt: skip
    summary = summarize(rows, depth=5, generate=True)
    m = summary["metrics"]
    assert m["refused_unanswerable"] == 0.5 and m["refused_answerable"] == 0.5
    assert m["gate_refused_unanswerable"] == 0.5 and m["gate_refused_answerable"] == 0.0
    assert m["em"] == 0.5 and m["f1_answered"] == 1.0  # a refusal scores 0, answered ones count
    assert m["hit@1"] == m["hit@5"] == m["mrr"] == 1.0
    assert m["citation_precision"] == 1.0 and m["cited_answers"] == 1.0
    assert summary["counts"] == {"questions": 4, "answerable": 2, "unanswerable": 2,
                                 "with_gold": 2, "answered": 1, "errors": 0}  # fmt: skip
    assert summary["hit_curve"] == [1.0] * 5
    assert summary["latency"]["total"]["n"] == 4 and summary["latency"]["first_token"]["n"] == 3


def test_retrieval_only_summary_leaves_answer_metrics_empty() -> None:
    ranked = [passage(i, "Other text entirely.", "Andes.txt") for i in (1, 2, 3)]
    ranked.append(passage(4, GOLD, "Andes.txt"))
    row = score_row(question("q", "seven"), answerable=True, ranked=ranked, top_k=4,
                    relevance_threshold=0.25, retrieve_seconds=0.02)  # fmt: skip
    m = summarize([row], depth=5, generate=False)["metrics"]
    assert (m["hit@1"], m["hit@5"], m["mrr"]) == (0.0, 1.0, 0.25)
    assert m["f1"] is None and m["refused_unanswerable"] is None
    assert row.timings == {"retrieve": 0.02}


# --- report and CLI parsing ----------------------------------------------------------------------


def fake_result(generate: bool = True) -> EvalResult:
    hit = [passage(1, GOLD, "Andes.txt")]
    rows = [
        score_row(question(f"q{i}", "seven"), answerable=i < 3, ranked=hit, top_k=4,
                  relevance_threshold=0.25,
                  answer=make_answer("seven", hit, cite=(1,)) if generate else None,
                  retrieve_seconds=0.01 * i)
        for i in range(4)
    ]  # fmt: skip
    s = summarize(rows, depth=5, generate=generate)
    return EvalResult(
        dataset="dev.json", dataset_name="dev", generate=generate, depth=5,
        metrics=s["metrics"], hit_curve=s["hit_curve"], doc_hit_curve=s["doc_hit_curve"],
        by_type=s["by_type"], latency=s["latency"], counts=s["counts"],
        settings={"kb": "eval-dev", "top_k": 4}, knowledge_base={"name": "eval-dev"},
        machine=harness.machine_info(), rows=rows, started_at="2025-01-01T00:00:00", seconds=1.0,
        command="kbqa eval dev.json --limit 3",
    )  # fmt: skip


@pytest.mark.parametrize("generate", [True, False])
def test_write_report_writes_markdown_json_and_plots(tmp_path: Path, generate: bool) -> None:
    pytest.importorskip("matplotlib")
    outputs = write_report(fake_result(generate), tmp_path / "out")
    assert outputs.warnings == []
    assert sorted(p.name for p in outputs.plots) == sorted(PLOTS)
    for path in outputs.plots:
        assert path.read_bytes().startswith(b"\x89PNG")
    report = outputs.report.read_text(encoding="utf-8")
    assert "| retrieval hit@1 (gold paragraph) | 1.000 |" in report
    assert "`kbqa eval dev.json --limit 3`" in report and "cpu_count" in report
    assert ("token F1 (raw answer)" in report) is generate
    payload = json.loads(outputs.results.read_text(encoding="utf-8"))
    assert payload["metrics"]["hit@1"] == 1.0 and len(payload["rows"]) == 4
    assert set(payload["rows"][0]) >= {"id", "question", "golds", "prediction", "abstained",
                                       "hit_rank", "f1", "em", "citation_precision", "timings"}  # fmt: skip


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="kbqa")
    sub = parser.add_subparsers(dest="command")

    def common(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--kb")
        p.add_argument("--persist-dir")
        return p

    add_eval_command(sub, common)
    return parser.parse_args(["eval", *argv])


def test_cli_options() -> None:
    args = parse("dev.json", "--limit", "5", "--no-generate", "--hybrid", "--top-k", "3",
                 "--llm-model", "smollm2-135m", "--seed", "2", "--kb", "x-eval")  # fmt: skip
    assert (args.limit, args.generate, args.hybrid, args.top_k, args.seed) == (5, False, True, 3, 2)
    assert (args.llm_model, args.kb, args.out) == ("smollm2-135m", "x-eval", None)
    assert parse("dev.json").hybrid is None and parse("dev.json").generate is True
    for bad in (["--limit", "-1"], ["--hybrid", "--dense-only"]):
        with pytest.raises(SystemExit):
            parse("dev.json", *bad)


def test_missing_dataset_is_one_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from rag.cli import main

    code = main(["eval", str(tmp_path / "nope.json"), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 1 and "dataset file not found" in err and "Traceback" not in err


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
            # Each paragraph is its own chunk and every chunk is retrieved: exactly one is gold.
            assert sum(r["gold"] for r in row.retrieved) == 1 and row.hit_rank is not None
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
