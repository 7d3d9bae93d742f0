"""App fixtures: a knowledge base prepared once per module, and the environment the app reads.

The app builds its own ``Settings()`` from ``KBQA_*`` variables, exactly as under ``kbqa app``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from app_support import app_environment, prepare_store


@pytest.fixture(scope="module")
def store(tmp_path_factory, models) -> Path:
    """One ingested store for the whole module: ingesting per test would dominate the time."""
    return prepare_store(tmp_path_factory.mktemp("app") / "store", models)


@pytest.fixture
def use_env(monkeypatch):
    """Point the app at a store: ``use_env(persist_dir, KBQA_X="...")``."""

    def apply(persist_dir: Path, **extra: str) -> None:
        for name in ("KBQA_KB", "KBQA_TOP_K", "KBQA_CHROMA_URL", "KBQA_EMBEDDER"):
            monkeypatch.delenv(name, raising=False)
        for name, value in app_environment(persist_dir, **extra).items():
            monkeypatch.setenv(name, value)

    return apply
