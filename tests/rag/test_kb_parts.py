"""``KnowledgeBase`` and ``Models`` wired from fakes handed to their constructors: no weights.

Covers the facade's own duties (issue 14): per-model loading locks, the embedder id recorded
with the vectors, typed per-question options, and a whole ingest → ask over a real embedded
Chroma with a deterministic fake embedder and LangChain's fake chat model.
"""

from __future__ import annotations

import threading
import time

import pytest
from langchain_core.language_models import GenericFakeChatModel

from rag.errors import ConfigError, UnknownOptionError
from rag.kb import KnowledgeBase, Models
from rag.options import AskOptions
from rag.settings import Settings
from tests.fakes import FakeEmbedder, fake_models


def fake_settings(tmp_path, **overrides) -> Settings:
    return Settings(
        persist_dir=tmp_path / "store",
        file_timeout=0,  # read in this process: no reader child to start (about 2 s)
        chunk_size=40,
        chunk_overlap=5,
        relevance_threshold=0.0,
        **overrides,
    )


# -- Models: one lock per model ---------------------------------------------------------------
def test_embedder_loads_while_the_generator_load_is_still_running():
    release = threading.Event()
    started = threading.Event()

    def slow_llm():
        started.set()
        release.wait(10)
        return GenericFakeChatModel(messages=iter([]))

    models = Models(Settings(), load_embedder=FakeEmbedder, load_llm=slow_llm)
    loader = threading.Thread(target=lambda: models.llm, daemon=True)
    loader.start()
    assert started.wait(5)
    got: list[object] = []
    asker = threading.Thread(target=lambda: got.append(models.embeddings), daemon=True)
    asker.start()
    asker.join(2)
    try:
        assert got and isinstance(got[0], FakeEmbedder), "the embedder waited for the generator"
        assert not models.llm_loaded
    finally:
        release.set()
        loader.join(5)
    assert models.llm_loaded


def test_each_model_loads_once_under_concurrent_first_use():
    loads = []

    def counted():
        loads.append(1)
        time.sleep(0.05)
        return FakeEmbedder()

    models = Models(Settings(), load_embedder=counted)
    threads = [threading.Thread(target=lambda: models.embeddings) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(loads) == 1


# -- the embedder id recorded with the vectors ------------------------------------------------
def test_models_for_another_embedder_are_refused(tmp_path):
    models_a = Models(Settings(embedder="all-minilm-l6-v2"))
    settings_b = fake_settings(tmp_path, embedder="intfloat/multilingual-e5-small")
    with pytest.raises(ConfigError, match="multilingual-e5-small") as err:
        KnowledgeBase(settings_b, models=models_a)
    assert "all-minilm-l6-v2" in str(err.value)


def test_the_embedder_id_is_the_one_of_the_models_that_embed(tmp_path):
    settings = fake_settings(tmp_path)
    kb = KnowledgeBase(settings, models=Models(settings.model_copy(update={"top_k": 2})))
    assert kb.embedder_id == "use-multilingual"  # the default embedder


# -- typed options ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("misspelled", "meant"), [({"topk": 1}, "top_k"), ({"temprature": 0.7}, "temperature")]
)
def test_misspelled_option_is_an_error_naming_the_valid_ones(tmp_path, misspelled, meant):
    settings = fake_settings(tmp_path)
    kb = KnowledgeBase(settings, models=fake_models(settings))
    for call in (kb.ask, kb.stream):
        with pytest.raises(UnknownOptionError, match=f"did you mean '{meant}'") as err:
            call("Which planet is the largest?", **misspelled)
        assert "valid options: top_k, sources, hybrid, relevance_threshold" in str(err.value)
    with pytest.raises(UnknownOptionError):
        kb.as_runnable(**misspelled)
    with pytest.raises(UnknownOptionError):
        kb.as_runnable().invoke({"question": "Which planet?", **misspelled})


@pytest.mark.parametrize(
    "bad",
    [
        {"top_k": 0},
        {"max_new_tokens": -1},
        {"temperature": -0.1},
        {"top_p": 1.5},
        {"relevance_threshold": 2},
        {"answer_language": "fr"},
    ],
)
def test_option_values_are_checked(bad):
    with pytest.raises(ConfigError, match=next(iter(bad))):
        AskOptions.from_kwargs(**bad)


def test_options_object_and_keywords_combine():
    base = AskOptions(top_k=2, temperature=0.1)
    both = AskOptions.from_kwargs(base, temperature=0.9)
    assert (both.top_k, both.temperature) == (2, 0.9)
    assert AskOptions.from_kwargs(sources="a.md").sources == ("a.md",)
    assert both.sampling() == {"temperature": 0.9}


# -- ingest → ask, wired by the facade from fakes over a real embedded Chroma ----------------
@pytest.fixture
def folder(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "solar.md").write_text(
        "# Planets\n\nJupiter is the largest planet in the Solar System.\n", encoding="utf-8"
    )
    (docs / "baking.txt").write_text(
        "Sourdough bread rises because wild yeast ferments the dough.\n", encoding="utf-8"
    )
    return docs


def test_ingest_and_ask_through_the_facade_with_fakes(tmp_path, folder):
    settings = fake_settings(tmp_path)
    models = fake_models(settings, "Jupiter is the largest planet in the Solar System.")
    kb = KnowledgeBase(settings, models=models)
    report = kb.ingest(folder)
    assert report.ok and report.files_added == 2
    metas = kb.writable_store().collection.get(include=["metadatas"])["metadatas"]
    assert {m["embedder"] for m in metas} == {"use-multilingual"}
    assert {m["splitter"] for m in metas} == {"recursive-v3-40-5"}
    assert kb.ingest(folder).files_unchanged == 2
    answer = kb.ask("Which planet is the largest planet?", top_k=2)
    assert not answer.abstained
    assert [c.source for c in answer.citations] == ["solar.md"]
    runnable = kb.as_runnable(top_k=1)
    assert runnable.invoke({"question": "Which planet?", "relevance_threshold": 1.0}).abstained


def test_close_releases_the_open_parts_and_they_reopen(tmp_path, folder):
    import sqlite3

    settings = fake_settings(tmp_path)
    kb = KnowledgeBase(settings, models=fake_models(settings))
    kb.ingest(folder)
    registry, keyword = kb.registry, kb.keyword
    kb.close()
    with pytest.raises(sqlite3.ProgrammingError):
        registry.all()  # its connection is closed
    assert kb.registry is not registry and kb.keyword is not keyword
    assert [r.source for r in kb.documents()] == ["baking.txt", "solar.md"]
