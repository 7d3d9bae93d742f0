"""The evaluation engine behind ``kbqa eval``: build a knowledge base from a dataset, ask, score.

``run_eval`` writes the dataset's articles as one ``.txt`` per article, ingests them into an
eval knowledge base (incrementally: a second run reuses it), holds some articles out so their
questions test refusal, runs the questions and scores retrieval, answers, citations, refusals
and latency. ``write_report`` turns the result into ``report.md``, ``results.json`` and plots.

Gold passage rule (``passage_is_gold``): a retrieved chunk *is* the gold paragraph when its
source is the gold article's file AND its text overlaps the gold paragraph, meaning the chunk
text (minus a first-line title) is a substring of the paragraph or holds all of it (short
paragraphs share a chunk; whitespace collapsed), or has at least half of its normalised tokens
(SQuAD normalisation, counted as a multiset) in the paragraph. A chunk that spans the end of one paragraph and the start of the next counts for the
paragraph holding most of it (both, when split evenly). Questions without a known gold paragraph
match on the source alone; questions without a gold source get no retrieval scores.

>>> passage_is_gold("Andes\\nThe Andes are long.", "Andes.txt", gold_source="Andes.txt",
...                 gold_passage="The Andes are long. They run through Peru.", title="Andes")
True
>>> passage_is_gold("Lima is big.", "Peru.txt", gold_source="Andes.txt", gold_passage="Lima is big.")
False
"""

from __future__ import annotations

import hashlib
import os
import platform
import re
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from rag import prompts
from rag.errors import ConfigError, QuestionError
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
    exact_match,
    mean,
    percentile,
    question_type,
    token_f1,
)
from rag.llm.base import SAMPLING_KEYS
from rag.settings import Settings

if TYPE_CHECKING:
    from rag.kb import KnowledgeBase, Models
    from rag.types import Answer, Passage

__all__ = [
    "GOLD_RULE",
    "EvalOutputs",
    "EvalProgress",
    "EvalResult",
    "EvalRow",
    "clean_prediction",
    "default_kb_name",
    "default_out_dir",
    "eval_settings",
    "passage_is_gold",
    "render_markdown",
    "run_eval",
    "score_row",
    "summarize",
    "summary_table",
    "write_report",
]

EvalProgress = Callable[[str, int, int], None]
"""Called as ``progress(stage, done, total)``; ``stage`` is ``"ingest"`` or ``"questions"``."""

MIN_RETRIEVAL_DEPTH = 5  # hit@5 needs five ranked passages even when top_k is smaller
GOLD_TOKEN_SHARE = 0.5
HOLDOUT_FRACTION = 0.1
GOLD_RULE = (
    "A retrieved chunk is the gold paragraph when its source is the gold article's file and its"
    " text (minus a first-line title) is a substring of the gold paragraph or holds all of it"
    f" (whitespace collapsed) or at least {GOLD_TOKEN_SHARE:.0%} of its SQuAD-normalised tokens (as a multiset) occur in"
    " the gold paragraph. Questions without a gold paragraph match on the source alone."
)
# Settings that change what is measured; the report lists these.
REPORTED_SETTINGS = (
    "kb",
    "persist_dir",
    "embedder",
    "llm_model",
    "chunk_size",
    "chunk_overlap",
    "top_k",
    "fetch_k",
    "hybrid",
    "rrf_k",
    "keyword_weight",
    "mmr",
    "relevance_threshold",
    "citation_threshold",
    "temperature",
    "max_new_tokens",
    "repetition_penalty",
)
GENERATION_METRICS = (
    "em",
    "f1",
    "f1_answered",
    "answer_em",
    "answer_f1",
    "citation_precision",
    "citation_recall",
    "cited_answers",
    "refused_unanswerable",
    "refused_answerable",
)
_KB_UNSAFE_RE = re.compile(r"[^A-Za-z0-9._-]+")
_CITATION_MARK_RE = re.compile(r"\s*\[\d+(?:\s*[,;]\s*\d+)*\]")
_LEADING_PUNCT_RE = re.compile(r"^[\s,:;.\-–—]+")


