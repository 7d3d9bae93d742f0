"""Generation on any OpenAI-compatible server (vLLM, TGI, llama.cpp server, Ollama).

A thin wrapper around langchain-openai's ``ChatOpenAI`` that gives the chain what it needs from
every backend (``render``, ``count_tokens``, ``context_window``, the sampling knobs) and turns
every failure of the server into a ``ModelError`` that names ``KBQA_LLM_BASE_URL``.

Three things differ from the in-process backends, on purpose:

- **No tokenizer here.** ``count_tokens`` estimates: a CJK character counts as one token, other
  text as one token per three characters. It only sizes the prompt (how many passages fit), so
  ``context_window`` (``KBQA_CONTEXT_WINDOW``, else 4096) should leave the server some slack.
- **No assistant prefill.** The chat-completions API has no portable way to continue an assistant
  turn: vLLM needs ``continue_final_message``, llama.cpp server continues one silently, TGI and
  Ollama answer it as a finished turn. A trailing ``AIMessage`` is therefore dropped and the
  server opens the assistant turn itself; the prompts work without it, only less steered.
- **render() is plain text.** The server applies the model's chat template; ``render`` shows the
  messages as they are sent, one ``role: content`` block each.
"""

from __future__ import annotations

import time
import unicodedata
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGenerationChunk
from pydantic import Field

from rag.errors import ConfigError, ModelError
from rag.llm.base import SAMPLING_KEYS, StreamingChat, sampling_settings

if TYPE_CHECKING:
    from rag.settings import Settings

DEFAULT_CONTEXT = 4096
INSTALL = "pip install langchain-openai"
_ROLES = {"human": "user", "ai": "assistant", "system": "system"}


