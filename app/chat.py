"""The chat view: saved chats in the sidebar, the open chat, the streamed answer and its sources,
and the source viewer.

Chats are saved per knowledge base (``app.chats``) after every turn; the open chat's id is in the
page's URL (``?kb=…&chat=…``), so a reload or a server restart opens it again.
"""

from __future__ import annotations

import itertools
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import streamlit as st

from app.chats import Chat, ChatStore, Message, export_markdown
from app.feedback import feedback_buttons
from app.i18n import t
from app.library import documents_dir, original_file
from app.library_view import landing
from app.markup import escape_markdown, escape_markdown_inline, highlight, stream_piece
from app.ui import VIEWING, Source, error_sentence, flash, render_answer
from app.viewer import render_page, surrounding
from rag.chain import MAX_QUESTION_CHARS

if TYPE_CHECKING:
    from rag.kb import KnowledgeBase
    from rag.settings import Settings

__all__ = ["Message", "chat_view", "history", "new_chat"]

log = logging.getLogger("kbqa.app")
OPEN = "open_chat"  # knowledge base -> the open chat's id (None: a new, unsaved chat)
CONFIRM_DELETE = "confirm_delete_chat"
LISTED = 30  # chats listed in the sidebar, most recent first
TEXT_SUFFIXES = {".txt", ".text", ".md", ".markdown", ".rst", ".csv", ".json", ".jsonl", ".log"}


def chat_store(settings: Settings) -> ChatStore:
    """The knowledge base's saved chats, beside its other files (deleted with it)."""
    return ChatStore(settings.kb_dir / "chats.json")


def open_chat_id(kb_name: str, store: ChatStore) -> str | None:
    """The chat this session has open; on a session's first run, the one the URL names."""
    opened: dict[str, str | None] = st.session_state.setdefault(OPEN, {})
    if kb_name not in opened:
        wanted = st.query_params.get("chat")
        same_kb = st.query_params.get("kb", kb_name) == kb_name
        opened[kb_name] = wanted if wanted and same_kb and store.get(wanted) else None
    return opened[kb_name]


def _set_open(kb_name: str, chat_id: str | None) -> None:
    st.session_state.setdefault(OPEN, {})[kb_name] = chat_id
    st.session_state.pop(CONFIRM_DELETE, None)
    st.session_state.pop(VIEWING, None)


def new_chat(kb_name: str) -> None:
    """Start a new chat; the open one stays saved and listed."""
    _set_open(kb_name, None)


def _sync_url(kb_name: str, chat_id: str | None) -> None:
    st.query_params["kb"] = kb_name
    if chat_id:
        st.query_params["chat"] = chat_id
    elif "chat" in st.query_params:
        del st.query_params["chat"]


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
    """Each document's original file, for the download buttons and the viewer."""
    folder = documents_dir(kb.settings)
    return {r.source: original_file(r, folder) for r in kb.documents()}


def holds_documents(kb: KnowledgeBase) -> bool:
    return kb.exists() and not kb.store.is_empty()


def chat_view(kb: KnowledgeBase, overrides: dict[str, Any], lang: str, can_answer: bool) -> None:
    store = chat_store(kb.settings)
    chat_id = open_chat_id(kb.name, store)
    chat = store.get(chat_id) if chat_id else None
    if chat_id and chat is None:  # deleted in another tab
        _set_open(kb.name, None)
    chat_sidebar(store, chat, kb.name, lang)
    _sync_url(kb.name, chat.id if chat else None)
    try:
        has_docs = holds_documents(kb)
        files = document_files(kb)
    except Exception as exc:  # noqa: BLE001 - e.g. built with another embedder: say so
        st.error(error_sentence(exc, "action_open", lang))
        return
    messages = chat.messages if chat else []
    if not has_docs and not messages:
        st.info(t(lang, "empty_kb", kb=kb.name))
    for i, msg in enumerate(messages):
        _show(msg, files, f"{kb.name}-{chat.id if chat else ''}-{i}", lang)
    picked = landing(kb, lang) if has_docs and not messages else None  # APPLIB: examples
    question = st.chat_input(
        t(lang, "ask"),
        key="question",
        max_chars=MAX_QUESTION_CHARS,
        disabled=not (can_answer and has_docs),
    ) or (picked if can_answer else None)
    if question:
        _answer(kb, str(question), chat or Chat.new(), store, files, overrides, lang)
    elif isinstance(st.session_state.get(VIEWING), Source):
        show_viewer(st.session_state[VIEWING], kb, files, lang)


