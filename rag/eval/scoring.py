"""Score one question: rank of its gold passage, its answer, its citations, whether it refused.

>>> from rag.eval.questions import EvalQuestion
>>> from rag.types import Passage
>>> q = EvalQuestion("q", "When are receipts due?", ["45 days"], gold_source="travel.md",
...                  evidence="within 45 days", lang="en", doc_lang="en")
>>> ranked = [Passage(n=1, chunk_id="c1", source="travel.md", page=None,
...                   text="Receipts are due within 45 days.", score=1.0, dense_score=0.7)]
>>> row = score_row(q, answerable=True, ranked=ranked, top_k=4, relevance_threshold=0.5)
>>> row.hit_rank, row.given_gold, row.gate_refused
(1, True, False)
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rag import prompts
from rag.eval.gold import is_gold, same_source
from rag.eval.metrics import (
    answer_contains_gold,
    citation_precision,
    citation_recall,
    contains_answer,
    exact_match,
    question_type,
    token_f1,
)
from rag.eval.questions import EvalQuestion

if TYPE_CHECKING:
    from rag.types import Answer, Passage

__all__ = ["EvalRow", "clean_prediction", "score_row"]

_CITATION_MARK_RE = re.compile(r"\s*\[\d+(?:\s*[,;]\s*\d+)*\]")
_LEADING_PUNCT_RE = re.compile(r"^[\s,:;.\-–—]+")


def clean_prediction(text: str, lang: str = "en") -> str:
    """The answer text to score: the prompt's prefill and ``[n]`` citation markers removed.

    >>> clean_prediction("Answer: the Andes [1].")
    'the Andes.'
    >>> clean_prediction(" Lima [1, 2] is the capital [3]")
    'Lima is the capital'
    """
    out = text.strip()
    # The prompt's pre-start, and "Answer:", the pre-start of kbqa's earlier short-phrase prompt.
    for prefill in (prompts.PREFILL.get(lang, prompts.PREFILL["en"]), "Answer:"):
        if out.lower().startswith(prefill.lower()):
            out = out[len(prefill) :]
    out = _CITATION_MARK_RE.sub("", out)
    return _LEADING_PUNCT_RE.sub("", out).strip()


@dataclass
class EvalRow:
    """One question's (or conversation turn's) outcome. Generation fields are None with
    ``generate=False``."""

    id: str
    question: str
    question_type: str
    answerable: bool  # False: its article was held out, or the documents do not answer it
    golds: list[str]
    gold_source: str | None
    lang: str | None = None  # the question's language
    doc_lang: str | None = None  # the gold document's language
    kind: str | None = None  # the dataset's label (paraphrase, list, unanswerable, ...)
    conversation: str | None = None  # the conversation id, for a turn of one
    turn: int | None = None  # 1-based turn number within the conversation
    standalone_question: str | None = None  # what the chain searched with, for a follow-up
    hit_rank: int | None = None  # 1-based rank of the first gold passage, None if not retrieved
    doc_rank: int | None = None  # 1-based rank of the first passage from the gold document
    given_gold: bool | None = None  # a gold passage was among those given to the model
    best_dense: float | None = None  # best cosine similarity among the top_k passages
    evidence: float | None = None  # the chain's evidence score for the top_k passages
    gate_refused: bool = False  # evidence is under relevance_threshold: the chain refuses early
    retrieved: list[dict[str, Any]] = field(default_factory=list)  # source, chunk_id, gold
    prediction: str | None = None  # raw_answer, prefill and markers stripped
    answer: str | None = None  # the checked answer text (citation markers stripped)
    abstained: bool | None = None
    em: float | None = None
    f1: float | None = None
    answer_em: float | None = None
    answer_f1: float | None = None
    answer_contains_gold: float | None = None  # the checked answer holds a gold answer phrase
    answer_complete: float | None = None  # it holds every group of ``answers_all`` (lists)
    citation_precision: float | None = None
    citation_recall: float | None = None
    citations: list[int] = field(default_factory=list)  # the cited passages' numbers
    timings: dict[str, float] = field(default_factory=dict)
    answerability: dict[str, float] = field(default_factory=dict)  # the refusal signals
    error: str | None = None


def _supports(question: EvalQuestion, passage: Passage) -> bool:
    # A cited passage is right when it holds a gold answer; with quoted evidence, also when it is
    # the gold passage (a sentence answer may paraphrase the gold phrase that passage states).
    if contains_answer(passage.text, question.answers):
        return True
    return question.evidence is not None and is_gold(question, passage.text, passage.source)


def score_row(
    question: EvalQuestion,
    *,
    answerable: bool,
    ranked: Sequence[Passage],
    top_k: int,
    relevance_threshold: float,
    evidence: float | None = None,
    answer: Answer | None = None,
    retrieve_seconds: float | None = None,
) -> EvalRow:
    """Score one question from its ranked passages and (when generated) its ``Answer``.

    ``given_gold`` looks at ``answer.passages`` (what the chain read) when there is an answer,
    else at the first ``top_k`` ranked passages.
    """
    row = EvalRow(
        id=question.id,
        question=question.question,
        question_type=question_type(question.question),
        answerable=answerable,
        golds=list(question.answers),
        gold_source=question.gold_source,
        lang=question.lang,
        doc_lang=question.doc_lang,
        kind=question.kind,
    )
    has_gold = question.gold_source is not None or question.evidence is not None
    for rank, passage in enumerate(ranked, start=1):
        gold = has_gold and is_gold(
            question,
            passage.text,
            passage.source,
            starts_document=passage.metadata.get("start_index") == 0,
        )
        same_doc = question.gold_source is not None and same_source(
            passage.source, question.gold_source
        )
        if gold and row.hit_rank is None:
            row.hit_rank = rank
        if same_doc and row.doc_rank is None:
            row.doc_rank = rank
        row.retrieved.append({"source": passage.source, "chunk_id": passage.chunk_id, "gold": gold})
    if has_gold:
        row.given_gold = row.hit_rank is not None and row.hit_rank <= top_k
    row.best_dense = max((p.dense_score or 0.0 for p in ranked[:top_k]), default=None)
    row.evidence = evidence
    gate = evidence if evidence is not None else row.best_dense
    row.gate_refused = gate is None or gate < relevance_threshold
    if retrieve_seconds is not None:
        row.timings["retrieve"] = round(retrieve_seconds, 4)
    if answer is None:
        return row

    row.timings = {k: float(v) for k, v in answer.timings.items()}
    row.standalone_question = answer.standalone_question
    row.abstained = answer.abstained
    row.prediction = clean_prediction(answer.raw_answer, answer.language)
    row.answer = "" if answer.abstained else clean_prediction(answer.answer, answer.language)
    # Markers count 1, 2, … in order of use; the passage each cites is Citation.passage.
    row.citations = [c.passage or c.n for c in answer.citations]
    row.answerability = dict(answer.answerability)
    if has_gold:
        row.given_gold = any(
            is_gold(question, p.text, p.source, starts_document=p.metadata.get("start_index") == 0)
            for p in answer.passages
        )
    if answerable:
        row.em = exact_match(row.prediction, row.golds)
        row.f1 = token_f1(row.prediction, row.golds)
        row.answer_em = exact_match(row.answer, row.golds)
        row.answer_f1 = token_f1(row.answer, row.golds)
        row.answer_contains_gold = answer_contains_gold(row.answer, row.golds)
        if question.answers_all:
            row.answer_complete = float(
                all(contains_answer(row.answer, group) for group in question.answers_all)
            )
        if not answer.abstained:
            by_n = {p.n: p for p in answer.passages}
            cited = [by_n[n] for n in row.citations if n in by_n]
            if question.evidence is None:  # SQuAD-style: exactly the metric the docs report
                row.citation_precision = citation_precision([p.text for p in cited], row.golds)
                row.citation_recall = citation_recall(
                    [p.text for p in cited], [p.text for p in answer.passages], row.golds
                )
            else:
                row.citation_precision, row.citation_recall = _citation_scores(
                    question, cited, answer.passages
                )
    return row


def _citation_scores(
    question: EvalQuestion, cited: Sequence[Passage], read: Sequence[Passage]
) -> tuple[float | None, float | None]:
    cited_ok = [_supports(question, p) for p in {p.n: p for p in cited}.values()]
    precision = sum(cited_ok) / len(cited_ok) if cited_ok else None
    relevant = sum(_supports(question, p) for p in read)
    recall = min(1.0, sum(cited_ok) / relevant) if relevant else None
    return precision, recall
