"""Evaluation: answer and retrieval metrics, and the datasets they are computed on.

>>> from rag.eval import exact_match, token_f1
>>> exact_match("Paris.", ["paris"]), token_f1("in Paris", ["Paris"])
(1.0, 0.6666666666666666)
"""

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

__all__ = [
    "QUESTION_TYPES",
    "EvalDataset",
    "EvalQuestion",
    "answer_tokens",
    "article_display_title",
    "article_filename",
    "citation_precision",
    "citation_recall",
    "contains_answer",
    "exact_match",
    "hit_at_k",
    "load_dataset",
    "mean",
    "normalize_answer",
    "percentile",
    "question_type",
    "questions_for_articles",
    "reciprocal_rank",
    "sample_questions",
    "split_for_abstention",
    "token_f1",
    "write_corpus",
]
