"""kbqa's web page: chat with a knowledge base, manage its documents, tune the answers.

Start it with ``kbqa app`` (127.0.0.1:8501). All retrieval and generation happen in ``rag``.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

# `streamlit run app/streamlit_app.py` puts app/ on sys.path, not the repository root.
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402
from pydantic import ValidationError  # noqa: E402

import rag  # noqa: E402,F401 - sets the offline and no-telemetry environment first
from app.chat import chat_view  # noqa: E402
from app.chats import Preferences  # noqa: E402
from app.i18n import LANGUAGES, t  # noqa: E402
from app.library_view import library_view  # noqa: E402
from app.markup import escape_markdown_inline  # noqa: E402
from app.models_view import choose_model  # noqa: E402
from app.resources import ModelProblem, load_models, open_kb  # noqa: E402
from app.sidebar import (  # noqa: E402
    KB,
    answer_settings,
    choose_kb,
    choose_view,
    interface_language,
    with_kb,
)
from app.ui import error_sentence, show_flash, validation_message  # noqa: E402
from rag.settings import Settings  # noqa: E402

log = logging.getLogger("kbqa.app")


def show_problem(problem: ModelProblem, lang: str) -> None:
    role = t(lang, f"role_{problem.role}")
    st.error(t(lang, "model_failed", role=role, reason=escape_markdown_inline(problem.reason)))
    st.info(t(lang, "model_fix", setting=problem.setting, value=problem.value))


def preferences(base: Settings) -> Preferences:
    """Choices kept on the server beside the knowledge bases, not in the browser."""
    return Preferences(base.persist_dir / "kbqa" / "app.json")


def remembered_language(base: Settings | None) -> str | None:
    """Set the interface language saved last time before the picker draws (first run only)."""
    if base is None:
        return None
    saved = preferences(base).get("ui_lang")
    if "ui_lang" not in st.session_state and saved in LANGUAGES:
        st.session_state["ui_lang"] = saved
    return saved


def knowledge_base_from_url(base: Settings) -> None:
    """On a session's first run, open the knowledge base the URL names (``?kb=``)."""
    name = st.query_params.get("kb")
    if KB in st.session_state or not name:
        return
    try:
        with_kb(base, name)
    except ValidationError:
        return
    st.session_state[KB] = name


def main() -> None:
    st.set_page_config(page_title="kbqa", page_icon=":material/menu_book:", layout="centered")
    try:
        base: Settings | None = Settings()
        invalid = None
    except ValidationError as exc:
        base, invalid = None, exc
    saved = remembered_language(base)
    lang = interface_language()
    if base is not None and lang != saved:
        try:
            preferences(base).set("ui_lang", lang)
        except OSError as exc:  # a read-only store: the choice lasts for this session only
            log.warning("could not save the interface language: %s", exc)
    st.title(t(lang, "title"))
    st.caption(t(lang, "subtitle"))
    if base is None:
        assert invalid is not None
        st.error(f"kbqa: invalid setting: {escape_markdown_inline(validation_message(invalid))}")
        return
    knowledge_base_from_url(base)
    base = choose_model(base, lang)  # the answer model picked in the sidebar (APPLIB)
    models, problem = load_models(base, t(lang, "loading_models"))
    settings = choose_kb(base, models, lang)
    view = choose_view(settings.kb, lang)
    overrides = answer_settings(settings, lang)
    show_flash()
    if problem is not None:
        show_problem(problem, lang)
    if models is None:
        return
    kb = open_kb(settings, models)
    if view == "library":
        library_view(kb, lang)
    else:
        chat_view(kb, overrides, lang, can_answer=problem is None)


try:
    main()
except Exception as exc:  # noqa: BLE001 - the last line of defence: a sentence, not a traceback
    st.error(error_sentence(exc, "action_open", "en"))
