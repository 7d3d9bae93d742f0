"""LangChain's standard chat-model tests on kbqa's three generator backends.

The unit suites build each backend from fakes passed to its constructor (no weights, fast
tier). The integration suites generate with the packaged SmolLM2-135M: in process through
transformers and through llama.cpp, and through the OpenAI-compatible wrapper against
``python -m rag.llm.llamacpp`` serving it on loopback.

Capabilities kbqa does not claim, and so does not test: tool calling, structured output,
JSON mode, image/audio/PDF input (the suites skip these on their own when ``bind_tools`` and
``with_structured_output`` are not overridden), and a per-call ``model=`` override (each
backend serves the one model it loaded).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from functools import cache

import pytest
from langchain_tests.integration_tests import ChatModelIntegrationTests
from langchain_tests.unit_tests import ChatModelUnitTests

from rag.llm import TransformersChat
from rag.llm.llamacpp import LlamaCppChat
from rag.llm.openai_compat import OpenAICompatChat
from rag.settings import Settings
from tests.conftest import MODEL_CACHE, SMALL
from tests.helpers import stop

# Short answers: the suites only check that text, metadata and streaming come back.
CONFORMANCE_TOKENS = 16


class _KbqaChatSuite:
    """What every kbqa backend declares to the suites."""

    @property
    def supports_model_override(self) -> bool:
        return False  # one loaded model per backend


# --------------------------------------------------------------------------------------------
# Unit suites: fakes through the constructors
# --------------------------------------------------------------------------------------------


class FakeTokenizer:
    """Stands in for a transformers tokenizer; the unit suites never generate."""

    pad_token_id = eos_token_id = 0
    chat_template = "{{ messages }}"


class TestTransformersChatUnit(_KbqaChatSuite, ChatModelUnitTests):
    @property
    def chat_model_class(self) -> type[TransformersChat]:
        return TransformersChat

    @property
    def chat_model_params(self) -> dict:
        return {"hf_model": object(), "tokenizer": FakeTokenizer(), "model_name": "smollm2-135m"}


class TestLlamaCppChatUnit(_KbqaChatSuite, ChatModelUnitTests):
    @property
    def chat_model_class(self) -> type[LlamaCppChat]:
        return LlamaCppChat

    @property
    def chat_model_params(self) -> dict:
        return {
            "server": object(),
            "endpoint": "http://127.0.0.1:9",
            "api_key": "not-used",
            "model_name": "smollm2-135m",
        }


class TestOpenAICompatChatUnit(_KbqaChatSuite, ChatModelUnitTests):
    @property
    def chat_model_class(self) -> type[OpenAICompatChat]:
        return OpenAICompatChat

    @property
    def chat_model_params(self) -> dict:
        return {"client": object(), "base_url": "http://127.0.0.1:9/v1", "model_name": "smollm2"}


# --------------------------------------------------------------------------------------------
# Integration suites: SmolLM2-135M generating
# --------------------------------------------------------------------------------------------


@cache
def transformers_chat() -> TransformersChat:
    from rag.llm import load_transformers_chat

    return load_transformers_chat(Settings(**SMALL, torch_threads=1))


@cache
def llamacpp_chat() -> LlamaCppChat:
    from rag.llm.llamacpp import load_llamacpp_chat

    settings = {**SMALL, "llm_backend": "llamacpp", "torch_threads": 1, "context_window": 2048}
    return load_llamacpp_chat(Settings(**settings))


@pytest.mark.slow
@pytest.mark.integration
class TestTransformersChat(_KbqaChatSuite, ChatModelIntegrationTests):
    @property
    def chat_model_class(self) -> type[TransformersChat]:
        return TransformersChat

    @property
    def chat_model_params(self) -> dict:
        loaded = transformers_chat()
        return {
            "hf_model": loaded.hf_model,
            "tokenizer": loaded.tokenizer,
            "model_name": loaded.model_name,
            "context_window": loaded.context_window,
            "max_new_tokens": CONFORMANCE_TOKENS,
        }


@pytest.mark.slow
@pytest.mark.integration
class TestLlamaCppChat(_KbqaChatSuite, ChatModelIntegrationTests):
    @property
    def chat_model_class(self) -> type[LlamaCppChat]:
        return LlamaCppChat

    @property
    def chat_model_params(self) -> dict:
        loaded = llamacpp_chat()
        return {
            "server": loaded.server,
            "endpoint": loaded.endpoint,
            "api_key": loaded.api_key,
            "model_path": loaded.model_path,
            "model_name": loaded.model_name,
            "context_window": loaded.context_window,
            "max_new_tokens": CONFORMANCE_TOKENS,
        }


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def smollm_server() -> Iterator[str]:
    """``python -m rag.llm.llamacpp`` serving SmolLM2 on a free loopback port: its /v1 URL."""
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "rag.llm.llamacpp", "--model", "smollm2-135m", "--port", str(port)]
        + ["--context", "2048", "--threads", "1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "KBQA_MODEL_CACHE_DIR": str(MODEL_CACHE)},
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the SmolLM2 server did not come up") from None
                time.sleep(0.3)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        stop(process)


@pytest.mark.slow
@pytest.mark.integration
class TestOpenAICompatChat(_KbqaChatSuite, ChatModelIntegrationTests):
    @pytest.fixture(autouse=True)
    def _server(self, smollm_server: str) -> None:
        from rag.llm.openai_compat import load_openai_chat

        self.loaded = load_openai_chat(
            Settings(**SMALL, llm_base_url=smollm_server, llm_timeout=60)
        )

    @property
    def chat_model_class(self) -> type[OpenAICompatChat]:
        return OpenAICompatChat

    @property
    def chat_model_params(self) -> dict:
        return {
            "client": self.loaded.client,
            "base_url": self.loaded.base_url,
            "model_name": self.loaded.model_name,
            "max_new_tokens": CONFORMANCE_TOKENS,
        }
