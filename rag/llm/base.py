"""What every kbqa chat backend shares: the sampling knobs, and generation as drained streaming."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models.chat_models import BaseChatModel, generate_from_stream
from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatResult
from pydantic import ConfigDict

from rag.errors import ModelError
from rag.options import SAMPLING_KEYS

if TYPE_CHECKING:
    from rag.settings import Settings

# The knobs every backend takes as fields and as per-call overrides: ``rag.options.SAMPLING_KEYS``.
__all__ = ["SAMPLING_KEYS", "StreamingChat", "check_fits", "sampling_settings"]


def sampling_settings(settings: Settings) -> dict[str, Any]:
    """The backend constructor's keyword arguments that come straight from the settings."""
    return {"model_name": settings.llm_model, **{k: getattr(settings, k) for k in SAMPLING_KEYS}}


class StreamingChat(BaseChatModel):
    """A chat model whose ``_stream`` is the one code path; ``invoke`` drains it."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    model_name: str = "local"
    temperature: float = 0.0
    top_p: float = 0.9
    max_new_tokens: int = 200
    repetition_penalty: float = 1.05
    context_window: int = 4096

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_name": self.model_name, **{k: getattr(self, k) for k in SAMPLING_KEYS}}

    def knobs(self, overrides: dict[str, Any]) -> dict[str, Any]:
        """This call's sampling knobs: per-call overrides over the model's fields."""
        return {k: overrides.get(k, getattr(self, k)) for k in SAMPLING_KEYS}

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return generate_from_stream(self._stream(messages, stop, run_manager, **kwargs))


def check_fits(n_prompt: int, max_new_tokens: int, context_window: int) -> None:
    """Refuse a request that would overflow the model's context window."""
    if n_prompt + max_new_tokens > context_window:
        raise ModelError(
            f"prompt of {n_prompt} tokens plus {max_new_tokens} new tokens exceeds the model's"
            f" context window of {context_window} tokens"
        )
