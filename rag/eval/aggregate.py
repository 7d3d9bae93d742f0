"""Aggregate scored rows: overall metrics, hit@k curves, per-type, per-language and latency.

>>> from rag.eval.scoring import EvalRow
>>> rows = [EvalRow("a", "Q?", "other", True, ["x"], "d.md", lang="en", doc_lang="en",
...                 hit_rank=1, given_gold=True, abstained=False, answer_contains_gold=1.0),
...         EvalRow("b", "问?", "other", False, [], None, lang="zh", abstained=True)]
>>> groups = group_rows(rows, generate=True)
>>> list(groups), groups["en"]["answer_contains_gold"], groups["zh"]["refused_unanswerable"]
(['all questions', 'en', 'zh'], 1.0, 1.0)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from rag.eval.metrics import QUESTION_TYPES, mean, percentile
from rag.eval.scoring import EvalRow

__all__ = [
    "GENERATION_METRICS",
    "LANGUAGE_GROUPS",
    "TARGET_COLUMNS",
    "group_metrics",
    "group_rows",
    "summarize",
]

GENERATION_METRICS = (
    "em",
    "f1",
    "f1_answered",
    "answer_em",
    "answer_f1",
    "answer_contains_gold",
    "answer_complete",
    "citation_precision",
    "citation_recall",
    "cited_answers",
    "refused_unanswerable",
    "refused_answerable",
)
# The columns of issue 13's targets table, in its order: (metric key, column heading).
TARGET_COLUMNS: tuple[tuple[str, str], ...] = (
    ("given_gold", "passage given to the model"),
    ("answer_contains_gold", "answer contains gold"),
    ("refused_answerable", "answerable refused"),
    ("refused_unanswerable", "unanswerable refused"),
    ("citation_precision", "citation precision"),
)


def _language(row: EvalRow) -> str | None:
    if row.lang is None:
        return None
    doc = row.doc_lang or row.lang  # an unanswerable question has no gold document
    return row.lang if doc == row.lang else "cross-language"


LANGUAGE_GROUPS: tuple[tuple[str, Callable[[EvalRow], bool]], ...] = (
    ("all questions", lambda r: r.conversation is None),
    ("en", lambda r: r.conversation is None and _language(r) == "en"),
    ("zh", lambda r: r.conversation is None and _language(r) == "zh"),
    ("cross-language", lambda r: r.conversation is None and _language(r) == "cross-language"),
    ("conversations", lambda r: r.conversation is not None),
)
"""Rows of the targets table: which rows each covers. Empty groups are left out."""


def _hit_curve(ranks: Sequence[int | None], depth: int) -> list[float]:
    return [mean(float(r is not None and r <= k) for r in ranks) for k in range(1, depth + 1)]


def _mean_or_none(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return mean(present) if present else None


def _share(flags: Sequence[bool]) -> float | None:
    return mean(float(f) for f in flags) if flags else None


def group_metrics(rows: Sequence[EvalRow], generate: bool) -> dict[str, Any]:
    """The targets-table metrics of a group of rows, with the counts they are over.

    ``given_gold`` covers answerable rows that name a gold document or evidence; answer and
    refusal metrics cover answerable (must-refuse) rows; citation precision answered ones.
    """
    answerable = [r for r in rows if r.answerable]
    unanswerable = [r for r in rows if not r.answerable]
    with_gold = [r for r in answerable if r.given_gold is not None]
    answered = [r for r in answerable if r.abstained is False]
    out: dict[str, Any] = {
        "n": len(rows),
        "answerable": len(answerable),
        "unanswerable": len(unanswerable),
        "with_gold": len(with_gold),
        "answered": len(answered),
        "given_gold": _share([bool(r.given_gold) for r in with_gold]),
        "hit@1": _share([r.hit_rank == 1 for r in with_gold]),
        "hit@5": _share([r.hit_rank is not None and r.hit_rank <= 5 for r in with_gold]),
        "gate_refused_answerable": _share([r.gate_refused for r in answerable]),
        "gate_refused_unanswerable": _share([r.gate_refused for r in unanswerable]),
        "answer_contains_gold": None,
        "f1": None,
        "refused_answerable": None,
        "refused_unanswerable": None,
        "citation_precision": None,
    }
    if generate:
        out.update(
            answer_contains_gold=_mean_or_none([r.answer_contains_gold for r in answerable]),
            f1=_mean_or_none([r.f1 for r in answerable]),
            refused_answerable=_share([bool(r.abstained) for r in answerable]),
            refused_unanswerable=_share([bool(r.abstained) for r in unanswerable]),
            citation_precision=_mean_or_none([r.citation_precision for r in answered]),
        )
    return out


def group_rows(rows: Sequence[EvalRow], generate: bool) -> dict[str, dict[str, Any]]:
    """``group_metrics`` for each non-empty group of ``LANGUAGE_GROUPS``."""
    groups: dict[str, dict[str, Any]] = {}
    for name, member in LANGUAGE_GROUPS:
        chosen = [r for r in rows if member(r)]
        if chosen:
            groups[name] = group_metrics(chosen, generate)
    return groups


def _by_kind(rows: Sequence[EvalRow], generate: bool) -> dict[str, dict[str, Any]]:
    kinds = dict.fromkeys(r.kind for r in rows if r.kind is not None)
    return {k: group_metrics([r for r in rows if r.kind == k], generate) for k in kinds}


def summarize(rows: Sequence[EvalRow], depth: int, generate: bool) -> dict[str, Any]:
    """Aggregate rows into ``metrics``, ``hit_curve``, ``doc_hit_curve``, ``by_type``,
    ``groups``, ``by_kind``, ``latency`` and ``counts``.

    ``metrics``, the curves and ``by_type`` cover single questions (conversation turns are the
    ``conversations`` group). Retrieval metrics cover answerable questions with a gold source or
    evidence; answer metrics cover all answerable questions (a refusal scores 0); generation
    metrics are None without generation.
    """
    singles = [r for r in rows if r.conversation is None]
    answerable = [r for r in singles if r.answerable]
    unanswerable = [r for r in singles if not r.answerable]
    with_gold = [r for r in answerable if r.given_gold is not None]
    ranks = [r.hit_rank for r in with_gold]
    doc_ranks = [r.doc_rank for r in with_gold if r.gold_source is not None]
    hit_curve = _hit_curve(ranks, depth) if with_gold else []
    doc_curve = _hit_curve(doc_ranks, depth) if doc_ranks else []
    metrics: dict[str, float | None] = {
        "hit@1": hit_curve[0] if hit_curve else None,
        "hit@5": hit_curve[4] if len(hit_curve) >= 5 else None,
        "mrr": mean(1.0 / r if r else 0.0 for r in ranks) if with_gold else None,
        "doc_hit@1": doc_curve[0] if doc_curve else None,
        "doc_hit@5": doc_curve[4] if len(doc_curve) >= 5 else None,
        "given_gold": _share([bool(r.given_gold) for r in with_gold]),
        "gate_refused_unanswerable": _share([r.gate_refused for r in unanswerable]),
        "gate_refused_answerable": _share([r.gate_refused for r in answerable]),
    }
    for key in GENERATION_METRICS:
        metrics[key] = None
    if generate:
        answered = [r for r in answerable if r.abstained is False]
        metrics.update(
            em=_mean_or_none([r.em for r in answerable]),
            f1=_mean_or_none([r.f1 for r in answerable]),
            f1_answered=_mean_or_none([r.f1 for r in answered]),
            answer_em=_mean_or_none([r.answer_em for r in answerable]),
            answer_f1=_mean_or_none([r.answer_f1 for r in answerable]),
            answer_contains_gold=_mean_or_none([r.answer_contains_gold for r in answerable]),
            answer_complete=_mean_or_none([r.answer_complete for r in answerable]),
            citation_precision=_mean_or_none([r.citation_precision for r in answered]),
            citation_recall=_mean_or_none([r.citation_recall for r in answered]),
            cited_answers=_share([bool(r.citations) for r in answered]),
            refused_unanswerable=_share([bool(r.abstained) for r in unanswerable]),
            refused_answerable=_share([bool(r.abstained) for r in answerable]),
        )

    by_type: dict[str, dict[str, Any]] = {}
    for qtype in QUESTION_TYPES:
        group = [r for r in answerable if r.question_type == qtype]
        if not group:
            continue
        gold_group = [r for r in group if r.given_gold is not None]
        by_type[qtype] = {
            "n": len(group),
            "hit@1": _share([r.hit_rank == 1 for r in gold_group]),
            "hit@5": _share([r.hit_rank is not None and r.hit_rank <= 5 for r in gold_group]),
            "f1": _mean_or_none([r.f1 for r in group]) if generate else None,
            "em": _mean_or_none([r.em for r in group]) if generate else None,
        }

    latency: dict[str, dict[str, float]] = {}
    for stage in ("retrieve", "rewrite", "first_token", "total"):
        values = [r.timings[stage] for r in rows if stage in r.timings]
        if values:
            latency[stage] = {
                "p50": percentile(values, 50),
                "p95": percentile(values, 95),
                "mean": mean(values),
                "n": len(values),
            }
    counts = {
        "questions": len(singles),
        "answerable": len(answerable),
        "unanswerable": len(unanswerable),
        "with_gold": len(with_gold),
        "answered": sum(1 for r in answerable if r.abstained is False),
        "errors": sum(1 for r in rows if r.error),
    }
    with_parts = sum(1 for r in answerable if r.answer_complete is not None)
    if with_parts:
        counts["with_parts"] = with_parts
    turns = [r for r in rows if r.conversation is not None]
    if turns:
        counts["conversations"] = len({r.conversation for r in turns})
        counts["conversation_turns"] = len(turns)
    return {
        "metrics": metrics,
        "hit_curve": hit_curve,
        "doc_hit_curve": doc_curve,
        "by_type": by_type,
        "groups": group_rows(rows, generate),
        "by_kind": _by_kind(rows, generate),
        "latency": latency,
        "counts": counts,
    }
