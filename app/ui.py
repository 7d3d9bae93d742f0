"""Small Streamlit pieces the views share: one-sentence errors, flash messages, sources."""

from __future__ import annotations

import logging
import mimetypes
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import streamlit as st
from pydantic import ValidationError

from app.i18n import t
from app.markup import answer_markdown, escape_markdown_inline, highlight, marker, renumber
from rag.errors import KbqaError

if TYPE_CHECKING:
    from rag.types import Answer, Citation, Passage

log = logging.getLogger("kbqa.app")
FLASH = "flash"
VIEWING = "viewing"  # the source the viewer dialog shows (a ``Source``), while it is open


def validation_message(exc: ValidationError) -> str:
    """A pydantic error as one sentence, without its documentation links."""
    parts = []
    for err in exc.errors():
        msg = str(err.get("msg", "")).removeprefix("Value error, ")
        loc = ".".join(str(x) for x in err.get("loc", ()))
        parts.append(f"{loc}: {msg}" if loc and loc not in msg else msg)
    return "; ".join(parts)


def error_sentence(exc: BaseException, action: str, lang: str) -> str:
    """What the page says when ``action`` failed: the error's own sentence, never a traceback."""
    name = t(lang, action)
    if isinstance(exc, KbqaError):
        return t(lang, "failed", action=name, reason=escape_markdown_inline(str(exc)))
    if isinstance(exc, ValidationError):
        return t(
            lang, "failed", action=name, reason=escape_markdown_inline(validation_message(exc))
        )
    log.error("%s failed", action, exc_info=exc)
    return t(lang, "unexpected", action=name, kind=type(exc).__name__)


@contextmanager
def guarded(action: str, lang: str) -> Iterator[None]:
    """Run a user action; any failure becomes one ``st.error`` line (st.rerun/st.stop pass)."""
    try:
        yield
    except Exception as exc:  # noqa: BLE001 - the page shows a sentence; the log keeps the rest
        st.error(error_sentence(exc, action, lang))


def flash(kind: str, text: str) -> None:
    """A message shown once, at the top of the next run (survives ``st.rerun``)."""
    st.session_state.setdefault(FLASH, []).append((kind, text))


def show_flash() -> None:
    for kind, text in st.session_state.pop(FLASH, []):
        getattr(st, kind)(text)


@dataclass(frozen=True)
class Source:
    """One card under an answer: a cited passage (``support`` set) or a retrieved one."""

    n: int  # the number shown: the answer's marker, or the passage's rank
    source: str
    page: int | None
    location: str
    snippet: str  # what the card shows
    text: str  # the whole passage (the snippet when the passage is unknown)
    words: str  # the words to mark: the question, and the cited answer
    support: float | None = None  # share of the cited sentence's words in the passage
    similarity: float | None = None  # cosine similarity of question and passage
    chunk_id: str = ""
    metadata: tuple[tuple[str, Any], ...] = ()


def _passage_of(c: Citation, answer: Answer) -> Passage | None:
    """The passage a citation rests on: ``Citation.passage`` when rag records it, else the
    passage with the marker's number (rag numbered markers by passage before renumbering)."""
    wanted = getattr(c, "passage", None) or c.n
    for p in answer.passages:
        if p.n == wanted and p.source == c.source:
            return p
    return next((p for p in answer.passages if p.source == c.source and p.page == c.page), None)


def _passage_source(p: Passage, n: int, words: str) -> Source:
    return Source(
        n,
        p.source,
        p.page,
        p.location,
        p.text,
        p.text,
        words,
        similarity=p.dense_score,
        chunk_id=p.chunk_id,
        metadata=tuple(sorted((str(k), v) for k, v in p.metadata.items())),
    )