# --- settings ------------------------------------------------------------------------------------


def default_kb_name(dataset_path: str | Path) -> str:
    """``eval-<dataset stem>``, made to fit the knowledge-base name rules of ``Settings.kb``.

    A stem with no usable character (a Chinese file name) becomes a short hash of it.

    >>> default_kb_name("../shared/datasets/new_wiki_v1.0.json")
    'eval-new_wiki_v1.0'
    >>> default_kb_name("my data (v2)!.jsonl")
    'eval-my-data-v2'
    >>> default_kb_name("北京.json")
    'eval-685e1518'
    """
    stem = Path(dataset_path).stem
    safe = _KB_UNSAFE_RE.sub("-", stem).strip("-._")
    if not safe:
        safe = hashlib.sha1(stem.encode("utf-8")).hexdigest()[:8]
    # Settings.kb allows 62 characters: first, up to 60 middle, last.
    return re.sub(r"[^A-Za-z0-9]+$", "", f"eval-{safe}"[:62])


def default_out_dir(dataset_path: str | Path) -> Path:
    """``./eval-out/<dataset stem>``.

    >>> default_out_dir("data/dev.json").as_posix()
    'eval-out/dev'
    """
    return Path("eval-out") / Path(dataset_path).stem


def eval_settings(
    dataset_path: str | Path,
    out_dir: str | Path,
    *,
    kb: str | None = None,
    persist_dir: str | Path | None = None,
    **overrides: Any,
) -> Settings:
    """Settings for an eval run, kept apart from the user's store.

    The knowledge base defaults to ``default_kb_name(dataset_path)`` (plus the embedder's id when
    it is not the default one) and the store to ``<out_dir>/store``; ``None`` overrides are
    ignored, the rest come from env and kbqa.toml.

    >>> s = eval_settings("dev.json", "/tmp/eval-out", top_k=None)
    >>> s.kb, s.persist_dir.as_posix()
    ('eval-dev', '/tmp/eval-out/store')
    >>> eval_settings("dev.json", "/tmp/eval-out", embedder="multilingual-e5-small").kb
    'eval-dev-multilingual-e5-small'
    """
    values = {k: v for k, v in overrides.items() if v is not None}
    values["kb"] = kb or default_kb_name(dataset_path)
    values["persist_dir"] = Path(persist_dir) if persist_dir else Path(out_dir) / "store"
    settings = Settings(**values)
    if kb is None and settings.embedder != Settings.model_fields["embedder"].default:
        # One knowledge base per embedder in the eval store: comparing embedders needs no reindex.
        settings.kb = _embedder_kb_name(settings.kb, settings.embedder)
    return settings


def _embedder_kb_name(kb: str, embedder: str) -> str:
    """``kb`` with the embedder's id appended, within the knowledge-base name rules.

    >>> _embedder_kb_name("eval-dev", "use-multilingual")
    'eval-dev-use-multilingual'
    """
    from rag.models import embedder_id

    suffix = _KB_UNSAFE_RE.sub("-", embedder_id(embedder)).strip("-._") or "embedder"
    return re.sub(r"[^A-Za-z0-9]+$", "", f"{kb}-{suffix}"[:62])


# --- scoring (pure) ------------------------------------------------------------------------------


def _same_source(source: str, gold_source: str) -> bool:
    # A gold source may be a bare file name while the KB stores a path relative to its root.
    return source == gold_source or PurePosixPath(source).name == gold_source


def _drop_title_line(text: str, title: str | None, starts_document: bool) -> str:
    first, _, rest = text.strip().partition("\n")
    if title is not None and first.strip() == article_display_title(title):
        return rest
    if starts_document and rest.strip():
        return rest  # the first line of a document is its title line in a corpus
    return text


