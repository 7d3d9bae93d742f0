"""Feedback on answers: thumbs up or down and an optional correction, kept beside the knowledge
base as JSON Lines, and exported as a dev-set folder ``kbqa eval`` reads.

Plain functions without Streamlit. A rating is stored as one line per click (append only), and
the last line of each answer wins, so changing one's mind never rewrites the file.

>>> from rag.types import Answer, Citation
>>> answer = Answer("Which planet is largest?", "Jupiter is the largest planet [1].",
...                 [Citation(1, "solar.md", None, "Jupiter is the largest planet", 0.8)], [],
...                 abstained=False)
>>> item = feedback_for(answer, rating=UP, kb="default", model="qwen2.5-coder-0.5b")
>>> item.sources, eval_record(item)["answers"], eval_record(item)["gold_source"]
(['solar.md'], ['Jupiter is the largest planet.'], 'solar.md')
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from rag.settings import Settings
    from rag.types import Answer

FEEDBACK_FILE = "feedback.jsonl"
FEEDBACK_TO = "feedback_to"  # session state: the Settings of the knowledge base on the page
# st.feedback("thumbs") returns 0 for thumbs down and 1 for thumbs up.
DOWN, UP = 0, 1
_MARKER = re.compile(r"\s*\[\d+\]")


@dataclass(frozen=True)
class Feedback:
    """One rating of one answer. ``id`` is the same for every rating of the same answer."""

    id: str
    question: str  # what was searched: the standalone form of a follow-up
    answer: str  # the answer as shown, citation markers removed
    rating: int  # UP or DOWN
    abstained: bool
    correction: str = ""  # the right answer, in the user's words, when they gave one
    sources: list[str] = field(default_factory=list)  # the cited files, in marker order
    evidence: str | None = None  # the first cited passage's snippet
    lang: str | None = None  # the answer's language ("en" / "zh")
    kb: str = ""
    model: str = ""
    at: float = 0.0  # seconds since the epoch


def feedback_path(settings: Settings) -> Path:
    """Where a knowledge base's feedback lives: beside its other kbqa files, so renaming or
    deleting the knowledge base takes it along."""
    return settings.kb_dir / FEEDBACK_FILE


def strip_markers(text: str) -> str:
    """
    >>> strip_markers("Jupiter [1] is largest [2].")
    'Jupiter is largest.'
    """
    return _MARKER.sub("", text).strip()


def answer_id(question: str, answer: str) -> str:
    digest = hashlib.sha256(f"{question}\x00{answer}".encode()).hexdigest()
    return f"fb-{digest[:12]}"


def feedback_for(
    answer: Answer,
    *,
    rating: int,
    correction: str = "",
    kb: str = "",
    model: str = "",
    at: float | None = None,
) -> Feedback:
    """The feedback record for ``answer`` rated ``rating`` (``UP``/``DOWN``)."""
    if rating not in (UP, DOWN):
        raise ValueError(f"rating must be {UP} (up) or {DOWN} (down), got {rating!r}")
    question = (answer.standalone_question or answer.question).strip()
    text = strip_markers(answer.answer)
    sources = list(dict.fromkeys(c.source for c in answer.citations))
    return Feedback(
        id=answer_id(question, text),
        question=question,
        answer=text,
        rating=rating,
        abstained=answer.abstained,
        correction=correction.strip(),
        sources=sources,
        evidence=answer.citations[0].snippet if answer.citations else None,
        lang=answer.language,
        kb=kb,
        model=model,
        at=time.time() if at is None else at,
    )


def save_feedback(path: Path, item: Feedback) -> None:
    """Append one rating (the folder is created when missing)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as out:
        out.write(json.dumps(asdict(item), ensure_ascii=False) + "\n")


def load_feedback(path: Path) -> list[Feedback]:
    """The latest rating of each answer, oldest first; lines that do not parse are skipped (a
    half-written last line after a crash must not lose the rest)."""
    if not path.is_file():
        return []
    latest: dict[str, Feedback] = {}
    names = set(Feedback.__dataclass_fields__)
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            raw = json.loads(line)
            item = Feedback(**{k: v for k, v in raw.items() if k in names})
        except (ValueError, TypeError):
            continue
        latest.pop(item.id, None)  # re-rated: it moves to the end
        latest[item.id] = item
    return list(latest.values())


def eval_record(
    item: Feedback, doc_langs: Mapping[str, str] | None = None
) -> dict[str, Any] | None:
    """One line of a dev set's ``questions.jsonl`` (see ``rag.eval.devset``), or None when the
    rating says nothing about the right answer (thumbs down without a correction).

    - a correction: its text is the gold answer; the cited file is the gold document only when
      the answer was rated up (a correction to a wrong answer may live elsewhere);
    - thumbs up on an answer: the answer itself is the gold (edit it down to the key phrase
      for a looser score); its first cited file and passage are the gold source and evidence;
    - thumbs up on a refusal: the documents do not hold the answer; it must be refused.
    """
    langs = doc_langs or {}
    record: dict[str, Any] = {"id": item.id, "question": item.question, "lang": item.lang}
    gold_source = item.sources[0] if item.sources else None
    if item.correction:
        record["answers"] = [item.correction]
        keep = item.rating == UP and gold_source is not None
        record["gold_source"] = gold_source if keep else None
        record["evidence"] = item.evidence if keep else None
        record["kind"] = "feedback-correction"
    elif item.rating == UP and item.abstained:
        record.update(answers=[], gold_source=None, evidence=None, kind="unanswerable")
    elif item.rating == UP and item.answer:
        record.update(
            answers=[item.answer],
            gold_source=gold_source,
            evidence=item.evidence,
            kind="feedback",
        )
    else:
        return None
    record["doc_lang"] = langs.get(record["gold_source"]) if record["gold_source"] else None
    return record


