"""Shared fixtures: the real packaged embedder and the real small generator, loaded once."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "data"
SHARED = REPO.parent / "shared"
# The same converted-model cache `make run` uses: built once per machine, verified on each load.
MODEL_CACHE = Path(os.environ.get("KBQA_TEST_MODEL_CACHE", "~/.cache/kbqa")).expanduser()
# An explicit backend: tests never depend on this machine's backend probe (rag.probe).
SMALL = {
    "llm_model": "smollm2-135m",
    "llm_backend": "transformers",
    "model_cache_dir": MODEL_CACHE,
    "max_new_tokens": 48,
}


@pytest.fixture(scope="session")
def models():
    from rag.kb import Models
    from rag.settings import Settings

    return Models(Settings(**SMALL))


@pytest.fixture
def make_kb(tmp_path, models):
    """Build a KnowledgeBase in a fresh store folder, sharing the session's loaded models."""
    from rag.kb import KnowledgeBase

    def make(**overrides):
        settings = {**SMALL, "persist_dir": tmp_path / "store", **overrides}
        return KnowledgeBase(models=models, **settings)

    return make


@pytest.fixture
def kb(make_kb):
    return make_kb()


@pytest.fixture
def docs(tmp_path) -> Path:
    """A small English + Chinese document folder."""
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "solar.md").write_text(
        "# The Solar System\n\nThe Sun is a star at the centre of the Solar System.\n\n"
        "## Planets\n\nJupiter is the largest planet in the Solar System. Mars is called the red"
        " planet because iron oxide covers its surface.\n",
        encoding="utf-8",
    )
    (folder / "baking.txt").write_text(
        "Sourdough bread rises because wild yeast and lactic acid bacteria ferment the dough."
        " A starter must be fed with flour and water every day.\n",
        encoding="utf-8",
    )
    (folder / "长城.txt").write_text(
        "长城是中国古代的军事防御工程。明长城的总长度约为八千八百五十公里。\n"
        "长城在一九八七年被列入世界文化遗产名录。\n",
        encoding="utf-8",
    )
    return folder


@pytest.fixture
def embed_calls(monkeypatch):
    """Texts the real embedder was asked to embed (documents only)."""
    from langchain_huggingface import HuggingFaceEmbeddings

    seen: list[str] = []
    original = HuggingFaceEmbeddings.embed_documents

    def counting(self, texts):
        seen.extend(texts)
        return original(self, texts)

    monkeypatch.setattr(HuggingFaceEmbeddings, "embed_documents", counting)
    return seen
