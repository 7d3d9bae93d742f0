"""Generator backends behind one LangChain chat-model interface, chosen by ``llm_backend``.

| backend | runs | module |
|---|---|---|
| ``transformers`` | a model folder, hub id or packaged GGUF, float32 on the CPU, in process | ``transformers_chat`` |
| ``llamacpp`` | a ``.gguf`` file or packaged GGUF, quantized, in process (xllamacpp) | ``llamacpp`` |
| ``openai`` | any OpenAI-compatible server at ``llm_base_url`` | ``openai_compat`` |

``llm_backend="auto"`` (the default) picks ``openai`` when ``llm_base_url`` is set, ``llamacpp``
when ``llm_model`` is a ``.gguf`` path, ``transformers`` for a model folder or hub id, and for a
packaged model whichever in-process backend (and thread count) a short probe measured faster on
this machine, once, cached (``rag.probe``). Switching backend is a setting
(``KBQA_LLM_BACKEND``), never a code change, and an explicit one is never second-guessed: every
backend is a ``BaseChatModel`` with the ``ChatBackend`` members below, which is all the chain uses.

>>> from rag.settings import Settings
>>> resolve_backend(Settings(llm_base_url="http://127.0.0.1:8000/v1"))
'openai'
>>> resolve_backend(Settings(llm_model="/models/x/model-Q4_K_M.gguf"))
'llamacpp'
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from rag.llm.transformers_chat import TransformersChat, load_transformers_chat
from rag.models import BACKENDS, Backend, resolve_backend

if TYPE_CHECKING:
    from langchain_core.messages import BaseMessage

    from rag.settings import Settings

__all__ = [
    "BACKENDS",
    "Backend",
    "ChatBackend",
    "TransformersChat",
    "load_chat_model",
    "load_transformers_chat",
    "resolve_backend",
]


@runtime_checkable
class ChatBackend(Protocol):
    """What the chain needs from a generator, beyond LangChain's ``stream``/``invoke``."""

    context_window: int
    max_new_tokens: int

    def render(self, messages: list[BaseMessage]) -> str: ...

    def count_tokens(self, text: str) -> int: ...

    def stream(self, input: Any, config: Any = None, **kwargs: Any) -> Any: ...

    def invoke(self, input: Any, config: Any = None, **kwargs: Any) -> Any: ...


def load_chat_model(settings: Settings) -> ChatBackend:
    """The chat model the settings name, loaded (in-process backends) or connected lazily.

    With ``llm_backend="auto"`` and a packaged model, the backend and thread count are this
    machine's probe result (measured now, on the first load, and cached); with an explicit
    backend and no ``torch_threads``, the thread count the probe found best for that backend.
    """
    from rag import probe
    from rag.llm.probing import probe_and_load
    from rag.models import probed

    if probed(settings):
        result, chat = probe_and_load(settings)
        if chat is not None:
            return chat  # the probe's winner, already loaded
        backend: Backend = result.backend  # type: ignore[assignment]
    else:
        backend = resolve_backend(settings)
    if backend in probe.IN_PROCESS and not settings.torch_threads:
        threads = probe.threads_for(settings, backend)
        if threads:
            settings = settings.model_copy(update={"torch_threads": threads})
    if backend == "openai":
        from rag.llm.openai_compat import load_openai_chat

        return load_openai_chat(settings)
    if backend == "llamacpp":
        from rag.llm.llamacpp import load_llamacpp_chat

        return load_llamacpp_chat(settings)
    return load_transformers_chat(settings)
