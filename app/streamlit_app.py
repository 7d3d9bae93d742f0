"""kbqa's web page: chat with a knowledge base, manage its documents, tune the answers.

Start it with ``kbqa app`` (127.0.0.1:8501). All retrieval and generation happen in ``rag``.
"""

from __future__ import annotations

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
from app.i18n import t  # noqa: E402
from app.library_view import library_view  # noqa: E402
from app.markup import escape_markdown_inline  # noqa: E402
from app.resources import ModelProblem, load_models, open_kb  # noqa: E402
from app.sidebar import answer_settings, choose_kb, choose_view, interface_language  # noqa: E402
from app.ui import error_sentence, show_flash, validation_message  # noqa: E402
from rag.settings import Settings  # noqa: E402


def show_problem(problem: ModelProblem, lang: str) -> None:
    role = t(lang, f"role_{problem.role}")
    st.error(t(lang, "model_failed", role=role, reason=escape_markdown_inline(problem.reason)))
    st.info(t(lang, "model_fix", setting=problem.setting, value=problem.value))


def main() -> None:
    st.set_page_config(page_title="kbqa", page_icon=":material/menu_book:", layout="centered")
    lang = interface_language()
    st.title(t(lang, "title"))
    st.caption(t(lang, "subtitle"))
    try:
        base = Settings()
    except ValidationError as exc:
        st.error(f"kbqa: invalid setting: {escape_markdown_inline(validation_message(exc))}")
        return
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
