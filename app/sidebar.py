"""The sidebar: interface language, knowledge base (pick or create), view, answer settings."""

from __future__ import annotations

from typing import Any

import streamlit as st

from app.chat import new_chat
from app.feedback import FEEDBACK_TO
from app.i18n import LANGUAGES, t
from app.library import delete_kb, documents_dir, kb_name_problem, rename_kb
from app.markup import escape_markdown_inline
from app.resources import backend_name, forget_kbs, open_kb
from app.ui import error_sentence, flash
from rag.kb import KnowledgeBase, Models
from rag.settings import Settings

KB = "kb_name"
CONFIRM_KB = "confirm_kb"  # (action, knowledge base, new name) awaiting confirmation
# Widgets whose options are shown through the interface language: their value is sent to the
# browser again when the language changes (the browser keeps the old wording otherwise and shows
# nothing selected, as "视图" did after switching to 中文).
TRANSLATED_WIDGETS = ("view", "answer_language")
SHOWN_LANGUAGE = "shown_lang"


def interface_language() -> str:
    """English or Chinese; the first visit follows the browser's language."""
    if "ui_lang" not in st.session_state:
        locale = str(getattr(st.context, "locale", None) or "")
        st.session_state["ui_lang"] = "zh" if locale.lower().startswith("zh") else "en"
    lang = str(
        st.sidebar.radio(
            "Language · 语言",
            list(LANGUAGES),
            format_func=LANGUAGES.__getitem__,
            horizontal=True,
            key="ui_lang",
        )
    )
    if st.session_state.get(SHOWN_LANGUAGE) not in (None, lang):
        for key in TRANSLATED_WIDGETS:
            if key in st.session_state:
                st.session_state[key] = st.session_state[key]
    st.session_state[SHOWN_LANGUAGE] = lang
    return lang


def with_kb(base: Settings, name: str) -> Settings:
    """``base`` for another knowledge base; a bad name raises pydantic's ``ValidationError``."""
    return Settings(**{**base.model_dump(), "kb": name})


def choose_kb(base: Settings, models: Models | None, lang: str) -> Settings:
    """The knowledge-base picker, the "new knowledge base" form and rename/delete; returns the
    chosen settings."""
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
        name = str(st.session_state.get("new_kb_name", "")).strip()
        problem = kb_name_problem(name, options) if name else None
        if problem is not None:
            st.caption(t(lang, f"kb_name_{problem}", name=escape_markdown_inline(name)))
        st.button(
            t(lang, "create"),
            key="create_kb",
            on_click=_create_kb,
            args=(base, models, options, lang),
            disabled=models is None or not name or problem is not None,
        )
    name = st.session_state[KB]
    settings = base if name == base.kb else with_kb(base, name)
    if models is not None:
        _manage_kb(settings, models, name in names, options, base.kb, lang)
    st.session_state[FEEDBACK_TO] = settings  # where ratings of this page's answers are kept
    return settings


def _create_kb(base: Settings, models: Models | None, existing: list[str], lang: str) -> None:
    """Button callback: runs before the rerun, so it may still change the picker's value."""
    name = str(st.session_state.get("new_kb_name", "")).strip()
    problem = kb_name_problem(name, existing)
    if problem is not None:
        flash("error", t(lang, f"kb_name_{problem}", name=escape_markdown_inline(name)))
        return
    try:
        settings = with_kb(base, name)
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


def _manage_kb(
    settings: Settings, models: Models, exists: bool, options: list[str], home: str, lang: str
) -> None:
    """Rename or delete the open knowledge base, each after a confirmation."""
    name = settings.kb
    pending = st.session_state.get(CONFIRM_KB)
    if pending is not None and pending[1] != name:  # asked about another knowledge base
        st.session_state.pop(CONFIRM_KB, None)
        pending = None
    with st.sidebar.expander(t(lang, "manage_kb", name=name), expanded=pending is not None):
        if not exists:
            st.caption(t(lang, "manage_kb_empty"))
            return
        if pending is not None:
            action, _, new_name = pending
            if action == "rename":
                st.warning(t(lang, "confirm_rename", name=name, new=new_name))
            else:
                st.warning(t(lang, "confirm_delete_kb", name=name))
            yes, no = st.columns(2)
            yes.button(
                t(lang, f"confirm_{action}_button"),
                key=f"confirm_{action}_kb",
                type="primary",
                on_click=_rename_kb if action == "rename" else _delete_kb,
                args=(settings, models, new_name if action == "rename" else home, lang),
            )
            no.button(t(lang, "cancel"), key="cancel_kb", on_click=_cancel_kb)
            return
        st.text_input(t(lang, "rename_to"), key="rename_kb_name", max_chars=63)
        new_name = str(st.session_state.get("rename_kb_name", "")).strip()
        problem = kb_name_problem(new_name, options) if new_name else None
        if problem is not None:
            st.caption(t(lang, f"kb_name_{problem}", name=escape_markdown_inline(new_name)))
        left, right = st.columns(2)
        left.button(
            t(lang, "rename_kb"),
            key="rename_kb",
            disabled=not new_name or problem is not None,
            on_click=_ask_kb,
            args=("rename", name, new_name),
        )
        right.button(
            t(lang, "delete_kb"),
            key="delete_kb",
            icon=":material/delete:",
            on_click=_ask_kb,
            args=("delete", name, ""),
        )


def _ask_kb(action: str, name: str, new_name: str) -> None:
    st.session_state[CONFIRM_KB] = (action, name, new_name)


def _cancel_kb() -> None:
    st.session_state.pop(CONFIRM_KB, None)


def _rename_kb(settings: Settings, models: Models, new_name: str, lang: str) -> None:
    """Confirm callback: rename, then open the knowledge base under its new name."""
    st.session_state.pop(CONFIRM_KB, None)
    try:
        rename_kb(open_kb(settings, models), new_name)
    except Exception as exc:  # noqa: BLE001
        flash("error", error_sentence(exc, "action_rename", lang))
        return
    finally:
        forget_kbs()
    st.session_state[KB] = new_name
    st.session_state["rename_kb_name"] = ""
    flash("success", t(lang, "renamed_kb", name=settings.kb, new=new_name))


def _delete_kb(settings: Settings, models: Models, home: str, lang: str) -> None:
    """Confirm callback: delete, then open the configured knowledge base."""
    st.session_state.pop(CONFIRM_KB, None)
    try:
        delete_kb(open_kb(settings, models))
    except Exception as exc:  # noqa: BLE001
        flash("error", error_sentence(exc, "action_delete_kb", lang))
        return
    finally:
        forget_kbs()
    st.session_state[KB] = home
    flash("success", t(lang, "deleted_kb", name=settings.kb))


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