def _show(msg: Message, files: dict[str, Path | None], key: str, lang: str) -> None:
    with st.chat_message(msg.role):
        if msg.error:
            st.error(msg.text)
        elif msg.role == "user":
            st.markdown(escape_markdown(msg.text))
        elif msg.answer is not None:
            render_answer(msg.answer, files, key, lang)
            feedback_buttons(msg.answer, key, lang)  # APPLIB: thumbs and correction
        else:
            st.markdown(escape_markdown(msg.text))


def _answer(
    kb: KnowledgeBase,
    question: str,
    chat: Chat,
    store: ChatStore,
    files: dict[str, Path | None],
    overrides: dict[str, Any],
    lang: str,
) -> None:
    turns = history(chat.messages)
    chat.messages.append(Message("user", question))
    store.save(chat)  # a reload while the answer is written keeps the question
    _set_open(kb.name, chat.id)
    _sync_url(kb.name, chat.id)
    _show(chat.messages[-1], files, "", lang)
    key = f"{kb.name}-{chat.id}-{len(chat.messages)}"
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
            chat.messages.append(Message("assistant", text, error=True))
            store.save(chat)
        else:
            # The streamed text is the model's own; show the checked one, with kbqa's markers.
            slot.empty()
            chat.messages.append(Message("assistant", answer.answer, answer=answer))
            store.save(chat)
            render_answer(answer, files, key, lang)
            feedback_buttons(answer, key, lang)  # APPLIB: thumbs and correction
    if len(chat.messages) == 2:
        st.rerun()  # the sidebar was drawn before this chat existed: list it


# -- the sidebar's chat list -------------------------------------------------------------------


def chat_sidebar(store: ChatStore, chat: Chat | None, kb_name: str, lang: str) -> None:
    """Saved chats (most recent first) and, for the open one: rename, export, delete."""
    chats = store.list()
    with st.sidebar:
        st.markdown(f"**{t(lang, 'chats')}**")
        if not chats:
            st.caption(t(lang, "no_chats"))
        for c in chats[:LISTED]:
            st.button(
                escape_markdown_inline(c.label) or t(lang, "untitled"),
                key=f"open-chat-{c.id}",
                on_click=_set_open,
                args=(kb_name, c.id),
                type="primary" if chat is not None and c.id == chat.id else "tertiary",
                icon=":material/chat:",
                width="stretch",
            )
        if chat is None:
            return
        with st.expander(t(lang, "this_chat"), icon=":material/edit:"):
            st.text_input(t(lang, "chat_name"), value=chat.title, key=f"chat-title-{chat.id}")
            st.button(
                t(lang, "rename"), key="rename_chat", on_click=_rename, args=(store, chat, lang)
            )
            st.download_button(
                t(lang, "export"),
                data=lambda: export_markdown(store.get(chat.id) or chat, kb_name),
                file_name=f"kbqa-{kb_name}-{chat.id}.md",
                mime="text/markdown",
                key="export_chat",
                on_click="ignore",
                icon=":material/download:",
            )
            if st.session_state.get(CONFIRM_DELETE) == chat.id:
                st.warning(t(lang, "delete_confirm", name=escape_markdown_inline(chat.label)))
                with st.container(horizontal=True):
                    st.button(
                        t(lang, "delete_yes"),
                        key="delete_chat_yes",
                        on_click=_delete,
                        args=(store, chat, kb_name, lang),
                        type="primary",
                    )
                    st.button(t(lang, "cancel"), key="delete_chat_no", on_click=_cancel_delete)
            else:
                st.button(
                    t(lang, "delete_chat"),
                    key="delete_chat",
                    on_click=_ask_delete,
                    args=(chat.id,),
                    icon=":material/delete:",
                )


def _rename(store: ChatStore, chat: Chat, lang: str) -> None:
    title = str(st.session_state.get(f"chat-title-{chat.id}", ""))
    if store.rename(chat.id, title):
        flash("success", t(lang, "renamed"))


def _ask_delete(chat_id: str) -> None:
    st.session_state[CONFIRM_DELETE] = chat_id