def cited_sources(answer: Answer) -> tuple[str, list[Source]]:
    """The answer text and its citations, numbered 1, 2, 3 in the order the text uses them."""
    text, mapping = renumber(answer.answer, [c.n for c in answer.citations])
    words = f"{answer.question} {answer.raw_answer or answer.answer}"
    out = []
    for c in sorted(answer.citations, key=lambda c: mapping.get(c.n, c.n)):
        p = _passage_of(c, answer)
        base = _passage_source(p, c.n, words) if p else None
        out.append(
            Source(
                mapping.get(c.n, c.n),
                c.source,
                c.page,
                c.location or (p.location if p else c.source),
                c.snippet,
                p.text if p else c.snippet,
                words,
                support=c.score,
                chunk_id=base.chunk_id if base else "",
                metadata=base.metadata if base else (),
            )
        )
    return text, out


def nearest_sources(answer: Answer) -> list[Source]:
    """The passages retrieved for this answer's question, by rank."""
    return [_passage_source(p, i, answer.question) for i, p in enumerate(answer.passages, 1)]


def _where(location: str) -> str:
    return f"`{location}`" if "`" not in location else escape_markdown_inline(location)


def _download(path: Path | None, key: str, lang: str) -> None:
    if path is None:
        return
    st.download_button(
        t(lang, "download", name=path.name),
        data=lambda: path.read_bytes(),  # read on click, not on every rerun
        file_name=path.name,
        mime=mimetypes.guess_type(path.name)[0] or "application/octet-stream",
        key=key,
        on_click="ignore",
        icon=":material/download:",
        type="tertiary",
    )


def _open_viewer(source: Source) -> None:
    st.session_state[VIEWING] = source


def _score_note(s: Source, lang: str) -> str:
    """A number only where it tells the reader something: a citation's support when it is
    partial (full support is what every citation has), a retrieved passage's similarity."""
    if s.support is not None:
        return f" · {t(lang, 'support_partial', pct=100 * s.support)}" if s.support < 1 else ""
    if s.similarity is not None:
        return f" · {t(lang, 'similarity', score=s.similarity)}"
    return ""


def source_card(s: Source, file: Path | None, key: str, lang: str) -> None:
    with st.container(border=True):
        st.markdown(f"{marker(s.n)} {_where(s.location)}{_score_note(s, lang)}")
        st.markdown(highlight(s.snippet, s.words, limit=300))
        with st.container(horizontal=True):
            st.button(
                t(lang, "show_passage"),
                key=f"{key}-view",
                on_click=_open_viewer,
                args=(s,),
                icon=":material/article:",
                type="tertiary",
            )
            _download(file, f"{key}-dl", lang)


def render_answer(answer: Answer, files: dict[str, Path | None], key: str, lang: str) -> None:
    """An answer with its sources; a refusal said once, its closest passages folded away."""
    if answer.standalone_question and answer.standalone_question != answer.question:
        st.caption(
            t(lang, "searched_for", question=escape_markdown_inline(answer.standalone_question))
        )
    if answer.abstained:
        st.info(answer_markdown(answer.answer) or t(lang, "abstained"))
        nearest = nearest_sources(answer)
        if not nearest:
            st.caption(t(lang, "no_passages"))
            return
        with st.expander(t(lang, "nearest", n=len(nearest)), expanded=False):
            st.caption(t(lang, "similarity_help"))
            for s in nearest:
                source_card(s, files.get(s.source), f"{key}-p{s.n}", lang)
        return
    text, cited = cited_sources(answer)
    st.markdown(answer_markdown(text))
    if cited:
        st.markdown(f"**{t(lang, 'sources')}**")
        for s in cited:
            source_card(s, files.get(s.source), f"{key}-c{s.n}", lang)
    else:
        st.caption(t(lang, "no_citations"))
        with st.expander(t(lang, "retrieved", n=len(answer.passages)), expanded=False):
            for s in nearest_sources(answer):
                source_card(s, files.get(s.source), f"{key}-p{s.n}", lang)
    if answer.unsupported_sentences:
        st.caption(t(lang, "unsupported", n=len(answer.unsupported_sentences)))