def approx_tokens(text: str) -> int:
    """Rough token count without a tokenizer: CJK characters one each, other text chars/3.

    >>> approx_tokens("Jupiter is the largest planet.")
    10
    >>> approx_tokens("长城")
    2
    """
    cjk = sum(1 for ch in text if unicodedata.east_asian_width(ch) in ("W", "F"))
    return cjk + -(-(len(text) - cjk) // 3)


def _transport_error(exc: BaseException) -> bool:
    """An error of the HTTP stack under openai (httpx, or httpx2 in openai 3)."""
    return type(exc).__module__.split(".")[0] in ("httpx", "httpx2", "httpcore", "httpcore2")


def server_messages(messages: list[BaseMessage]) -> list[BaseMessage]:
    """The messages sent to the server: a trailing assistant prefill is dropped (see module)."""
    if messages and isinstance(messages[-1], AIMessage):
        return list(messages[:-1])
    return list(messages)


class OpenAICompatChat(StreamingChat):
    """Chat model on an OpenAI-compatible server, with kbqa's backend interface."""

    client: Any = Field(exclude=True)  # langchain_openai.ChatOpenAI
    base_url: str
    timeout: float = 60.0
    context_window: int = DEFAULT_CONTEXT

    @property
    def _llm_type(self) -> str:
        return "kbqa-openai"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {
            "base_url": self.base_url,
            "model_name": self.model_name,
            **{k: getattr(self, k) for k in SAMPLING_KEYS},
        }

    # -- prompt ------------------------------------------------------------------------------
    def render(self, messages: list[BaseMessage]) -> str:
        """The messages as sent (the server applies the chat template), as plain text."""
        return "\n\n".join(
            f"{_ROLES.get(m.type, 'user')}: {m.content}" for m in server_messages(messages)
        )

    def count_tokens(self, text: str) -> int:
        return approx_tokens(text)

    def _request_kwargs(self, overrides: dict[str, Any]) -> dict[str, Any]:
        knobs = self.knobs(overrides)
        max_tokens = int(knobs["max_new_tokens"])
        penalty = float(knobs["repetition_penalty"])
        return {
            "temperature": float(knobs["temperature"]),  # 0 = greedy on vLLM, TGI, llama.cpp
            "top_p": float(knobs["top_p"]),
            "max_tokens": max_tokens,  # ChatOpenAI sends it as max_completion_tokens
            # Not OpenAI parameters, read by the servers that know them and ignored by others:
            # max_tokens for servers without max_completion_tokens (Ollama, older TGI),
            # repetition_penalty (vLLM, TGI), repeat_penalty (llama.cpp server, Ollama).
            "extra_body": {
                "max_tokens": max_tokens,
                "repetition_penalty": penalty,
                "repeat_penalty": penalty,
            },
        }

    def _error(self, exc: BaseException) -> ModelError:
        import openai

        where = f"the model server at {self.base_url} (KBQA_LLM_BASE_URL)"
        if isinstance(exc, openai.APITimeoutError) or "Timeout" in type(exc).__name__:
            return ModelError(
                f"{where} did not answer within {self.timeout:g} s (KBQA_LLM_TIMEOUT); is it"
                " overloaded, or is the URL another kind of server?"
            )
        if isinstance(exc, openai.APIStatusError):
            body = exc.body
            detail = (
                str(body.get("message") or exc.message) if isinstance(body, dict) else exc.message
            )
            if exc.status_code == 404:
                detail += f" (is KBQA_LLM_MODEL={self.model_name!r} a model the server serves?)"
            return ModelError(f"{where} answered HTTP {exc.status_code}: {detail}")
        root: BaseException = exc
        while root.__cause__ is not None or root.__context__ is not None:
            root = root.__cause__ or root.__context__  # type: ignore[assignment]
        if isinstance(exc, openai.APIConnectionError) or isinstance(root, OSError):
            return ModelError(f"cannot reach {where}: {root}; is the server running?")
        return ModelError(f"{where} failed: {type(exc).__name__}: {exc}")

    # -- generation --------------------------------------------------------------------------
    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        import openai

        request = self._request_kwargs(kwargs)
        try:
            # stream_usage: the server's token counts arrive in one last chunk of their own.
            parts = self.client.stream(
                server_messages(messages), stop=stop, stream_usage=True, **request
            )
            for part in parts:
                piece = part.text
                meta = dict(part.response_metadata or {})
                if not piece and not meta.get("finish_reason") and not part.usage_metadata:
                    continue
                if meta.get("finish_reason"):
                    meta.setdefault("model_name", self.model_name)
                chunk = ChatGenerationChunk(
                    message=AIMessageChunk(
                        content=piece, response_metadata=meta, usage_metadata=part.usage_metadata
                    )
                )
                if run_manager and piece:
                    run_manager.on_llm_new_token(piece, chunk=chunk)
                yield chunk
        except Exception as exc:
            # openai raises APIError; a stream that breaks mid-answer raises its HTTP library's.
            if isinstance(exc, openai.APIError | OSError) or _transport_error(exc):
                raise self._error(exc) from exc
            raise


def load_openai_chat(settings: Settings) -> OpenAICompatChat:
    """A chat model on ``llm_base_url``, serving ``llm_model`` (no request is made here)."""
    if not settings.llm_base_url:
        raise ConfigError(
            "KBQA_LLM_BACKEND=openai needs KBQA_LLM_BASE_URL, the server's /v1 URL"
            " (for example http://127.0.0.1:8000/v1)"
        )
    url = settings.llm_base_url.rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"KBQA_LLM_BASE_URL {settings.llm_base_url!r} is not an http(s) URL")
    try:
        from langchain_openai import ChatOpenAI
    except ImportError as exc:
        raise ModelError(
            f"the openai backend needs langchain-openai; install it with: {INSTALL}"
        ) from exc
    started = time.perf_counter()
    client = ChatOpenAI(
        model=settings.llm_model,
        base_url=url,
        # Local servers take any key; the client library insists on having one.
        api_key=settings.llm_api_key or "not-needed",  # type: ignore[arg-type]
        timeout=settings.llm_timeout,
        max_retries=0,  # a retry would multiply the wait the user configured
        streaming=True,
    )
    chat = OpenAICompatChat(
        client=client,
        base_url=url,
        timeout=settings.llm_timeout,
        **sampling_settings(settings),
        context_window=settings.context_window or DEFAULT_CONTEXT,
    )
    chat.metadata = {"load_seconds": round(time.perf_counter() - started, 3), "backend": "openai"}
    return chat
