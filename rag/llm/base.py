"""What every kbqa chat backend shares: generation is streaming, drained."""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models.chat_models import BaseChatModel, generate_from_stream
from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatResult

from rag.errors import ModelError


class StreamingChat(BaseChatModel):
    """A chat model whose ``_stream`` is the one code path; ``invoke`` drains it."""

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
