"""kbqa's library: everything a notebook needs.

>>> from rag import KnowledgeBase, Settings
>>> Settings().kb
'default'
"""

from __future__ import annotations

from rag.environment import apply_default_env

# Before any Hugging Face library is imported: offline and no telemetry unless the user opts out
# (each Settings then makes the offline switches follow its own ``offline``).
apply_default_env()

from rag.errors import (  # noqa: E402
    ConfigError,
    EmbedderMismatchError,
    EmptyKnowledgeBaseError,
    KbqaError,
    KnowledgeBaseNotFoundError,
    LoaderError,
    ModelError,
    QuestionError,
    SplitterMismatchError,
    UnknownOptionError,
)
from rag.options import AskOptions  # noqa: E402
from rag.settings import Settings  # noqa: E402
from rag.types import Answer, Citation, FileResult, IngestReport, Passage  # noqa: E402

__all__ = [
    "Answer",
    "AskOptions",
    "Citation",
    "ConfigError",
    "EmbedderMismatchError",
    "EmptyKnowledgeBaseError",
    "FileResult",
    "IngestReport",
    "KbqaError",
    "KnowledgeBase",
    "KnowledgeBaseNotFoundError",
    "LoaderError",
    "ModelError",
    "Models",
    "Passage",
    "QuestionError",
    "SplitterMismatchError",
    "Settings",
    "UnknownOptionError",
]


def __getattr__(name: str):  # type: ignore[no-untyped-def]
    # KnowledgeBase pulls in LangChain; import it on first use so `import rag` stays fast.
    if name in ("KnowledgeBase", "Models"):
        from rag import kb

        return getattr(kb, name)
    raise AttributeError(name)
