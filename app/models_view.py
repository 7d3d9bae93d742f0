"""Which answer model the app uses: the installed generators, a local model, a configured server.

``generator_choices`` lists what this machine can run (pure, tested without Streamlit);
``choose_model`` is the sidebar picker. Each choice is a set of settings overrides, and the
models of each are loaded once per server process (``app.resources``), so switching back and
forth never loads a model twice.

>>> from rag.settings import Settings
>>> [c.id for c in generator_choices(Settings(), installed=lambda m: m.alias != "qwen2.5-coder-1.5b")]
['qwen2.5-coder-0.5b', 'smollm2-135m']
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rag.registry import DEFAULT_GENERATOR, GENERATORS, PackagedModel
from rag.settings import Settings

CHOICE = "llm_choice"
SERVER = "server"
CONFIGURED = "configured"
# The speed/quality note of each packaged generator (i18n key ``model_note_<note>``): the ladder
# in docs/benchmarks.md measures them; the words stay without numbers until it lands.
NOTES = {
    "smollm2-135m": "tiny",
    "qwen2.5-coder-0.5b": "fast",
    "qwen2.5-coder-1.5b": "better",
}


@dataclass(frozen=True)
class ModelChoice:
    """One answer model the picker offers: a label, a note, and the settings that select it."""

    id: str
    label: str
    note: str  # i18n key suffix: tiny, fast, better, server, local
    overrides: dict[str, Any] = field(default_factory=dict)

    def apply(self, settings: Settings) -> Settings:
        if all(getattr(settings, k) == v for k, v in self.overrides.items()):
            return settings
        return Settings(**{**settings.model_dump(), **self.overrides})


def packages_installed(model: PackagedModel) -> bool:
    """Whether every package that holds a packaged model's files is installed."""
    modules = [m for m, _ in model.parts] or [model.module]
    return all(importlib.util.find_spec(m) is not None for m in modules)


def generator_choices(
    settings: Settings, installed: Callable[[PackagedModel], bool] = packages_installed
) -> list[ModelChoice]:
    """The configured model first, then every packaged generator whose packages are installed
    (the default before the others)."""
    local_backend = settings.llm_backend if settings.llm_backend != "openai" else "auto"
    url = settings.llm_base_url
    choices: list[ModelChoice] = []
    if url:
        choices.append(
            ModelChoice(
                SERVER,
                f"{settings.llm_model} @ {url}",
                "server",
                {
                    "llm_model": settings.llm_model,
                    "llm_backend": settings.llm_backend
                    if server_configured(settings)
                    else "openai",
                    "llm_base_url": url,
                },
            )
        )
    if not server_configured(settings) and settings.llm_model not in GENERATORS:
        # A local folder, a .gguf file or a hub id named in the settings.
        name = Path(settings.llm_model).name or settings.llm_model
        choices.append(
            ModelChoice(
                CONFIGURED,
                name,
                "local",
                {
                    "llm_model": settings.llm_model,
                    "llm_backend": local_backend,
                    "llm_base_url": None,
                },
            )
        )
    ordered = sorted(GENERATORS.values(), key=lambda m: (m.alias != DEFAULT_GENERATOR, m.alias))
    for model in ordered:
        if not installed(model):
            continue
        choices.append(
            ModelChoice(
                model.alias,
                model.title,
                NOTES.get(model.alias, "local"),
                {"llm_model": model.alias, "llm_backend": local_backend, "llm_base_url": None},
            )
        )
    return choices


def server_configured(settings: Settings) -> bool:
    """Whether the settings send questions to the OpenAI-compatible server (an explicit local
    backend keeps the model local even when a server URL is set)."""
    return bool(settings.llm_base_url) and settings.llm_backend in ("auto", "openai")


def default_choice(settings: Settings, choices: list[ModelChoice]) -> str:
    """The choice the settings themselves select."""
    if server_configured(settings):
        return SERVER
    ids = [c.id for c in choices]
    return settings.llm_model if settings.llm_model in ids else (ids[0] if ids else CONFIGURED)


def choose_model(base: Settings, lang: str) -> Settings:
    """The sidebar's answer-model picker; returns ``base`` with the chosen model's settings."""
    import streamlit as st

    from app.i18n import t

    choices = generator_choices(base)
    if not choices:
        return base
    by_id = {c.id: c for c in choices}
    if st.session_state.get(CHOICE) not in by_id:
        st.session_state[CHOICE] = default_choice(base, choices)
    current = st.session_state[CHOICE]
    shown = current if current in GENERATORS else by_id[current].label
    with st.sidebar.expander(f"{t(lang, 'answer_model')}: {shown}", expanded=False):
        chosen = st.selectbox(
            t(lang, "answer_model"),
            list(by_id),
            format_func=lambda i: by_id[i].label,
            key=CHOICE,
            label_visibility="collapsed",
        )
        choice = by_id[str(chosen)]
        st.caption(t(lang, f"model_note_{choice.note}"))
    return choice.apply(base)
