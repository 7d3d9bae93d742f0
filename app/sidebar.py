"""The sidebar: interface language, knowledge base (pick or create), view, answer settings."""

from __future__ import annotations

from typing import Any

import streamlit as st
from pydantic import ValidationError

from app.chat import new_chat
from app.i18n import LANGUAGES, t
from app.library import documents_dir
from app.markup import escape_markdown_inline
from app.resources import backend_name, open_kb
from app.ui import error_sentence, flash, validation_message
from rag.kb import KnowledgeBase, Models
from rag.settings import Settings

KB = "kb_name"


def interface_language() -> str:
    """English or Chinese; the first visit follows the browser's language."""
    if "ui_lang" not in st.session_state:
        locale = str(getattr(st.context, "locale", None) or "")
        st.session_state["ui_lang"] = "zh" if locale.lower().startswith("zh") else "en"
    return str(
        st.sidebar.radio(
            "Language · 语言",
            list(LANGUAGES),
            format_func=LANGUAGES.__getitem__,
            horizontal=True,
            key="ui_lang",
        )
    )


def with_kb(base: Settings, name: str) -> Settings:
    """``base`` for another knowledge base; a bad name raises pydantic's ``ValidationError``."""
    return Settings(**{**base.model_dump(), "kb": name})


def choose_kb(base: Settings, models: Models | None, lang: str) -> Settings:
    """The knowledge-base picker and the "new knowledge base" form; returns the chosen settings."""
    try:
        names = KnowledgeBase.list(base)
    except Exception as exc:  # noqa: BLE001 - e.g. a Chroma server that is down
        st.sidebar.error(error_sentence(exc, "action_open", lang))
        names = []
    current = st.session_state.setdefault(KB, base.kb)
    options = sorted(set(names) | {base.kb, current})
    st.sidebar.selectbox(t(lang, "kb"), options, key=KB)
    with st.sidebar.expander(t(lang, "new_kb")):
        st.text_input(t(lang, "new_kb_name"), key="new_kb_name", max_chars=63)
        st.button(
            t(lang, "create"),
            key="create_kb",
            on_click=_create_kb,
            args=(base, models, lang),
            disabled=models is None,
        )
    name = st.session_state[KB]
    return base if name == base.kb else with_kb(base, name)


def _create_kb(base: Settings, models: Models | None, lang: str) -> None:
    """Button callback: runs before the rerun, so it may still change the picker's value."""
    name = str(st.session_state.get("new_kb_name", "")).strip()
    try:
        settings = with_kb(base, name)
    except ValidationError as exc:
        reason = escape_markdown_inline(validation_message(exc))
        flash("error", t(lang, "bad_kb_name", reason=reason))
        return
    try:
        assert models is not None
        documents_dir(settings).mkdir(parents=True, exist_ok=True)
        open_kb(settings, models).writable_store()  # creates the (empty) collection
    except Exception as exc:  # noqa: BLE001
        flash("error", error_sentence(exc, "action_create", lang))
        return
    st.session_state[KB] = name
    st.session_state["new_kb_name"] = ""
    st.session_state["view"] = "library"
    flash("success", t(lang, "created", name=name))


def choose_view(kb_name: str, lang: str) -> str:
    view = st.sidebar.radio(
        t(lang, "view"),
        ["chat", "library"],
        format_func=lambda v: t(lang, v),
        horizontal=True,
        key="view",
    )
    if view == "chat":
        st.sidebar.button(
            t(lang, "new_chat"),
            key="new_chat",
            on_click=new_chat,
            args=(kb_name,),
            icon=":material/add_comment:",
        )
    return str(view)


def answer_settings(settings: Settings, lang: str) -> dict[str, Any]:
    """Per-answer knobs, passed to ``kb.stream`` as overrides (they change the next answer only)."""
    with st.sidebar.expander(t(lang, "settings"), expanded=False):
        st.caption(t(lang, "settings_note"))
        st.markdown(
            f"{t(lang, 'model')}: "
            + t(lang, "model_value", name=settings.llm_model, backend=backend_name(settings))
        )
        temperature = st.slider(
            t(lang, "temperature"), 0.0, 2.0, float(settings.temperature), 0.05, key="temperature"
        )
        top_p = st.slider(
            t(lang, "top_p"), 0.05, 1.0, max(0.05, float(settings.top_p)), 0.05, key="top_p"
        )
        max_new_tokens = st.number_input(
            t(lang, "max_new_tokens"),
            1,
            8192,
            int(settings.max_new_tokens),
            16,
            key="max_new_tokens",
        )
        top_k = st.slider(
            t(lang, "top_k"), 1, max(20, settings.top_k), int(settings.top_k), key="top_k"
        )
        hybrid = st.toggle(t(lang, "hybrid"), value=settings.hybrid, key="hybrid")
        answer_language = st.selectbox(
            t(lang, "answer_language"),
            ["auto", "en", "zh"],
            index=["auto", "en", "zh"].index(settings.answer_language),
            format_func=lambda v: t(lang, f"lang_{v}"),
            key="answer_language",
        )
    return {
        "temperature": float(temperature),
        "top_p": float(top_p),
        "max_new_tokens": int(max_new_tokens),
        "top_k": int(top_k),
        "hybrid": bool(hybrid),
        "answer_language": str(answer_language),
    }
