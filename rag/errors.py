"""Typed errors. Each carries the file, setting or value that caused it.

The CLI and the app turn a ``KbqaError`` into one clear sentence (``str(err)``), never a traceback.
"""

from __future__ import annotations


class KbqaError(Exception):
    """Base class of every error kbqa raises on purpose."""


class ConfigError(KbqaError, ValueError):
    """A setting or argument has a value kbqa cannot use."""


class ModelError(KbqaError):
    """A model could not be found, verified or loaded."""


class LoaderError(KbqaError):
    """A document could not be read. ``path`` names the file, ``reason`` says why."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class EmbedderMismatchError(KbqaError):
    """A collection was built with another embedder than the one in use."""


class SplitterMismatchError(KbqaError):
    """Ingest would add chunks split another way than the collection's (``kbqa reindex``)."""


class KnowledgeBaseNotFoundError(KbqaError):
    """The named knowledge base (Chroma collection) does not exist."""


class EmptyKnowledgeBaseError(KbqaError):
    """The knowledge base holds no documents yet."""


class IngestLockedError(KbqaError):
    """Another ingest holds the knowledge base's lock."""


class QuestionError(KbqaError, ValueError):
    """The question is empty or cannot be asked as given."""


class UnknownOptionError(ConfigError, TypeError):
    """A per-question option kbqa does not know (a misspelling); the message lists valid ones."""
