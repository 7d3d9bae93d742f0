"""Settings: precedence (kwargs > env > kbqa.toml > defaults), validation, the generated table."""

from __future__ import annotations

import ast
import inspect
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from pydantic import ValidationError

from rag import registry
from rag.environment import OFFLINE_VARS
from rag.settings import Settings, model_setting_names, settings_table


def test_precedence_kwargs_over_env_over_toml(tmp_path, monkeypatch):
    toml = tmp_path / "kbqa.toml"
    toml.write_text('top_k = 7\nkb = "fromtoml"\ntemperature = 0.3\n')
    monkeypatch.setenv("KBQA_CONFIG", str(toml))
    monkeypatch.setenv("KBQA_KB", "fromenv")
    code = "from rag.settings import Settings as S; s=S(temperature=0.5); print(s.top_k, s.kb, s.temperature)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=600
    )
    assert out.stdout.split() == ["7", "fromenv", "0.5"]


def test_defaults():
    s = Settings()
    assert s.kb == "default" and str(s.persist_dir) == "vectorstore"
    assert s.llm_model == "qwen2.5-coder-0.5b" and s.embedder == "use-multilingual"
    assert s.app_host == "127.0.0.1" and s.offline
    assert s.hybrid and s.language_fusion  # Chinese and cross-language with no setting changed


@pytest.mark.parametrize(
    "kwargs, word",
    [
        ({"top_k": 0}, "top_k"),
        ({"chunk_overlap": 300}, "chunk_overlap"),
        ({"kb": "../evil"}, "kb"),
        ({"temperature": -1}, "temperature"),
        ({"no_such_knob": 1}, "no_such_knob"),
    ],
)
def test_bad_values_name_the_setting(kwargs, word):
    with pytest.raises(ValidationError, match=word):
        Settings(**kwargs)


def test_bad_setting_on_command_line_is_one_sentence(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "rag.cli", "status"],
        capture_output=True,
        text=True,
        env={"KBQA_TOP_K": "-3", "KBQA_PERSIST_DIR": str(tmp_path), "PATH": ""},
        timeout=600,
    )
    assert out.returncode == 2 and "top_k" in out.stderr and "Traceback" not in out.stderr


def test_table_lists_every_setting_with_env_var():
    table = settings_table()
    for name in Settings.model_fields:
        assert f"`KBQA_{name.upper()}`" in table


def test_readme_table_is_generated_not_hand_copied():
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    assert settings_table() in readme, "run: python -m rag.docs to refresh README's settings table"


@pytest.mark.parametrize(
    ("embedder", "expected"),
    [("all-minilm-l6-v2", 0.54), ("use-multilingual", 0.52), ("multilingual-e5-small", 0.77)],
)
def test_abstention_threshold_is_calibrated_per_embedder_unless_set(embedder, expected):
    assert Settings(embedder=embedder).abstain_below == expected
    assert Settings(embedder=embedder, relevance_threshold=0.3).abstain_below == 0.3
    assert Settings(embedder="/models/my-embedder").abstain_below == 0.52  # the default's


# --- KBQA_CONFIG, offline switches, model settings ---------------------------------------------


def test_kbqa_config_is_read_each_time_settings_are_built(tmp_path, monkeypatch):
    first, second = tmp_path / "first.toml", tmp_path / "second.toml"
    first.write_text('top_k = 7\nkb = "first"\n')
    second.write_text('top_k = 9\nkb = "second"\n')
    monkeypatch.setenv("KBQA_CONFIG", str(first))
    assert (Settings().top_k, Settings().kb) == (7, "first")
    monkeypatch.setenv("KBQA_CONFIG", str(second))
    assert (Settings().top_k, Settings().kb) == (9, "second")
    monkeypatch.setenv("KBQA_CONFIG", str(tmp_path / "missing.toml"))
    assert Settings().top_k == 4


HUB_ENV_PROBE = """
import os, sys
import rag
after_import = os.environ.get("HF_HUB_OFFLINE"), os.environ.get("TRANSFORMERS_OFFLINE")
import huggingface_hub.constants as hub  # imported early: it reads the environment only now
from rag.settings import Settings

def state():
    return [os.environ.get("HF_HUB_OFFLINE"), os.environ.get("TRANSFORMERS_OFFLINE"),
            hub.is_offline_mode()]

print(list(after_import))
Settings()
print(state())
Settings(offline=True)
print(state())
Settings()
print(state())
print("torch" in sys.modules)
"""


