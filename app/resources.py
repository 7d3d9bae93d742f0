"""What the app loads once per server process and shares between sessions: models and KBs.

``get_models`` is keyed by the model settings only, so every session and every knowledge base
uses one ``Models`` object; a ``KnowledgeBase`` is a cheap wrapper around it, cached per settings.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import streamlit as st

from rag.errors import KbqaError
from rag.kb import KnowledgeBase, Models
from rag.settings import Settings, model_setting_names

if TYPE_CHECKING:
    from langchain_core.embeddings import Embeddings

    from rag.llm import ChatBackend

log = logging.getLogger("kbqa.app")

# The settings a loaded model depends on, marked on the Settings fields themselves so a new one
# cannot be forgotten here; the rest (store, retrieval, knowledge base) change without a reload.
MODEL_FIELDS = model_setting_names()


def model_key(settings: Settings) -> str:
    """A digest of the model settings: equal digests share one ``Models``."""
    fields = sorted(f for f in type(settings).model_fields if f in MODEL_FIELDS)
    text = json.dumps({f: str(getattr(settings, f)) for f in fields})
    return hashlib.sha256(text.encode()).hexdigest()


def backend_name(settings: Settings) -> str:
    """The generator backend in use (``auto`` resolved where rag can say which)."""
    try:
        from rag.llm import resolve_backend
    except ImportError:
        return str(settings.llm_backend)
    return str(resolve_backend(settings))


# The settings that choose the answer model (the app's model picker changes only these).
GENERATOR_FIELDS = frozenset({"llm_model", "llm_backend", "llm_base_url", "llm_api_key"})


def embedder_key(settings: Settings) -> str:
    """``model_key`` without the generator's choice: every answer model shares one embedder."""
    fields = sorted(
        f for f in type(settings).model_fields if f in MODEL_FIELDS and f not in GENERATOR_FIELDS
    )
    text = json.dumps({f: str(getattr(settings, f)) for f in fields})
    return hashlib.sha256(text.encode()).hexdigest()


@st.cache_resource(show_spinner=False, max_entries=2)
def get_embedder(key: str, _settings: Settings) -> Embeddings:
    """The embedder, once per process for all answer models."""
    return Models(_settings).embeddings


def _load_generator(settings: Settings) -> ChatBackend:
    from rag.llm import load_chat_model

    started = time.monotonic()
    llm = load_chat_model(settings)
    log.info(
        "loaded generator %s (%s) in %.1f s",
        settings.llm_model,
        backend_name(settings),
        time.monotonic() - started,
    )
    return llm


@st.cache_resource(show_spinner=False, max_entries=4)
def get_models(key: str, _settings: Settings) -> Models:
    """One ``Models`` per model configuration, sharing the embedder, with it loaded (the
    generator loads through ``load_models``, once: the object is kept for the process). A
    failure raises and is not cached, so fixing it and reloading works."""
    embeddings = get_embedder(embedder_key(_settings), _settings)
    return Models(
        _settings,
        load_embedder=lambda: embeddings,
        load_llm=lambda: _load_generator(_settings),
    )


@st.cache_resource(show_spinner=False, max_entries=32)
def get_kb(key: str, _settings: Settings, _models: Models) -> KnowledgeBase:
    return KnowledgeBase(_settings, models=_models)


@dataclass(frozen=True)
class ModelProblem:
    """A model that did not load: which one, why, and the setting that chooses it."""

    role: str  # "embedder" | "generator"
    reason: str
    setting: str
    value: str


def load_models(settings: Settings, loading_text: str) -> tuple[Models | None, ModelProblem | None]:
    """The shared models, loading them on first use; a failure becomes a ``ModelProblem``."""
    try:
        with st.spinner(loading_text):
            models = get_models(model_key(settings), settings)
    except Exception as exc:  # noqa: BLE001 - any load failure is shown, never a traceback
        log.warning("embedder failed to load: %s", exc, exc_info=not isinstance(exc, KbqaError))
        return None, _problem("embedder", "embedder", settings, exc)
    if not models.llm_loaded:
        try:
            with st.spinner(loading_text):
                _ = models.llm
        except Exception as exc:  # noqa: BLE001
            log.warning(
                "generator failed to load: %s", exc, exc_info=not isinstance(exc, KbqaError)
            )
            return models, _problem("generator", "llm_model", settings, exc)
    return models, None


def _problem(role: str, field: str, settings: Settings, exc: Exception) -> ModelProblem:
    reason = str(exc) if isinstance(exc, KbqaError) else f"{type(exc).__name__}: {exc}"
    return ModelProblem(role, reason, f"KBQA_{field.upper()}", str(getattr(settings, field)))


def open_kb(settings: Settings, models: Models) -> KnowledgeBase:
    return get_kb(settings.model_dump_json() + model_key(settings), settings, models)


def forget_kbs() -> None:
    """Drop the cached ``KnowledgeBase`` objects (after a rename or delete: they name the old
    knowledge base); the models stay loaded."""
    get_kb.clear()