def passage_is_gold(
    text: str,
    source: str,
    *,
    gold_source: str | None,
    gold_passage: str | None,
    title: str | None = None,
    starts_document: bool = False,
) -> bool:
    """Whether a retrieved chunk is the gold paragraph (the rule in the module docstring).

    ``title`` is the gold article's title (its display form is dropped from the chunk's first
    line); ``starts_document`` says the chunk begins its file, so its first line is a title.

    >>> gold = "The Andes are the longest range. They run through seven countries."
    >>> passage_is_gold("They run through seven countries.\\n\\nPeru is one.", "A.txt",
    ...                 gold_source="A.txt", gold_passage=gold)
    True
    >>> passage_is_gold("Andes", "A.txt", gold_source="A.txt", gold_passage=gold, title="Andes")
    False
    >>> passage_is_gold("长城很长。\\n\\n熊猫吃竹子,一天吃十几个小时。", "B.txt", gold_source="B.txt",
    ...                 gold_passage="长城很长。")  # short paragraphs share a chunk
    True
    """
    if gold_source is None or not _same_source(source, gold_source):
        return False
    if gold_passage is None:
        return True
    chunk = _drop_title_line(text, title, starts_document)
    chunk_flat = " ".join(chunk.split())
    if not chunk_flat:
        return False
    gold_flat = " ".join(gold_passage.split())
    if chunk_flat in gold_flat or gold_flat in chunk_flat:  # part of it, or all of it and more
        return True
    chunk_tokens = Counter(answer_tokens(chunk))
    total = sum(chunk_tokens.values())
    if total == 0:
        return False
    shared = sum((chunk_tokens & Counter(answer_tokens(gold_passage))).values())
    return shared / total >= GOLD_TOKEN_SHARE


def clean_prediction(text: str, lang: str = "en") -> str:
    """The answer text to score: the prompt's prefill and ``[n]`` citation markers removed.

    >>> clean_prediction("Answer: the Andes [1].")
    'the Andes.'
    >>> clean_prediction(" Lima [1, 2] is the capital [3]")
    'Lima is the capital'
    """
    out = text.strip()
    prefill = prompts.PREFILL.get(lang, prompts.PREFILL["en"])
    if out.lower().startswith(prefill.lower()):
        out = out[len(prefill) :]
    out = _CITATION_MARK_RE.sub("", out)
    return _LEADING_PUNCT_RE.sub("", out).strip()


@dataclass
class EvalRow:
    """One question's outcome. Generation fields are None with ``generate=False``."""

    id: str
    question: str
    question_type: str
    answerable: bool  # False: its article was held out of the knowledge base
    golds: list[str]
    gold_source: str | None
    hit_rank: int | None = None  # 1-based rank of the first gold paragraph, None if not retrieved
    doc_rank: int | None = None  # 1-based rank of the first passage from the gold article
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
    citation_precision: float | None = None
    citation_recall: float | None = None
    citations: list[int] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    error: str | None = None


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
    """Score one question from its ranked passages and (when generated) its ``Answer``."""
    row = EvalRow(
        id=question.id,
        question=question.question,
        question_type=question_type(question.question),
        answerable=answerable,
        golds=list(question.answers),
        gold_source=question.gold_source,
    )
    for rank, passage in enumerate(ranked, start=1):
        is_gold = passage_is_gold(
            passage.text,
            passage.source,
            gold_source=question.gold_source,
            gold_passage=question.gold_passage,
            title=question.article,
            starts_document=passage.metadata.get("start_index") == 0,
        )
        same_doc = question.gold_source is not None and _same_source(
            passage.source, question.gold_source
        )
        if is_gold and row.hit_rank is None:
            row.hit_rank = rank
        if same_doc and row.doc_rank is None:
            row.doc_rank = rank
        row.retrieved.append(
            {"source": passage.source, "chunk_id": passage.chunk_id, "gold": is_gold}
        )
    row.best_dense = max((p.dense_score or 0.0 for p in ranked[:top_k]), default=None)
    row.evidence = evidence
    gate = evidence if evidence is not None else row.best_dense
    row.gate_refused = gate is None or gate < relevance_threshold
    if retrieve_seconds is not None:
        row.timings["retrieve"] = round(retrieve_seconds, 4)
    if answer is None:
        return row

    row.timings = {k: float(v) for k, v in answer.timings.items()}
    row.abstained = answer.abstained
    row.prediction = clean_prediction(answer.raw_answer, answer.language)
    row.answer = "" if answer.abstained else clean_prediction(answer.answer, answer.language)
    row.citations = [c.n for c in answer.citations]
    if answerable:
        row.em = exact_match(row.prediction, row.golds)
        row.f1 = token_f1(row.prediction, row.golds)
        row.answer_em = exact_match(row.answer, row.golds)
        row.answer_f1 = token_f1(row.answer, row.golds)
        if not answer.abstained:
            by_n = {p.n: p.text for p in answer.passages}
            cited = [by_n[n] for n in row.citations if n in by_n]
            row.citation_precision = citation_precision(cited, row.golds)
            row.citation_recall = citation_recall(
                cited, [p.text for p in answer.passages], row.golds
            )
    return row