def hub_env_after(tmp_path, toml: str, **env: str) -> list[str]:
    config = tmp_path / "kbqa.toml"
    config.write_text(toml)
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in OFFLINE_VARS and not k.startswith(("KBQA_", "_KBQA_"))
    }
    out = subprocess.run(
        [sys.executable, "-c", HUB_ENV_PROBE],
        env={**clean, "KBQA_CONFIG": str(config), **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return out.stdout.splitlines()


def test_offline_false_in_kbqa_toml_turns_the_hub_switches_off(tmp_path):
    lines = hub_env_after(tmp_path, "offline = false\n")
    assert lines[0] == "['1', '1']"  # offline from `import rag` until the settings say otherwise
    assert lines[1] == "[None, None, False]"  # the toml's offline = false, hub included
    assert lines[2] == "['1', '1', True]"  # a keyword argument wins over the toml
    assert lines[3] == "[None, None, False]"
    assert lines[4] == "False", "import rag or Settings imported torch"


def test_offline_is_the_default_and_a_users_own_switch_is_kept(tmp_path):
    assert hub_env_after(tmp_path, "top_k = 3\n")[1] == "['1', '1', True]"
    assert hub_env_after(tmp_path, "offline = true\n", KBQA_OFFLINE="false")[1] == (
        "[None, None, False]"  # the environment wins over the toml
    )
    kept = hub_env_after(tmp_path, "offline = false\n", HF_HUB_OFFLINE="1")
    assert kept[1] == "['1', None, True]"  # exported by the user, not kbqa's to remove


def test_model_settings_are_marked_and_key_the_apps_shared_models():
    from app.resources import MODEL_FIELDS, model_key

    assert MODEL_FIELDS == model_setting_names()
    assert {"embed_batch_size", "embedder", "llm_model", "offline"} <= MODEL_FIELDS
    base = Settings()
    changed = {
        "embedder": "all-minilm-l6-v2",
        "reranker": "/models/rerank",
        "model_cache_dir": "/tmp/other-cache",
        "offline": False,
        "torch_threads": 1,
        "context_window": 1024,
        "temperature": 0.5,
        "top_p": 0.5,
        "max_new_tokens": 10,
        "repetition_penalty": 1.5,
        "embed_batch_size": 64,
        "llm_model": "smollm2-135m",
        "llm_backend": "llamacpp",
        "llm_base_url": "http://127.0.0.1:9/v1",
        "llm_api_key": "k",
        "llm_timeout": 5.0,
    }
    assert set(changed) == MODEL_FIELDS, "give the new model setting a value to change to here"
    for name, value in changed.items():
        assert model_key(Settings(**{name: value})) != model_key(base), name
    # The rest can change without loading any model again.
    assert model_key(Settings(top_k=9, kb="other", chunk_size=100)) == model_key(base)
    Settings()  # the probe above turned the hub switches off in this process; back on


MODEL_LOADING_MODULES = ("rag/models.py", "rag/embedders.py", "rag/llm")


def settings_read_by(paths: list[Path]) -> set[str]:
    """Every ``settings.<name>`` (or ``self.settings.<name>``) the code reads, properties resolved
    to the fields they read, plus the sampling knobs read by ``getattr(settings, key)``."""
    from rag.llm.base import SAMPLING_KEYS

    read: set[str] = set(SAMPLING_KEYS)
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and (
                (isinstance(node.value, ast.Name) and node.value.id == "settings")
                or (isinstance(node.value, ast.Attribute) and node.value.attr == "settings")
            ):
                read.add(node.attr)
    resolved = set()
    for name in read:
        member = getattr(Settings, name, None)
        if isinstance(member, property):  # e.g. cache_dir reads model_cache_dir
            source = textwrap.dedent(inspect.getsource(member.fget))
            resolved |= {
                n.attr
                for n in ast.walk(ast.parse(source))
                if isinstance(n, ast.Attribute) and n.attr in Settings.model_fields
            }
        elif name in Settings.model_fields:
            resolved.add(name)
    return resolved


def test_every_setting_the_model_loading_code_reads_is_marked_as_a_model_setting():
    root = Path(__file__).resolve().parents[2]
    paths = [
        p
        for entry in MODEL_LOADING_MODULES
        for p in ([root / entry] if entry.endswith(".py") else sorted((root / entry).glob("*.py")))
    ]
    read = settings_read_by(paths)
    assert {"embed_batch_size", "embedder", "model_cache_dir", "temperature"} <= read  # scan works
    assert read - model_setting_names() == set(), "mark these with json_schema_extra=LOADS_MODEL"


def test_aliases_and_calibrated_values_come_from_the_registry():
    for alias, model in registry.EMBEDDERS.items():
        assert Settings(embedder=alias).abstain_below == model.abstain_below
        assert alias in (Settings.model_fields["embedder"].description or "")
        assert f"{model.abstain_below} {alias}" in (
            Settings.model_fields["relevance_threshold"].description or ""
        )
    for alias in registry.GENERATORS:
        assert alias in (Settings.model_fields["llm_model"].description or "")