@dataclass(frozen=True)
class ExportReport:
    folder: Path
    questions: int
    skipped: int  # ratings that say nothing about the right answer
    documents: int  # files copied into corpus/
    missing: list[str]  # cited files whose original was not found (their gold source is dropped)


def export_devset(
    items: Iterable[Feedback],
    documents: Mapping[str, Path | None],
    out: Path,
    doc_langs: Mapping[str, str] | None = None,
) -> ExportReport:
    """Write ``out/questions.jsonl`` and copy the knowledge base's documents into
    ``out/corpus/`` (``documents`` maps each source to its original file), so that
    ``kbqa eval out`` rebuilds the knowledge base and asks the rated questions again."""
    corpus = out / "corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    copied = 0
    for source, path in documents.items():
        target = corpus / source
        if (
            path is None
            or not path.is_file()
            or not target.resolve().is_relative_to(corpus.resolve())
        ):
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
        copied += 1
    lines: list[str] = []
    skipped = 0
    missing: list[str] = []
    for item in items:
        record = eval_record(item, doc_langs)
        if record is None:
            skipped += 1
            continue
        gold = record.get("gold_source")
        if gold and not (corpus / gold).is_file():
            missing.append(gold)
            record.update(gold_source=None, evidence=None, doc_lang=None)
        lines.append(json.dumps(record, ensure_ascii=False))
    (out / "questions.jsonl").write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return ExportReport(out, len(lines), skipped, copied, sorted(set(missing)))


def export_kb_feedback(settings: Settings, out: Path) -> ExportReport:
    """Export a knowledge base's feedback (``kbqa feedback export KB OUT``)."""
    from app.library import documents_dir, original_file
    from rag.errors import KbqaError
    from rag.store import FileRegistry

    path = feedback_path(settings)
    items = load_feedback(path)
    if not items:
        raise KbqaError(
            f"knowledge base {settings.kb!r} has no feedback yet (rate answers in `kbqa app`;"
            f" ratings are kept in {path})"
        )
    registry = FileRegistry(settings.kb_dir / "files.sqlite")
    try:
        records = registry.all()
    finally:
        registry.close()
    folder = documents_dir(settings)
    documents = {r.source: original_file(r, folder) for r in records}
    return export_devset(items, documents, out, {r.source: r.lang for r in records})


def add_feedback_command(sub: Any) -> None:
    """Register ``kbqa feedback export KB OUT`` on the ``kbqa`` sub-parsers."""
    p = sub.add_parser("feedback", help="answers rated in the app: export them as an eval set")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    e = actions.add_parser(
        "export",
        help="write OUT/questions.jsonl and OUT/corpus/ (then: kbqa eval OUT)",
        description="Turn the thumbs up/down and corrections given in `kbqa app` into a"
        " dev-set folder `kbqa eval` reads: questions.jsonl (question, answers, gold_source,"
        " evidence) and corpus/ (a copy of the knowledge base's documents).",
    )
    e.add_argument("--persist-dir", help="folder of the store (default: ./vectorstore)")
    e.add_argument("kb_name", metavar="KB", help="the knowledge base whose feedback to export")
    e.add_argument("out", metavar="OUT", help="output folder")
    e.set_defaults(func=_cmd_export)


def _cmd_export(args: Any) -> int:
    from rag.settings import Settings

    overrides: dict[str, Any] = {"kb": args.kb_name}
    if args.persist_dir:
        overrides["persist_dir"] = args.persist_dir
    report = export_kb_feedback(Settings(**overrides), Path(args.out))
    print(
        f"wrote {report.questions} question(s) to {report.folder / 'questions.jsonl'}"
        f" ({report.skipped} rating(s) without a known answer left out) and"
        f" {report.documents} document(s) to {report.folder / 'corpus'}"
    )
    for source in report.missing:
        print(f"  {source}: original file not found; its questions have no gold source")
    print(f"next: kbqa eval {report.folder}")
    return 0


# -- the widget under each answer (Streamlit is imported only here) ----------------------------


def feedback_buttons(answer: Answer, key: str, lang: str) -> None:
    """Thumbs up/down under an answer and, once rated, a box for the right answer; each
    change is saved at once (``save_feedback``). A rating given earlier, even in another
    session, is shown again."""
    import streamlit as st

    from app.i18n import t

    settings = st.session_state.get(FEEDBACK_TO)
    if settings is None or not key:
        return
    path = feedback_path(settings)
    rating_key, correction_key = f"rating-{key}", f"correction-{key}"
    if rating_key not in st.session_state:
        this = answer_id(
            (answer.standalone_question or answer.question).strip(), strip_markers(answer.answer)
        )
        earlier = next((i for i in load_feedback(path) if i.id == this), None)
        if earlier is not None:
            st.session_state[rating_key] = earlier.rating
            st.session_state[correction_key] = earlier.correction

    def save() -> None:
        rating = st.session_state.get(rating_key)
        if rating is None:
            return
        save_feedback(
            path,
            feedback_for(
                answer,
                rating=int(rating),
                correction=str(st.session_state.get(correction_key) or ""),
                kb=settings.kb,
                model=settings.llm_model,
            ),
        )

    rating = st.feedback("thumbs", key=rating_key, on_change=save)
    if rating is None:
        return
    st.text_input(
        t(lang, "feedback_correction"),
        key=correction_key,
        on_change=save,
        placeholder=t(lang, "feedback_correction_hint"),
        max_chars=500,
    )
    st.caption(t(lang, "feedback_saved"))
