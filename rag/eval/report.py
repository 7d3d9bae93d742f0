"""Write an eval result: report.md (metrics, targets table, method), results.json and the plots.

>>> print(targets_table({"en": {"n": 3, "given_gold": 1.0, "answer_contains_gold": 0.5,
...     "refused_answerable": 0.0, "refused_unanswerable": None, "citation_precision": 1.0}}))
| set | questions | passage given to the model | answer contains gold | answerable refused | unanswerable refused | citation precision |
|---|---:|---:|---:|---:|---:|---:|
| en | 3 | 1.000 | 0.500 | 0.000 | n/a | 1.000 |
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rag.errors import ConfigError
from rag.eval import plots
from rag.eval.aggregate import GENERATION_METRICS, TARGET_COLUMNS
from rag.eval.datasets import HOLDOUT_FRACTION
from rag.eval.results import EvalResult

__all__ = [
    "EvalOutputs",
    "render_markdown",
    "summary_table",
    "targets_table",
    "write_report",
]

_METRIC_LABELS: tuple[tuple[str, str, str], ...] = (
    ("hit@1", "retrieval hit@1 (gold paragraph)", "with_gold"),
    ("hit@5", "retrieval hit@5 (gold paragraph)", "with_gold"),
    ("mrr", "retrieval MRR (gold paragraph)", "with_gold"),
    ("doc_hit@1", "retrieval hit@1 (gold article)", "with_gold"),
    ("doc_hit@5", "retrieval hit@5 (gold article)", "with_gold"),
    ("given_gold", "gold passage given to the model", "with_gold"),
    ("em", "exact match (raw answer)", "answerable"),
    ("f1", "token F1 (raw answer)", "answerable"),
    ("f1_answered", "token F1 (raw answer, answered only)", "answered"),
    ("answer_em", "exact match (cited answer)", "answerable"),
    ("answer_f1", "token F1 (cited answer)", "answerable"),
    ("answer_contains_gold", "answer contains gold (cited answer)", "answerable"),
    ("answer_complete", "answer contains every part (list questions)", "with_parts"),
    ("citation_precision", "citation precision", "answered"),
    ("citation_recall", "citation recall", "answered"),
    ("cited_answers", "answers with a citation", "answered"),
    ("refused_unanswerable", "refused, not answerable (correct)", "unanswerable"),
    ("refused_answerable", "refused, answerable (wrong)", "answerable"),
    ("gate_refused_unanswerable", "evidence gate refuses, not answerable", "unanswerable"),
    ("gate_refused_answerable", "evidence gate refuses, answerable", "answerable"),
)


def _fmt(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def summary_table(result: EvalResult) -> str:
    """The metrics as a Markdown table (what the CLI prints at the end), then the targets table."""
    lines = ["| metric | value | questions |", "|---|---:|---:|"]
    for key, label, over in _METRIC_LABELS:
        if result.dataset_kind == "folder":  # real documents have passages, not paragraphs
            label = label.replace("gold paragraph", "gold passage").replace("article", "document")
        value = result.metrics.get(key)
        if value is None and key in GENERATION_METRICS and not result.generate:
            continue
        if over not in result.counts and over == "with_parts":  # no list questions asked
            continue
        lines.append(f"| {label} | {_fmt(value)} | {result.counts.get(over, 0)} |")
    for stage, stats in result.latency.items():
        lines.append(
            f"| latency {stage.replace('_', ' ')} p50 / p95 (s) |"
            f" {stats['p50']:.3f} / {stats['p95']:.3f} | {stats['n']} |"
        )
    if len(result.groups) > 1:  # "all questions" alone repeats the metrics above
        lines += ["", targets_table(result.groups)]
    return "\n".join(lines)


def targets_table(groups: dict[str, dict[str, Any]], first: str = "set") -> str:
    """The columns of the targets table, one row per group (``aggregate.group_rows``)."""
    head = " | ".join(label for _, label in TARGET_COLUMNS)
    lines = [f"| {first} | questions | {head} |", "|---|---:|" + "---:|" * len(TARGET_COLUMNS)]
    for name, g in groups.items():
        cells = " | ".join(_fmt(g.get(key)) for key, _ in TARGET_COLUMNS)
        lines.append(f"| {name} | {g['n']} | {cells} |")
    return "\n".join(lines)


def _md_cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def _refusal_method(result: EvalResult) -> str:
    if result.dataset_kind == "folder":
        return (
            "- Refusal: a question (or turn) whose `answers` list is empty is not answered by the"
            " documents and must be refused (`Answer.abstained`); the others must be answered."
            " The evidence gate is the chain's first check (evidence score under"
            " `relevance_threshold`)."
        )
    if result.dataset_kind == "questions":
        return "- Refusal: every question is answerable; refusing one is wrong."
    return (
        f"- Refusal: {HOLDOUT_FRACTION:.0%} of the articles are held out of the knowledge base;"
        " their questions should be refused (`Answer.abstained`). The evidence gate is the"
        " chain's first check (evidence score under `relevance_threshold`)."
    )


def _method(result: EvalResult) -> list[str]:
    out = [
        "## How it is scored",
        "",
        f"- Gold passage: {result.gold_rule}",
        f"- Retrieval ranks the top {result.depth} passages per question (max(top_k, 5)); MRR is"
        " over those. The chain itself reads the top `top_k`.",
        "- Passage given to the model: a gold passage is among the passages the chain retrieved"
        " for the answer (`Answer.passages`); without generation, among the first `top_k`"
        " ranked. Answerable questions with a gold document or evidence only.",
        "- Answers: SQuAD v1.1 exact match and token F1 against every gold answer (best one),"
        " on `raw_answer` with the prompt's prefill and `[n]` markers removed; a refusal scores 0."
        " The cited answer (`answer`) is scored the same way for comparison.",
        "- Answer contains gold: the normalised cited answer contains a normalised gold answer as"
        " a whole run of tokens (SQuAD normalisation; Chinese is compared character by"
        " character, without spaces or punctuation); a refusal scores 0.",
        "- Citations: a cited passage is correct when it contains a gold answer"
        + (" or is a gold passage by the rule above" if result.dataset_kind == "folder" else "")
        + " (precision); recall is cited correct passages over read passages that are correct."
        " Answered, answerable questions only.",
        _refusal_method(result),
    ]
    if result.groups and len(result.groups) > 1:
        out.append(
            "- Sets: `en` and `zh` are questions in that language over documents in the same"
            " language, `cross-language` a question in one language over a document in the other;"
            " `conversations` are the turns of the chats, each asked with the turns before it as"
            " history (`kb.ask(question, history)`, the history holding the answers kbqa gave)."
        )
    return out


def render_markdown(result: EvalResult, plots: Sequence[str] = ()) -> str:
    """report.md: metrics, targets, hit@k, per-type/kind scores, method, KB, settings, machine."""
    mode = "retrieval + generation" if result.generate else "retrieval only (--no-generate)"
    c = result.counts
    kb = result.knowledge_base
    unanswerable = {
        "articles": "on held-out articles",
        "folder": "that the documents do not answer",
        "questions": "unanswerable",
    }.get(result.dataset_kind, "unanswerable")
    out = [
        f"# kbqa eval: {result.dataset_name}",
        "",
        f"- Date: {result.started_at} ({result.seconds:.0f} s)",
        f"- Dataset: `{result.dataset}`",
        f"- Mode: {mode}; seed {result.seed}; limit {result.limit if result.limit is not None else 'none'}",
        f"- Questions: {c['answerable']} answerable ({c['with_gold']} with a gold source),"
        f" {c['unanswerable']} {unanswerable}",
    ]
    if c.get("conversations"):
        out.append(f"- Conversations: {c['conversations']}, {c['conversation_turns']} turns")
    if result.command:
        out.append(f"- Command: `{result.command}`")
    out += ["", "## Metrics", "", summary_table(result), ""]
    if result.hit_curve:
        ks = range(1, len(result.hit_curve) + 1)
        out += [
            f"## hit@k (k = 1..{result.depth})",
            "",
            "| | " + " | ".join(f"k={k}" for k in ks) + " |",
            "|---|" + "---:|" * len(result.hit_curve),
            f"| gold {'passage' if result.dataset_kind == 'folder' else 'paragraph'} | "
            + " | ".join(f"{v:.3f}" for v in result.hit_curve)
            + " |",
        ]
        if result.doc_hit_curve:
            out.append(
                f"| gold {'document' if result.dataset_kind == 'folder' else 'article'} | "
                + " | ".join(f"{v:.3f}" for v in result.doc_hit_curve)
                + " |"
            )
        out.append("")
    if result.by_type:
        out += [
            "## By question type",
            "",
            "| type | n | hit@1 | hit@5 | F1 | EM |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for qtype, t in result.by_type.items():
            out.append(
                f"| {qtype} | {t['n']} | {_fmt(t['hit@1'])} | {_fmt(t['hit@5'])} |"
                f" {_fmt(t['f1'])} | {_fmt(t['em'])} |"
            )
        out.append("")
    if result.by_kind:
        out += ["## By kind", "", targets_table(result.by_kind, first="kind"), ""]
    out += _method(result)
    out += [
        "",
        "## Knowledge base",
        "",
        f"- `{kb.get('name')}` in `{kb.get('persist_dir')}`: {kb.get('articles')} documents,"
        f" {kb.get('chunks')} chunks",
    ]
    if kb.get("corpus_dir"):
        out.append(
            f"- Corpus `{kb['corpus_dir']}`; this run: {kb.get('files_added', 0)} added,"
            f" {kb.get('files_updated', 0)} updated, {kb.get('files_unchanged', 0)} unchanged,"
            f" {kb.get('files_removed', 0)} removed, {kb.get('chunks_written', 0)} chunks written"
            f" in {kb.get('ingest_seconds', 0)} s"
        )
        if result.dataset_kind == "articles":
            held = ", ".join(kb.get("held_out_articles", [])) or "none"
            out.append(f"- Held out: {held}")
    for failure in kb.get("files_failed", []):
        out.append(f"- Failed: `{failure['source']}`: {failure['reason']}")
    if kb.get("note"):
        out.append(f"- {kb['note']}")
    out += ["", "## Settings", "", "| setting | value |", "|---|---|"]
    out += [f"| `{k}` | `{_md_cell(v)}` |" for k, v in result.settings.items()]
    out += ["", "## Machine", "", "| | |", "|---|---|"]
    out += [f"| {k} | {_md_cell(v)} |" for k, v in result.machine.items()]
    if plots:
        out += ["", "## Plots", ""]
        out += [f"![{Path(p).stem}]({Path(p).name})" for p in plots]
    return "\n".join(out) + "\n"


@dataclass
class EvalOutputs:
    """The files ``write_report`` wrote, and why any plot is missing."""

    report: Path
    results: Path
    plots: list[Path] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def write_report(result: EvalResult, out_dir: str | Path) -> EvalOutputs:
    """Write results.json, the plots (hit_at_k, f1_by_type, latency PNGs) and report.md."""
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ConfigError(f"{out_dir}: cannot create the output folder ({err})") from err
    results_path = out_dir / "results.json"
    results_path.write_text(
        json.dumps(result.to_dict(), ensure_ascii=False, indent=2), encoding="utf-8"
    )
    outputs = EvalOutputs(report=out_dir / "report.md", results=results_path)
    try:
        outputs.plots = plots.write_plots(result, out_dir)
    except ConfigError as err:
        outputs.warnings.append(str(err))
    text = render_markdown(result, [p.name for p in outputs.plots])
    if outputs.warnings:
        text += "\n" + "\n".join(f"> {w}" for w in outputs.warnings) + "\n"
    outputs.report.write_text(text, encoding="utf-8")
    return outputs
