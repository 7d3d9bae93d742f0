"""The chat view: history, the question box, the streamed answer and its sources."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import streamlit as st

from app.i18n import t
from app.library import documents_dir, original_file
from app.markup import answer_markdown, escape_markdown, stream_piece
from app.ui import error_sentence, render_sources
from rag.chain import MAX_QUESTION_CHARS

if TYPE_CHECKING:
    from rag.kb import KnowledgeBase
    from rag.types import Answer

CHATS = "chats"


@dataclass
class Message:
    role: str  # "user" | "assistant"
    text: str
    answer: Answer | None = None
    error: bool = False


def messages_for(kb_name: str) -> list[Message]:
    """This session's chat with one knowledge base (each KB keeps its own conversation)."""
    chats: dict[str, list[Message]] = st.session_state.setdefault(CHATS, {})
    return chats.setdefault(kb_name, [])


def new_chat(kb_name: str) -> None:
    st.session_state.setdefault(CHATS, {})[kb_name] = []


def history(messages: list[Message]) -> list[tuple[str, str]]:
    """The (role, text) turns the chain condenses follow-ups with; failed turns are left out.

    >>> history([Message("user", "a"), Message("assistant", "x", error=True),
    ...          Message("user", "b"), Message("assistant", "c")])
    [('user', 'b'), ('assistant', 'c')]
    """
    turns: list[tuple[str, str]] = []
    for i, m in enumerate(messages):
        failed_next = i + 1 < len(messages) and messages[i + 1].error
        if m.error or (m.role == "user" and failed_next):
            continue
        turns.append((m.role, m.answer.answer if m.answer else m.text))
    return turns


def document_files(kb: KnowledgeBase) -> dict[str, Path | None]:
    """Each document's original file, for the download buttons under the sources."""
    folder = documents_dir(kb.settings)
    return {r.source: original_file(r, folder) for r in kb.documents()}


def holds_documents(kb: KnowledgeBase) -> bool:
    return kb.exists() and not kb.store.is_empty()


def chat_view(kb: KnowledgeBase, overrides: dict[str, Any], lang: str, can_answer: bool) -> None:
    messages = messages_for(kb.name)
    try:
        has_docs = holds_documents(kb)
        files = document_files(kb)
    except Exception as exc:  # noqa: BLE001 - e.g. built with another embedder: say so
        st.error(error_sentence(exc, "action_open", lang))
        return
    if not has_docs and not messages:
        st.info(t(lang, "empty_kb", kb=kb.name))
    for i, msg in enumerate(messages):
        _show(msg, files, f"{kb.name}-{i}", lang)
    question = st.chat_input(
        t(lang, "ask"),
        key="question",
        max_chars=MAX_QUESTION_CHARS,
        disabled=not (can_answer and has_docs),
    )
    if question:
        _answer(kb, str(question), messages, files, overrides, lang)


def _show(msg: Message, files: dict[str, Path | None], key: str, lang: str) -> None:
    with st.chat_message(msg.role):
        if msg.error:
            st.error(msg.text)
        elif msg.role == "user":
            st.markdown(escape_markdown(msg.text))
        else:
            st.markdown(answer_markdown(msg.text))
            if msg.answer is not None:
                render_sources(msg.answer, files, key, lang)


def _answer(
    kb: KnowledgeBase,
    question: str,
    messages: list[Message],
    files: dict[str, Path | None],
    overrides: dict[str, Any],
    lang: str,
) -> None:
    turns = history(messages)
    messages.append(Message("user", question))
    _show(messages[-1], files, "", lang)
    with st.chat_message("assistant"):
        slot = st.empty()
        try:
            stream = kb.stream(question, turns, **overrides)
            with st.spinner(t(lang, "thinking")):
                first = next(stream, "")  # retrieval (and condensing) happen before the first piece
            slot.write_stream(stream_piece(p) for p in itertools.chain([first], stream))
            answer = stream.answer
            assert answer is not None
        except Exception as exc:  # noqa: BLE001 - one sentence on the page, details in the log
            text = error_sentence(exc, "action_ask", lang)
            slot.error(text)
            messages.append(Message("assistant", text, error=True))
            return
        # The streamed text is the model's own; show the checked one, with kbqa's markers.
        slot.markdown(answer_markdown(answer.answer))
        messages.append(Message("assistant", answer.answer, answer=answer))
        render_sources(answer, files, f"{kb.name}-{len(messages) - 1}", lang)