def _hit_curve(ranks: Sequence[int | None], depth: int) -> list[float]:
    return [mean(float(r is not None and r <= k) for r in ranks) for k in range(1, depth + 1)]


def _mean_or_none(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return mean(present) if present else None


def _share(flags: Sequence[bool]) -> float | None:
    return mean(float(f) for f in flags) if flags else None


def summarize(rows: Sequence[EvalRow], depth: int, generate: bool) -> dict[str, Any]:
    """Aggregate rows into ``metrics``, ``hit_curve``, ``doc_hit_curve``, ``by_type``, ``latency``.

    Retrieval metrics cover answerable questions with a gold source; answer metrics cover all
    answerable questions (a refusal scores 0); generation metrics are None without generation.
    """
    answerable = [r for r in rows if r.answerable]
    unanswerable = [r for r in rows if not r.answerable]
    with_gold = [r for r in answerable if r.gold_source is not None]
    ranks = [r.hit_rank for r in with_gold]
    doc_ranks = [r.doc_rank for r in with_gold]
    hit_curve = _hit_curve(ranks, depth) if with_gold else []
    doc_curve = _hit_curve(doc_ranks, depth) if with_gold else []
    metrics: dict[str, float | None] = {
        "hit@1": hit_curve[0] if hit_curve else None,
        "hit@5": hit_curve[4] if len(hit_curve) >= 5 else None,
        "mrr": mean(1.0 / r if r else 0.0 for r in ranks) if with_gold else None,
        "doc_hit@1": doc_curve[0] if doc_curve else None,
        "doc_hit@5": doc_curve[4] if len(doc_curve) >= 5 else None,
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
        gold_group = [r for r in group if r.gold_source is not None]
        by_type[qtype] = {
            "n": len(group),
            "hit@1": _share([r.hit_rank == 1 for r in gold_group]),
            "hit@5": _share([r.hit_rank is not None and r.hit_rank <= 5 for r in gold_group]),
            "f1": _mean_or_none([r.f1 for r in group]) if generate else None,
            "em": _mean_or_none([r.em for r in group]) if generate else None,
        }

    latency: dict[str, dict[str, float]] = {}
    for stage in ("retrieve", "first_token", "total"):
        values = [r.timings[stage] for r in rows if stage in r.timings]
        if values:
            latency[stage] = {
                "p50": percentile(values, 50),
                "p95": percentile(values, 95),
                "mean": mean(values),
                "n": len(values),
            }
    counts = {
        "questions": len(rows),
        "answerable": len(answerable),
        "unanswerable": len(unanswerable),
        "with_gold": len(with_gold),
        "answered": sum(1 for r in answerable if r.abstained is False),
        "errors": sum(1 for r in rows if r.error),
    }
    return {
        "metrics": metrics,
        "hit_curve": hit_curve,
        "doc_hit_curve": doc_curve,
        "by_type": by_type,
        "latency": latency,
        "counts": counts,
    }


# --- the run -------------------------------------------------------------------------------------


@dataclass
class EvalResult:
    """Everything one ``run_eval`` measured; ``to_dict`` is what results.json holds."""

    dataset: str
    dataset_name: str
    generate: bool
    depth: int  # passages ranked per question for the retrieval metrics
    metrics: dict[str, float | None]
    hit_curve: list[float]
    doc_hit_curve: list[float]
    by_type: dict[str, dict[str, Any]]
    latency: dict[str, dict[str, float]]
    counts: dict[str, int]
    settings: dict[str, Any]
    knowledge_base: dict[str, Any]
    machine: dict[str, Any]
    rows: list[EvalRow]
    started_at: str
    seconds: float
    seed: int = 0
    limit: int | None = None
    command: str | None = None
    gold_rule: str = GOLD_RULE

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def machine_info() -> dict[str, Any]:
    """Where the numbers were measured: OS, CPU, Python and torch threads."""
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
    }
    torch = sys.modules.get("torch")  # only when already loaded: never import it just for this
    if torch is not None:
        info["torch"] = getattr(torch, "__version__", "?")
        info["torch_threads"] = torch.get_num_threads()
    return info


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


def _build_kb(
    kb: KnowledgeBase,
    ds: EvalDataset,
    kept: list[str],
    held: list[str],
    corpus_dir: Path,
    progress: EvalProgress | None,
) -> dict[str, Any]:
    paths = _prepare_corpus(corpus_dir, ds, kept)
    ingest_progress = (lambda i, n, _src: progress("ingest", i, n)) if progress else None
    report = kb.ingest(corpus_dir, prune=True, progress=ingest_progress, show_progress=False)
    # The store may be shared with an earlier run from another folder or seed: held-out
    # articles it still holds would turn refusal questions into answerable ones.
    removed = []
    for name in {article_filename(t) for t in held}:
        if kb.registry.get(name) is not None:
            kb.remove(name)
            removed.append(name)
    failed = [
        {"source": f.source, "reason": f.reason} for f in report.files if f.status == "failed"
    ]
    return {
        "name": kb.name,
        "persist_dir": str(kb.settings.persist_dir),
        "corpus_dir": str(corpus_dir),
        "articles": len(paths),
        "held_out_articles": list(held),
        "chunks": kb.store.count(),
        "files_added": report.files_added,
        "files_updated": report.files_updated,
        "files_unchanged": report.files_unchanged,
        "files_removed": report.files_removed + len(removed),
        "files_failed": failed,
        "chunks_written": report.chunks_written,
        "ingest_seconds": round(report.seconds, 2),
    }


def _existing_kb(kb: KnowledgeBase) -> dict[str, Any]:
    return {
        "name": kb.name,
        "persist_dir": str(kb.settings.persist_dir),
        "corpus_dir": None,
        "articles": len(kb.documents()),
        "held_out_articles": [],
        "chunks": kb.store.count(),
        "note": "the dataset has no passages: its questions were asked of this existing KB",
    }


def _ask(kb: KnowledgeBase, question: str, settings: Settings) -> Answer:
    # Sampling knobs go with each call, so shared models loaded for other settings obey these.
    knobs = {k: getattr(settings, k) for k in SAMPLING_KEYS}
    stream = kb.stream(question, **knobs)
    for _ in stream:
        pass
    assert stream.answer is not None
    return stream.answer


def run_eval(
    dataset_path: str | Path,
    settings: Settings,
    *,
    limit: int | None,
    out_dir: str | Path,
    generate: bool = True,
    seed: int = 0,
    progress: EvalProgress | None = None,
    models: Models | None = None,
) -> EvalResult:
    """Build (or reuse) the eval knowledge base for a dataset, ask its questions, score them.

    ``settings.kb`` and ``settings.persist_dir`` are used as given: build them with
    ``eval_settings`` to keep the run out of the user's store. The corpus is written to
    ``<out_dir>/corpus``. ``limit`` caps the answerable questions (None: all); ``max(2, limit//4)``
    questions on held-out articles test refusal. ``generate=False`` scores retrieval only and
    never loads the generator. ``models`` shares already loaded models.

    A dataset without passages (JSON Lines of questions and answers only) is asked of the
    existing knowledge base ``settings.kb``, with no held-out articles.
    """
    from rag.kb import KnowledgeBase

    started = time.perf_counter()
    started_at = datetime.now().astimezone().isoformat(timespec="seconds")
    if limit is not None and limit < 0:
        raise ConfigError(f"limit must be 0 or more, got {limit}")
    out_dir = Path(out_dir)
    ds = load_dataset(Path(dataset_path))
    if models is not None:
        _check_models(models, settings, generate)
    kb = KnowledgeBase(settings, models=models)

    if ds.articles:
        kept, held = split_for_abstention(ds, HOLDOUT_FRACTION, seed=seed)
        kb_info = _build_kb(kb, ds, kept, held, out_dir / "corpus", progress)
        answerable_qs = sample_questions(_sub_dataset(ds, kept), limit, seed=seed)
        n_refusal = None if limit is None else max(2, limit // 4)
        refusal_qs = sample_questions(_sub_dataset(ds, held), n_refusal, seed=seed) if held else []
    else:
        kb_info = _existing_kb(kb)
        answerable_qs = sample_questions(ds, limit, seed=seed)
        refusal_qs = []

    s = kb.settings
    depth = max(s.top_k, MIN_RETRIEVAL_DEPTH)
    work = [(q, True) for q in answerable_qs] + [(q, False) for q in refusal_qs]
    rows: list[EvalRow] = []
    for i, (question, answerable) in enumerate(work, start=1):
        t0 = time.perf_counter()
        ranked = kb.retrieve(question.question, top_k=depth)
        retrieve_seconds = time.perf_counter() - t0
        answer, error = None, None
        if generate:
            try:
                answer = _ask(kb, question.question, s)
            except QuestionError as exc:  # e.g. a question over the length limit: a miss
                error = str(exc)
        row = score_row(
            question,
            answerable=answerable,
            ranked=ranked,
            top_k=s.top_k,
            relevance_threshold=s.abstain_below,
            evidence=kb.evidence(question.question, ranked[: s.top_k]) if ranked else 0.0,
            answer=answer,
            retrieve_seconds=retrieve_seconds,
        )
        if error is not None:
            row.error, row.abstained, row.prediction, row.answer = error, True, "", ""
            if answerable:
                row.em = row.f1 = row.answer_em = row.answer_f1 = 0.0
        rows.append(row)
        if progress:
            progress("questions", i, len(work))

    summary = summarize(rows, depth, generate)
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
            **{k: _jsonable(getattr(s, k)) for k in REPORTED_SETTINGS},
            "relevance_threshold": s.abstain_below,  # the one in effect when unset
        },
        knowledge_base=kb_info,
        machine=machine_info(),
        rows=rows,
        started_at=started_at,
        seconds=round(time.perf_counter() - started, 2),
        seed=seed,
        limit=limit,
    )


