"""Shared by the app tests: the sample documents, a prepared store, the app's environment."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import MODEL_CACHE, REPO, SMALL

ARTIFACTS = REPO / "test-artifacts"

DOCUMENTS = {
    "solar.md": "# The Solar System\n\nThe Sun is a star at the centre of the Solar System.\n\n"
    "## Planets\n\nJupiter is the largest planet in the Solar System. Mars is called the red"
    " planet because iron oxide covers its surface.\n",
    "baking.txt": "Sourdough bread rises because wild yeast and lactic acid bacteria ferment the"
    " dough. A starter must be fed with flour and water every day.\n",
    "长城.txt": "长城是中国古代的军事防御工程。明长城的总长度约为八千八百五十公里。\n"
    "长城在一九八七年被列入世界文化遗产名录。\n",
}


def prepare_store(persist_dir: Path, models, kb: str = "default") -> Path:
    """Write the sample documents into the KB's documents folder (where the app keeps uploads)
    and ingest them; return the store folder."""
    from app.library import documents_dir
    from rag.kb import KnowledgeBase

    kb_ = KnowledgeBase(models=models, **SMALL, persist_dir=persist_dir, kb=kb)
    folder = documents_dir(kb_.settings)
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in DOCUMENTS.items():
        (folder / name).write_text(text, encoding="utf-8")
    report = kb_.ingest(folder)
    assert report.ok and report.files_added == len(DOCUMENTS), report.to_dict()
    return persist_dir


def app_environment(persist_dir: Path, **extra: str) -> dict[str, str]:
    return {
        "KBQA_PERSIST_DIR": str(persist_dir),
        "KBQA_LLM_MODEL": str(SMALL["llm_model"]),
        "KBQA_LLM_BACKEND": str(SMALL["llm_backend"]),
        "KBQA_MODEL_CACHE_DIR": str(MODEL_CACHE),
        "KBQA_MAX_NEW_TOKENS": str(SMALL["max_new_tokens"]),
        **extra,
    }
