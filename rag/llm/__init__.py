"""Generator backends behind one LangChain chat-model interface, chosen by ``llm_backend``."""

from rag.llm.transformers_chat import TransformersChat, load_transformers_chat

__all__ = ["TransformersChat", "load_chat_model", "load_transformers_chat"]


def load_chat_model(settings):  # type: ignore[no-untyped-def]
    """The chat model the settings name (only the in-process transformers backend for now)."""
    return load_transformers_chat(settings)
