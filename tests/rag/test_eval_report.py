"""rag.eval.report and rag.eval.plots: report.md, results.json and the PNGs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag.eval.aggregate import summarize
from rag.eval.report import write_report
from rag.eval.results import EvalResult, machine_info
from rag.eval.scoring import score_row
from tests.rag.eval_fakes import GOLD, make_answer, passage, question

PLOTS = ("hit_at_k.png", "f1_by_type.png", "latency.png")


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
        machine=machine_info(), rows=rows, started_at="2025-01-01T00:00:00", seconds=1.0,
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