def _jsonable(value: Any) -> Any:
    return str(value) if isinstance(value, Path) else value


# --- the report ----------------------------------------------------------------------------------

_METRIC_LABELS: tuple[tuple[str, str, str], ...] = (
    ("hit@1", "retrieval hit@1 (gold paragraph)", "with_gold"),
    ("hit@5", "retrieval hit@5 (gold paragraph)", "with_gold"),
    ("mrr", "retrieval MRR (gold paragraph)", "with_gold"),
    ("doc_hit@1", "retrieval hit@1 (gold article)", "with_gold"),
    ("doc_hit@5", "retrieval hit@5 (gold article)", "with_gold"),
    ("em", "exact match (raw answer)", "answerable"),
    ("f1", "token F1 (raw answer)", "answerable"),
    ("f1_answered", "token F1 (raw answer, answered only)", "answered"),
    ("answer_em", "exact match (cited answer)", "answerable"),
    ("answer_f1", "token F1 (cited answer)", "answerable"),
    ("citation_precision", "citation precision", "answered"),
    ("citation_recall", "citation recall", "answered"),
    ("cited_answers", "answers with a citation", "answered"),
    ("refused_unanswerable", "refused, article not in KB (correct)", "unanswerable"),
    ("refused_answerable", "refused, answerable (wrong)", "answerable"),
    ("gate_refused_unanswerable", "evidence gate refuses, not in KB", "unanswerable"),
    ("gate_refused_answerable", "evidence gate refuses, answerable", "answerable"),
)


