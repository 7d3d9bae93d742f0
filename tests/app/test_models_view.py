"""The answer-model picker: which generators it offers, and that each loads once per process."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from app.models_view import CONFIGURED, SERVER, default_choice, generator_choices
from rag.settings import Settings

APP = Path(__file__).resolve().parents[2] / "app" / "streamlit_app.py"


def everything(_model) -> bool:
    return True


def test_installed_packaged_generators_are_offered_default_first():
    choices = generator_choices(Settings(), installed=everything)
    assert [c.id for c in choices] == ["qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b", "smollm2-135m"]
    assert [c.note for c in choices] == ["fast", "better", "tiny"]
    assert default_choice(Settings(), choices) == "qwen2.5-coder-0.5b"


def test_a_generator_whose_packages_are_missing_is_not_offered():
    choices = generator_choices(Settings(), installed=lambda m: m.alias == "smollm2-135m")
    assert [c.id for c in choices] == ["smollm2-135m"]


def test_a_configured_server_comes_first_and_local_choices_leave_it():
    settings = Settings(llm_base_url="http://127.0.0.1:8000/v1", llm_model="llama3")
    choices = generator_choices(settings, installed=everything)
    assert choices[0].id == SERVER and choices[0].label == "llama3 @ http://127.0.0.1:8000/v1"
    assert default_choice(settings, choices) == SERVER
    local = choices[1].apply(settings)
    assert local.llm_base_url is None and local.llm_model == "qwen2.5-coder-0.5b"
    assert choices[0].apply(settings) is settings  # the configured one changes nothing


def test_a_local_model_folder_from_the_settings_is_offered(tmp_path):
    folder = tmp_path / "models" / "my-qwen"
    folder.mkdir(parents=True)
    settings = Settings(llm_model=str(folder), llm_backend="transformers")
    choices = generator_choices(settings, installed=everything)
    assert (choices[0].id, choices[0].label, choices[0].note) == (CONFIGURED, "my-qwen", "local")
    assert default_choice(settings, choices) == CONFIGURED
    # A packaged choice keeps the configured backend (llamacpp or transformers).
    assert choices[1].apply(settings).llm_backend == "transformers"


def test_a_server_url_with_an_explicit_local_backend_stays_local():
    settings = Settings(llm_base_url="http://127.0.0.1:8000/v1", llm_backend="transformers")
    choices = generator_choices(settings, installed=everything)
    assert default_choice(settings, choices) == settings.llm_model
    server = choices[0].apply(settings)
    assert (server.llm_backend, server.llm_base_url) == ("openai", "http://127.0.0.1:8000/v1")


@pytest.mark.slow
@pytest.mark.integration
def test_switching_models_shows_the_choice_and_loads_each_once(use_env, store, caplog):
    """Start on the packaged SmolLM2 with a server configured too, switch to the server and back
    and forth: the page names the chosen model, and each loads once for the process."""
    from streamlit.testing.v1 import AppTest

    from app.resources import get_embedder, get_models

    get_models.clear()
    get_embedder.clear()
    caplog.set_level(logging.INFO, logger="kbqa.app")
    # The tests pin KBQA_LLM_BACKEND=transformers: the server is a choice, not the default.
    use_env(store, KBQA_LLM_BASE_URL="http://127.0.0.1:9/v1")
    at = AppTest.from_file(str(APP), default_timeout=300).run()
    assert not at.exception, [e.value for e in at.exception]

    def model_line() -> str:
        return next(m.value for m in at.markdown if m.value.startswith("Model:"))

    def loaded() -> list[str]:
        return [
            r.getMessage().split(" in ")[0]
            for r in caplog.records
            if r.name == "kbqa.app" and r.getMessage().startswith("loaded generator")
        ]

    picker = at.selectbox(key="llm_choice")
    assert picker.value == "smollm2-135m"
    assert "smollm2-135m @ http://127.0.0.1:9/v1" in picker.options
    assert "`smollm2-135m` (transformers)" in model_line()
    assert any("Fastest, English only" in c.value for c in at.caption)

    for _ in range(2):
        at.selectbox(key="llm_choice").set_value(SERVER).run()
        assert not at.exception, [e.value for e in at.exception]
        assert "`smollm2-135m` (openai)" in model_line()
        assert any("configured server" in c.value for c in at.caption)
        at.selectbox(key="llm_choice").set_value("smollm2-135m").run()
        assert "`smollm2-135m` (transformers)" in model_line()
    assert loaded() == [
        "loaded generator smollm2-135m (transformers)",
        "loaded generator smollm2-135m (openai)",
    ]
    # The chosen model answers, and nothing loads again.
    at.chat_input(key="question").set_value("Which planet is the largest?").run()
    assert not at.exception
    assert at.chat_message[1].name == "assistant"
    assert len(loaded()) == 2
