"""Evaluation: answer and retrieval metrics, and the datasets they are computed on.

>>> from rag.eval import exact_match, token_f1
>>> exact_match("Paris.", ["paris"]), token_f1("in Paris", ["Paris"])
(1.0, 0.6666666666666666)

Modules, one job each; a module imports only those listed above it (tests/rag/test_eval_layers.py):

- ``metrics``: answer, retrieval and citation metrics (pure functions);
- ``questions``: the data model (questions, conversations, datasets);
- ``devset``: read a dev-set folder (``corpus/`` + ``questions.jsonl`` + ``conversations.jsonl``);
- ``datasets``: read SQuAD JSON / JSON Lines (or a folder, via ``devset``), sample, split, write;
- ``naming``: the eval knowledge base's name, store and output folder;
- ``gold``: which retrieved passages count as gold (paragraph and evidence rules);
- ``scoring``: one question's ``EvalRow``;
- ``aggregate``: metrics, curves and the targets-table rows over many rows;
- ``results``: ``EvalResult`` (results.json) and the machine it ran on;
- ``plots``: the PNGs; ``report``: report.md, results.json and the plots written;
- ``harness``: ``run_eval``, building the knowledge base and asking; ``cli``: ``kbqa eval``.

The harness (``run_eval``, ``write_report``, ``EvalResult`` ...) is imported on first use, so
``import rag.eval`` for the metrics stays light.
"""

from typing import Any

from rag.eval.datasets import (
    EvalConversation,
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
    answer_contains_gold,
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

# Names from modules that import settings, prompts or the LLM base: loaded on first use.
_LAZY = {
    "EvalOutputs": "report",
    "EvalResult": "results",
    "EvalRow": "scoring",
    "eval_settings": "naming",
    "passage_has_evidence": "gold",
    "passage_is_gold": "gold",
    "run_eval": "harness",
    "score_row": "scoring",
    "summarize": "aggregate",
    "targets_table": "report",
    "write_report": "report",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"rag.eval.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'rag.eval' has no attribute {name!r}")


__all__ = [
    "QUESTION_TYPES",
    "EvalConversation",
    "EvalDataset",
    "EvalOutputs",
    "EvalQuestion",
    "EvalResult",
    "EvalRow",
    "answer_contains_gold",
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
    "passage_has_evidence",
    "passage_is_gold",
    "percentile",
    "question_type",
    "questions_for_articles",
    "reciprocal_rank",
    "run_eval",
    "sample_questions",
    "score_row",
    "split_for_abstention",
    "summarize",
    "targets_table",
    "token_f1",
    "write_corpus",
    "write_report",
]
