"""Evaluation: answer and retrieval metrics, and the datasets they are computed on.

>>> from rag.eval import exact_match, token_f1
>>> exact_match("Paris.", ["paris"]), token_f1("in Paris", ["Paris"])
(1.0, 0.6666666666666666)

The harness (``run_eval``, ``write_report``, ``EvalResult`` ...) is imported on first use, so
``import rag.eval`` for the metrics stays light.
"""

from typing import Any

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

_HARNESS_NAMES = (
    "EvalOutputs",
    "EvalResult",
    "EvalRow",
    "eval_settings",
    "passage_is_gold",
    "run_eval",
    "write_report",
)


def __getattr__(name: str) -> Any:
    if name in _HARNESS_NAMES:
        from rag.eval import harness

        return getattr(harness, name)
    raise AttributeError(f"module 'rag.eval' has no attribute {name!r}")


__all__ = [
    "QUESTION_TYPES",
    "EvalDataset",
    "EvalOutputs",
    "EvalQuestion",
    "EvalResult",
    "EvalRow",
    "answer_tokens",
    "article_display_title",
    "article_filename",
    "citation_precision",
    "citation_recall",
    "contains_answer",
    "eval_settings",
    "exact_match",
    "hit_at_k",
    "load_dataset",
    "mean",
    "normalize_answer",
    "passage_is_gold",
    "percentile",
    "question_type",
    "questions_for_articles",
    "reciprocal_rank",
    "run_eval",
    "sample_questions",
    "split_for_abstention",
    "token_f1",
    "write_corpus",
    "write_report",
]
