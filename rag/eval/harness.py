"""``run_eval``: build (or reuse) the eval knowledge base, ask every question and conversation, score.

The other jobs live in their own modules, which this one only calls (imports go one way):
``naming`` (eval knowledge-base names and settings), ``datasets`` / ``devset`` (reading),
``gold`` (which passages are gold), ``scoring`` (one row per question), ``aggregate`` (metrics
and targets-table rows), ``results`` (``EvalResult``), ``report`` and ``plots`` (the files).
Their public names are re-exported here, so ``from rag.eval.harness import write_report`` keeps
working.

Three kinds of dataset: articles (SQuAD JSON, or JSON Lines with passages) are written out as
one ``.txt`` each with 10% held out so their questions test refusal; a dev-set folder's
``corpus/`` is ingested as it is and its questions with no answers must be refused; questions
alone are asked of an existing knowledge base.

>>> from rag.eval.questions import EvalDataset, EvalQuestion
>>> dataset_kind(EvalDataset("qa", questions=[EvalQuestion("1", "Why?", ["because"])]))
'questions'
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from rag.errors import ConfigError, QuestionError
from rag.eval.aggregate import GENERATION_METRICS, summarize
from rag.eval.datasets import (
    HOLDOUT_FRACTION,
    article_filename,
    load_dataset,
    questions_for_articles,
    sample_questions,
    split_for_abstention,
    write_corpus,
)
from rag.eval.gold import EVIDENCE_RULE, GOLD_RULE, passage_is_gold
from rag.eval.naming import default_kb_name, default_out_dir, eval_settings
from rag.eval.questions import EvalConversation, EvalDataset, EvalQuestion
from rag.eval.report import EvalOutputs, render_markdown, summary_table, write_report
from rag.eval.results import EvalResult, machine_info
from rag.eval.scoring import EvalRow, clean_prediction, score_row
from rag.followup import resolve as resolve_followup
from rag.llm.base import SAMPLING_KEYS

if TYPE_CHECKING:
    from rag.kb import Models
    from rag.settings import Settings
    from rag.types import Answer, IngestReport, Passage

__all__ = [
    "GENERATION_METRICS",
    "GOLD_RULE",
    "HOLDOUT_FRACTION",
    "EvalOutputs",
    "EvalProgress",
    "EvalResult",
    "EvalRow",
    "EvalTarget",
    "clean_prediction",
    "dataset_kind",
    "default_kb_name",
    "default_out_dir",
    "eval_settings",
    "machine_info",
    "passage_is_gold",
    "render_markdown",
    "run_eval",
    "score_row",
    "spread_sample",
    "summarize",
    "summary_table",
    "write_report",
]

EvalProgress = Callable[[str, int, int], None]
"""Called as ``progress(stage, done, total)``; ``stage`` is ``"ingest"`` or ``"questions"``."""

MIN_RETRIEVAL_DEPTH = 5  # hit@5 needs five ranked passages even when top_k is smaller
# Settings that change what is measured; the report lists these.
REPORTED_SETTINGS = (
    "kb",
    "persist_dir",
    "embedder",
    "llm_model",
    "llm_backend",
    "chunk_size",
    "chunk_overlap",
    "top_k",
    "fetch_k",
    "hybrid",
    "rrf_k",
    "keyword_weight",
    "fusion",
    "keyword_score_weight",
    "language_fusion",
    "translate_queries",
    "mmr",
    "relevance_threshold",
    "citation_threshold",
    "temperature",
    "max_new_tokens",
    "repetition_penalty",
)


class EvalTarget(Protocol):
    """What ``run_eval`` needs of a knowledge base (``rag.KnowledgeBase`` is one)."""

    @property
    def settings(self) -> Settings: ...

    @property
    def name(self) -> str: ...

    def ingest(
        self, path: str | Path, *, prune: bool = ..., progress: Any = ..., show_progress: Any = ...
    ) -> IngestReport: ...

    def documents(self) -> Sequence[Any]: ...  # records with a ``source``

    def remove(self, source: str) -> int: ...

    def status(self) -> dict[str, Any]: ...  # with "chunks"

    def retrieve(self, query: str, *, top_k: int | None = None) -> list[Passage]: ...

    def evidence(self, question: str, passages: Sequence[Passage]) -> float: ...

    def ask(self, question: str, history: Any = None, **overrides: Any) -> Answer: ...


def dataset_kind(ds: EvalDataset) -> str:
    """``"folder"`` (a corpus ingested as is), ``"articles"`` (written out) or ``"questions"``."""
    if ds.corpus_dir is not None:
        return "folder"
    return "articles" if ds.articles else "questions"


# --- building the knowledge base -----------------------------------------------------------------


def _sub_dataset(ds: EvalDataset, titles: list[str]) -> EvalDataset:
    return EvalDataset(
        name=ds.name,
        articles={t: ds.articles[t] for t in titles},
        questions=questions_for_articles(ds, titles),
    )


def _prepare_corpus(corpus_dir: Path, ds: EvalDataset, kept: list[str]) -> list[Path]:
    """Write the kept articles and delete stale ones (a held-out article must not be ingested)."""
    paths = write_corpus(ds, kept, corpus_dir)
    wanted = {p.name for p in paths}
    for stale in corpus_dir.glob("*.txt"):
        if stale.name not in wanted:
            stale.unlink()
    return paths


def _ingest(
    kb: EvalTarget,
    corpus_dir: Path,
    progress: EvalProgress | None,
    remove: Sequence[str] = (),
) -> dict[str, Any]:
    ingest_progress = (lambda i, n, _src: progress("ingest", i, n)) if progress else None
    report = kb.ingest(corpus_dir, prune=True, progress=ingest_progress, show_progress=False)
    # The store may be shared with an earlier run from another folder or seed: held-out
    # articles it still holds would turn refusal questions into answerable ones.
    present = {r.source for r in kb.documents()}
    removed = [name for name in dict.fromkeys(remove) if name in present]
    for name in removed:
        kb.remove(name)
    failed = [
        {"source": f.source, "reason": f.reason} for f in report.files if f.status == "failed"
    ]
    return {
        "name": kb.name,
        "persist_dir": str(kb.settings.persist_dir),
        "corpus_dir": str(corpus_dir),
        "articles": len(kb.documents()),
        "chunks": kb.status()["chunks"],
        "files_added": report.files_added,
        "files_updated": report.files_updated,
        "files_unchanged": report.files_unchanged,
        "files_removed": report.files_removed + len(removed),
        "files_failed": failed,
        "chunks_written": report.chunks_written,
        "ingest_seconds": round(report.seconds, 2),
    }


def _existing_kb(kb: EvalTarget) -> dict[str, Any]:
    return {
        "name": kb.name,
        "persist_dir": str(kb.settings.persist_dir),
        "corpus_dir": None,
        "articles": len(kb.documents()),
        "held_out_articles": [],
        "chunks": kb.status()["chunks"],
        "note": "the dataset has no passages: its questions were asked of this existing KB",
    }


def _check_models(models: Models, settings: Settings, generate: bool) -> None:
    # Shared models were loaded for other settings: a silent mismatch would measure the wrong model.
    if models.settings.embedder != settings.embedder:
        raise ConfigError(
            f"the shared models use embedder {models.settings.embedder!r}, the eval settings"
            f" {settings.embedder!r}"
        )
    if generate and models.settings.llm_model != settings.llm_model:
        raise ConfigError(
            f"the shared models use generator {models.settings.llm_model!r}, the eval settings"
            f" {settings.llm_model!r}"
        )


# --- choosing the questions ----------------------------------------------------------------------


def _refusal_count(limit: int | None) -> int | None:
    return None if limit is None else max(2, limit // 4)


def _language_key(question: EvalQuestion) -> str:
    doc = question.doc_lang or question.lang
    return "cross" if question.lang and doc != question.lang else question.lang or ""


def spread_sample(
    questions: Sequence[EvalQuestion], limit: int | None, seed: int = 0
) -> list[EvalQuestion]:
    """Up to ``limit`` questions taken in turn from each language group (en, zh, cross-language),
    each group spread over its documents (``sample_questions``); a prefix of a larger sample.

    >>> qs = [EvalQuestion(f"{l}{i}", "?", ["x"], lang=l, doc_lang="en") for l in ("en", "zh")
    ...       for i in range(3)]
    >>> sorted(q.id[:2] for q in spread_sample(qs, 2))
    ['en', 'zh']
    """
    groups: dict[str, list[EvalQuestion]] = {}
    for question in questions:
        groups.setdefault(_language_key(question), []).append(question)
    queues = [
        sample_questions(EvalDataset("group", questions=groups[key]), None, seed=seed)
        for key in sorted(groups)
    ]
    wanted = len(questions) if limit is None else min(limit, len(questions))
    out: list[EvalQuestion] = []
    depth = 0
    while len(out) < wanted:
        out += [queue[depth] for queue in queues if depth < len(queue)][: wanted - len(out)]
        depth += 1
    return out


def _plan(
    kb: EvalTarget, ds: EvalDataset, limit: int | None, seed: int, out_dir: Path, progress: Any
) -> tuple[dict[str, Any], list[tuple[EvalQuestion, bool]], list[EvalConversation]]:
    """Build the knowledge base; pick (question, answerable) pairs and conversations to ask.

    ``limit`` caps answerable questions; ``max(2, limit // 4)`` must-refuse questions and as many
    conversations go with them (all of each when ``limit`` is None).
    """
    kind = dataset_kind(ds)
    conversations: list[EvalConversation] = []
    if kind == "folder":
        assert ds.corpus_dir is not None
        kb_info = _ingest(kb, ds.corpus_dir, progress)
        answerable_qs = spread_sample([q for q in ds.questions if q.answerable], limit, seed)
        refuse = [q for q in ds.questions if not q.answerable]
        refusal_qs = spread_sample(refuse, _refusal_count(limit), seed)
        conversations = list(ds.conversations)
        random.Random(seed).shuffle(conversations)
        wanted = _refusal_count(limit)
        conversations = conversations[:wanted] if wanted is not None else ds.conversations
        work = [(q, True) for q in answerable_qs] + [(q, False) for q in refusal_qs]
    elif kind == "articles":
        kept, held = split_for_abstention(ds, HOLDOUT_FRACTION, seed=seed)
        corpus_dir = out_dir / "corpus"
        _prepare_corpus(corpus_dir, ds, kept)
        kb_info = _ingest(kb, corpus_dir, progress, remove=[article_filename(t) for t in held])
        kb_info["held_out_articles"] = list(held)
        answerable_qs = sample_questions(_sub_dataset(ds, kept), limit, seed=seed)
        refusal_qs = (
            sample_questions(_sub_dataset(ds, held), _refusal_count(limit), seed=seed)
            if held
            else []
        )
        work = [(q, True) for q in answerable_qs] + [(q, False) for q in refusal_qs]
    else:
        kb_info = _existing_kb(kb)
        work = [(q, True) for q in sample_questions(ds, limit, seed=seed)]
    return kb_info, work, conversations


# --- asking --------------------------------------------------------------------------------------


def _ask(kb: EvalTarget, question: str, history: list[tuple[str, str]]) -> Answer:
    # Sampling knobs go with each call, so shared models loaded for other settings obey these.
    knobs = {k: getattr(kb.settings, k) for k in SAMPLING_KEYS}
    return kb.ask(question, list(history), **knobs)


def _ask_and_score(
    kb: EvalTarget,
    question: EvalQuestion,
    answerable: bool,
    *,
    depth: int,
    generate: bool,
    history: list[tuple[str, str]] | None = None,
) -> tuple[EvalRow, Answer | None]:
    s = kb.settings
    answer, error = None, None
    if generate:
        try:
            answer = _ask(kb, question.question, history or [])
        except QuestionError as exc:  # e.g. a question over the length limit: a miss
            error = str(exc)
    # A follow-up is ranked with the question the chain searched with; without generation, with
    # the rule-based rewrite the chain would make (rag.followup, no model call).
    if answer is not None:
        query = answer.standalone_question or question.question
    else:
        query = resolve_followup(question.question, history or [], mode="rules").question
    t0 = time.perf_counter()
    ranked = kb.retrieve(query, top_k=depth)
    retrieve_seconds = time.perf_counter() - t0
    row = score_row(
        question,
        answerable=answerable,
        ranked=ranked,
        top_k=s.top_k,
        relevance_threshold=s.abstain_below,
        evidence=kb.evidence(query, ranked[: s.top_k]) if ranked else 0.0,
        answer=answer,
        retrieve_seconds=retrieve_seconds,
    )
    if answer is None and query != question.question:
        row.standalone_question = query
    if error is not None:
        row.error, row.abstained, row.prediction, row.answer = error, True, "", ""
        if answerable:
            row.em = row.f1 = row.answer_em = row.answer_f1 = row.answer_contains_gold = 0.0
    return row, answer


def _ask_conversation(
    kb: EvalTarget, conversation: EvalConversation, *, depth: int, generate: bool
) -> list[EvalRow]:
    """Ask each turn with the turns before it (questions and kbqa's answers) as history."""
    history: list[tuple[str, str]] = []
    rows = []
    for number, turn in enumerate(conversation.turns, start=1):
        row, answer = _ask_and_score(
            kb, turn, turn.answerable, depth=depth, generate=generate, history=history
        )
        row.conversation, row.turn = conversation.id, number
        row.kind = row.kind or conversation.kind
        rows.append(row)
        history += [("user", turn.question), ("assistant", answer.answer if answer else "")]
    return rows


def run_eval(
    dataset_path: str | Path,
    settings: Settings | None = None,
    *,
    limit: int | None,
    out_dir: str | Path,
    generate: bool = True,
    seed: int = 0,
    progress: EvalProgress | None = None,
    models: Models | None = None,
    kb: EvalTarget | None = None,
) -> EvalResult:
    """Build (or reuse) the eval knowledge base for a dataset, ask its questions, score them.

    ``settings.kb`` and ``settings.persist_dir`` are used as given: build them with
    ``eval_settings`` to keep the run out of the user's store. An article dataset's corpus is
    written to ``<out_dir>/corpus``; a dev-set folder's ``corpus/`` is ingested where it is.
    ``limit`` caps the answerable questions (None: all); ``max(2, limit//4)`` must-refuse
    questions (and conversations) go with them. ``generate=False`` scores retrieval only and
    never loads the generator. ``models`` shares already loaded models; ``kb`` replaces the
    knowledge base altogether (its own settings are used; tests pass in-memory fakes).

    A dataset without passages (JSON Lines of questions and answers only) is asked of the
    existing knowledge base ``settings.kb``, with no held-out articles.
    """
    started = time.perf_counter()
    started_at = datetime.now().astimezone().isoformat(timespec="seconds")
    if limit is not None and limit < 0:
        raise ConfigError(f"limit must be 0 or more, got {limit}")
    out_dir = Path(out_dir)
    ds = load_dataset(Path(dataset_path))
    if kb is None:
        if settings is None:
            raise ConfigError("run_eval needs settings (see eval_settings) or a knowledge base")
        if models is not None:
            _check_models(models, settings, generate)
        from rag.kb import KnowledgeBase

        kb = KnowledgeBase(settings, models=models)

    kb_info, work, conversations = _plan(kb, ds, limit, seed, out_dir, progress)
    s = kb.settings
    depth = max(s.top_k, MIN_RETRIEVAL_DEPTH)
    total = len(work) + sum(len(c.turns) for c in conversations)
    rows: list[EvalRow] = []
    for question, answerable in work:
        rows.append(_ask_and_score(kb, question, answerable, depth=depth, generate=generate)[0])
        if progress:
            progress("questions", len(rows), total)
    for conversation in conversations:
        rows += _ask_conversation(kb, conversation, depth=depth, generate=generate)
        if progress:
            progress("questions", len(rows), total)

    summary = summarize(rows, depth, generate)
    kind = dataset_kind(ds)
    return EvalResult(
        dataset=str(dataset_path),
        dataset_name=ds.name,
        generate=generate,
        depth=depth,
        metrics=summary["metrics"],
        hit_curve=summary["hit_curve"],
        doc_hit_curve=summary["doc_hit_curve"],
        by_type=summary["by_type"],
        latency=summary["latency"],
        counts=summary["counts"],
        settings={
            **{k: _jsonable(getattr(s, k, None)) for k in REPORTED_SETTINGS},
            "relevance_threshold": s.abstain_below,  # the one in effect when unset
        },
        knowledge_base=kb_info,
        machine=machine_info(),
        rows=rows,
        started_at=started_at,
        seconds=round(time.perf_counter() - started, 2),
        seed=seed,
        limit=limit,
        gold_rule=EVIDENCE_RULE if kind == "folder" else GOLD_RULE,
        groups=summary["groups"],
        by_kind=summary["by_kind"],
        dataset_kind=kind,
    )


def _jsonable(value: Any) -> Any:
    return str(value) if isinstance(value, Path) else value
