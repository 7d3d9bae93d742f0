"""Cross-language retrieval through a translated question (``rag.translate``, wired in
``KnowledgeBase.retrieve``): fakes through constructors, a real embedded Chroma, no weights."""

from __future__ import annotations

import pytest

from rag.kb import KnowledgeBase
from rag.settings import Settings
from rag.translate import clean_translation
from tests.fakes import fake_models

ZH_QUESTION = "太阳系中最大的行星是哪一颗？"
TRANSLATION = "Which is the largest planet in the Solar System?"


def fake_settings(tmp_path, **overrides) -> Settings:
    return Settings(
        persist_dir=tmp_path / "store",
        file_timeout=0,  # read in this process: no reader child to start
        chunk_size=40,
        chunk_overlap=5,
        relevance_threshold=0.0,
        top_k=2,
        **{"translate_queries": True, **overrides},
    )


def _write(folder, files: dict[str, str]):
    folder.mkdir()
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


ZH_FILES = {
    f"zh{i}.txt": f"第{i}篇：今天的天气很好，我们去公园散步，喝了一杯茶。\n" for i in range(6)
}


@pytest.fixture
def mixed(tmp_path):
    files = {
        **ZH_FILES,
        "solar.md": "# Planets\n\nJupiter is the largest planet in the Solar System.\n",
        "bread.txt": "Sourdough bread rises because wild yeast ferments the dough.\n",
    }
    return _write(tmp_path / "mixed", files)


def _kb(tmp_path, folder, *replies: str, **overrides) -> KnowledgeBase:
    settings = fake_settings(tmp_path, **overrides)
    kb = KnowledgeBase(settings, models=fake_models(settings, *replies))
    assert kb.ingest(folder).ok
    return kb


def test_a_mixed_kb_finds_the_passage_only_the_translation_finds(tmp_path, mixed):
    without = _kb(tmp_path / "off", mixed, TRANSLATION, translate_queries=False)
    off = [p.source for p in without.retrieve(ZH_QUESTION)]
    assert "solar.md" not in off, off  # the Chinese question alone does not find it
    assert not without.models.llm_loaded

    kb = _kb(tmp_path / "on", mixed, f"Translation: “{TRANSLATION}”")
    assert kb.languages() == {"en", "zh"}
    on = kb.retrieve(ZH_QUESTION)
    assert "solar.md" in [p.source for p in on]
    assert [p.n for p in on] == [1, 2]
    assert kb.last_translation is not None and kb.last_translation[0] == TRANSLATION


def test_a_one_language_kb_never_calls_the_model(tmp_path):
    folder = _write(tmp_path / "zh", ZH_FILES)
    kb = _kb(tmp_path, folder, TRANSLATION)
    assert kb.languages() == {"zh"}
    assert kb.retrieve(ZH_QUESTION)
    assert not kb.models.llm_loaded  # not even loaded
    assert kb.last_translation is None


def test_a_sources_filter_holds_for_the_translated_search(tmp_path, mixed):
    kb = _kb(tmp_path, mixed, TRANSLATION)
    got = kb.retrieve(ZH_QUESTION, sources=["zh*.txt"])
    assert kb.last_translation is not None  # the translation ran and found nothing outside
    assert got and {p.source for p in got} <= set(ZH_FILES)


@pytest.mark.parametrize(
    ("reply", "clean"),
    [
        ('"Who wrote the paper?"', "Who wrote the paper?"),
        ("Translation: Who wrote the paper?", "Who wrote the paper?"),
        ("English translation: 'How do I install it?'", "How do I install it?"),
        ("译文：「谁写了这篇论文？」", "谁写了这篇论文？"),
        ("\nWho wrote the paper?\nNote: a literal translation.", "Who wrote the paper?"),
        ("", ""),
    ],
)
def test_translation_replies_are_cleaned(reply, clean):
    assert clean_translation(reply) == clean