def _cancel_delete() -> None:
    st.session_state.pop(CONFIRM_DELETE, None)


def _delete(store: ChatStore, chat: Chat, kb_name: str, lang: str) -> None:
    if store.delete(chat.id):
        flash("success", t(lang, "deleted_chat", name=escape_markdown_inline(chat.label)))
    _set_open(kb_name, None)


# -- the source viewer ---------------------------------------------------------------------------


@st.cache_data(show_spinner=False, max_entries=64)
def _page_png(path: str, mtime: float, page: int, passage: str) -> tuple[bytes, bool, int]:
    """The page as PNG bytes with the passage highlighted (cached: a rerun redraws nothing)."""
    import io

    view = render_page(Path(path), page, passage)
    buf = io.BytesIO()
    view.image.save(buf, format="PNG")
    return buf.getvalue(), view.highlighted, view.pages


def _close_viewer() -> None:
    st.session_state.pop(VIEWING, None)


def show_viewer(s: Source, kb: KnowledgeBase, files: dict[str, Path | None], lang: str) -> None:
    """The whole passage in a dialog: the PDF page with the passage highlighted, or the passage
    in its surrounding text."""

    def body() -> None:
        st.markdown(f"`{s.location}`" if "`" not in s.location else escape_markdown(s.location))
        if s.support is not None:
            st.caption(t(lang, "support_explained", pct=100 * s.support))
        file = files.get(s.source)
        if file is not None and file.suffix.lower() == ".pdf" and s.page:
            _pdf_page(file, s, lang)
        else:
            _in_context(s, kb, file, lang)

    st.dialog(t(lang, "viewer_title", n=s.n), width="large", on_dismiss=_close_viewer)(body)()


def _pdf_page(file: Path, s: Source, lang: str) -> None:
    try:
        png, highlighted, _ = _page_png(str(file), file.stat().st_mtime, int(s.page or 1), s.text)
    except Exception as exc:  # noqa: BLE001 - a page that will not draw: show the passage
        log.warning("could not draw %s p. %s: %s", file, s.page, exc)
        st.warning(t(lang, "page_failed"))
    else:
        st.image(png, caption=t(lang, "page_caption" if highlighted else "not_on_page"))
    st.markdown(f"**{t(lang, 'passage')}**")
    st.markdown(highlight(s.text, s.words, limit=6000))


def _in_context(s: Source, kb: KnowledgeBase, file: Path | None, lang: str) -> None:
    before, after = "", ""
    if file is not None and file.suffix.lower() in TEXT_SUFFIXES:
        try:
            context = surrounding(file.read_text(encoding="utf-8", errors="replace"), s.text)
        except OSError:
            context = None
        if context is not None and context.found:
            before, after = context.before, context.after
    if not before and not after:
        before, after = _neighbours(kb, s)
    st.markdown(f"**{t(lang, 'in_context') if before or after else t(lang, 'passage')}**")
    with st.container(border=True):
        if before:
            st.markdown(f":gray[{escape_markdown(before)}]")
        st.markdown(f":orange-background[{escape_markdown(s.text)}]")
        if after:
            st.markdown(f":gray[{escape_markdown(after)}]")


def _neighbours(kb: KnowledgeBase, s: Source) -> tuple[str, str]:
    """The chunks stored before and after the passage in its file (for formats read by a
    loader, whose text is not the file's bytes)."""
    if not s.chunk_id:
        return "", ""
    try:
        got = kb.store.collection.get(
            where={"source": s.source}, include=["documents", "metadatas"]
        )
    except Exception as exc:  # noqa: BLE001 - the viewer still shows the passage
        log.warning("no neighbours for %s: %s", s.source, exc)
        return "", ""
    rows = sorted(
        zip(got["ids"], got["documents"] or [], got["metadatas"] or [], strict=False),
        key=lambda r: (
            int((r[2] or {}).get("page") or 0),
            int((r[2] or {}).get("start_index") or 0),
        ),
    )
    ids = [r[0] for r in rows]
    if s.chunk_id not in ids:
        return "", ""
    i = ids.index(s.chunk_id)
    before = str(rows[i - 1][1] or "") if i > 0 else ""
    after = str(rows[i + 1][1] or "") if i + 1 < len(rows) else ""
    return before, after