def _fmt(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def summary_table(result: EvalResult) -> str:
    """The metrics as a Markdown table (what the CLI prints at the end)."""
    lines = ["| metric | value | questions |", "|---|---:|---:|"]
    for key, label, over in _METRIC_LABELS:
        value = result.metrics.get(key)
        if value is None and key in GENERATION_METRICS and not result.generate:
            continue
        lines.append(f"| {label} | {_fmt(value)} | {result.counts.get(over, 0)} |")
    for stage, stats in result.latency.items():
        lines.append(
            f"| latency {stage.replace('_', ' ')} p50 / p95 (s) |"
            f" {stats['p50']:.3f} / {stats['p95']:.3f} | {stats['n']} |"
        )
    return "\n".join(lines)


def _md_cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def render_markdown(result: EvalResult, plots: Sequence[str] = ()) -> str:
    """report.md: metrics, hit@k, per-type scores, the KB, settings, machine, command, plots."""
    mode = "retrieval + generation" if result.generate else "retrieval only (--no-generate)"
    c = result.counts
    kb = result.knowledge_base
    out = [
        f"# kbqa eval: {result.dataset_name}",
        "",
        f"- Date: {result.started_at} ({result.seconds:.0f} s)",
        f"- Dataset: `{result.dataset}`",
        f"- Mode: {mode}; seed {result.seed}; limit {result.limit if result.limit is not None else 'none'}",
        f"- Questions: {c['answerable']} answerable ({c['with_gold']} with a gold source),"
        f" {c['unanswerable']} on held-out articles",
    ]
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
            "| gold paragraph | " + " | ".join(f"{v:.3f}" for v in result.hit_curve) + " |",
            "| gold article | " + " | ".join(f"{v:.3f}" for v in result.doc_hit_curve) + " |",
            "",
        ]
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
    out += [
        "## How it is scored",
        "",
        f"- Gold passage: {result.gold_rule}",
        f"- Retrieval ranks the top {result.depth} passages per question (max(top_k, 5)); MRR is"
        " over those. The chain itself reads the top `top_k`.",
        "- Answers: SQuAD v1.1 exact match and token F1 against every gold answer (best one),"
        " on `raw_answer` with the prompt's prefill and `[n]` markers removed; a refusal scores 0."
        " The cited answer (`answer`) is scored the same way for comparison.",
        "- Citations: a cited passage is correct when it contains a gold answer (precision);"
        " recall is cited correct passages over read passages containing one. Answered,"
        " answerable questions only.",
        f"- Refusal: {HOLDOUT_FRACTION:.0%} of the articles are held out of the knowledge base;"
        " their questions should be refused (`Answer.abstained`). The evidence gate is the"
        " chain's first check (evidence score under `relevance_threshold`).",
        "",
        "## Knowledge base",
        "",
        f"- `{kb.get('name')}` in `{kb.get('persist_dir')}`: {kb.get('articles')} articles,"
        f" {kb.get('chunks')} chunks",
    ]
    if kb.get("corpus_dir"):
        out.append(
            f"- Corpus `{kb['corpus_dir']}`; this run: {kb.get('files_added', 0)} added,"
            f" {kb.get('files_updated', 0)} updated, {kb.get('files_unchanged', 0)} unchanged,"
            f" {kb.get('files_removed', 0)} removed, {kb.get('chunks_written', 0)} chunks written"
            f" in {kb.get('ingest_seconds', 0)} s"
        )
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
    import json

    from rag.eval import plots

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
