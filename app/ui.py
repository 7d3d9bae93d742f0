"""Small Streamlit pieces the views share: one-sentence errors, flash messages, sources."""

from __future__ import annotations

import logging
import mimetypes
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import streamlit as st
from pydantic import ValidationError

from app.i18n import t
from app.markup import escape_markdown_inline, highlight, marker
from rag.errors import KbqaError

if TYPE_CHECKING:
    from rag.types import Answer, Passage

log = logging.getLogger("kbqa.app")
FLASH = "flash"


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


def _location(source: str, page: int | None, lang: str) -> str:
    where = f"`{source}`" if "`" not in source else escape_markdown_inline(source)
    return f"{where} · {t(lang, 'page', page=page)}" if page else where


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


def _source_block(
    n: int,
    source: str,
    page: int | None,
    text: str,
    score_label: str,
    question: str,
    file: Path | None,
    key: str,
    lang: str,
) -> None:
    with st.container(border=True):
        st.markdown(f"{marker(n)} {_location(source, page, lang)} · {score_label}")
        st.markdown(highlight(text, question))
        _download(file, key, lang)


def render_sources(answer: Answer, files: dict[str, Path | None], key: str, lang: str) -> None:
    """The passages under an answer: numbered like its ``[n]`` markers, with file, page,
    highlighted snippet, score and a download of the original."""
    if answer.abstained:
        st.info(t(lang, "abstained"))
        if not answer.passages:
            st.caption(t(lang, "no_passages"))
            return
        st.caption(t(lang, "nearest"))
        for p in answer.passages:
            _passage_block(p, answer.question, files, f"{key}-p{p.n}", lang)
        return
    st.markdown(f"**{t(lang, 'sources')}**")
    if answer.citations:
        for c in answer.citations:
            _source_block(
                c.n,
                c.source,
                c.page,
                c.snippet,
                t(lang, "score", score=c.score),
                # The words that tie the snippet to the question and to the cited answer.
                f"{answer.question} {answer.raw_answer}",
                files.get(c.source),
                f"{key}-c{c.n}",
                lang,
            )
    else:
        for p in answer.passages:
            _passage_block(p, answer.question, files, f"{key}-p{p.n}", lang)
    if answer.unsupported_sentences:
        st.caption(t(lang, "unsupported", n=len(answer.unsupported_sentences)))


def _passage_block(
    p: Passage, question: str, files: dict[str, Path | None], key: str, lang: str
) -> None:
    score = p.dense_score if p.dense_score is not None else p.score
    _source_block(
        p.n,
        p.source,
        p.page,
        p.text,
        t(lang, "similarity", score=score),
        question,
        files.get(p.source),
        key,
        lang,
    )
