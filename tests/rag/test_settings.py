"""Settings: precedence (kwargs > env > kbqa.toml > defaults), validation, the generated table."""

from __future__ import annotations

import subprocess
import sys

import pytest
from pydantic import ValidationError

from rag.settings import Settings, settings_table


def test_precedence_kwargs_over_env_over_toml(tmp_path, monkeypatch):
    toml = tmp_path / "kbqa.toml"
    toml.write_text('top_k = 7\nkb = "fromtoml"\ntemperature = 0.3\n')
    monkeypatch.setenv("KBQA_CONFIG", str(toml))
    monkeypatch.setenv("KBQA_KB", "fromenv")
    code = "from rag.settings import Settings as S; s=S(temperature=0.5); print(s.top_k, s.kb, s.temperature)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["7", "fromenv", "0.5"]


def test_defaults():
    s = Settings()
    assert s.kb == "default" and str(s.persist_dir) == "vectorstore"
    assert s.llm_model == "qwen2.5-coder-0.5b" and s.embedder == "all-minilm-l6-v2"
    assert s.app_host == "127.0.0.1" and s.offline


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
    assert Settings(embedder="/models/my-embedder").abstain_below == 0.54
