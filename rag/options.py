"""Per-question options: the knobs ``ask``, ``stream`` and ``as_runnable`` take for one answer.

Only these names are accepted, so a misspelled one is an error instead of a silently ignored
knob (``topk=1`` used to answer with the default ``top_k``):

>>> AskOptions.from_kwargs(top_k=2, temperature=0.0).top_k
2
>>> AskOptions.from_kwargs(topk=1)  # doctest: +IGNORE_EXCEPTION_DETAIL
Traceback (most recent call last):
rag.errors.UnknownOptionError: unknown option 'topk' (did you mean 'top_k'?); ...
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

from rag.errors import ConfigError, UnknownOptionError

SAMPLING_KEYS = ("temperature", "top_p", "max_new_tokens", "repetition_penalty")
LANGUAGES = ("auto", "en", "zh")


@dataclass(frozen=True)
class AskOptions:
    """One answer's overrides; ``None`` means "the knowledge base's setting".

    - ``top_k``: passages given to the model; ``sources``: only these files (names or globs);
      ``hybrid``: fuse keyword search with dense search.
    - ``relevance_threshold``: abstain when the passages' evidence is below it (0..1).
    - ``temperature``, ``top_p``, ``max_new_tokens``, ``repetition_penalty``: sampling knobs,
      passed to whichever backend generates.
    - ``answer_language``: ``"en"``, ``"zh"``, or ``"auto"`` (the question's language).
    """

    top_k: int | None = None
    sources: tuple[str, ...] | None = None
    hybrid: bool | None = None
    relevance_threshold: float | None = None
    temperature: float | None = None
    top_p: float | None = None
    max_new_tokens: int | None = None
    repetition_penalty: float | None = None
    answer_language: str | None = None

    def __post_init__(self) -> None:
        if self.sources is not None and not isinstance(self.sources, tuple):
            if isinstance(self.sources, str):  # one file name, not its characters
                object.__setattr__(self, "sources", (self.sources,))
            else:
                object.__setattr__(self, "sources", tuple(self.sources))
        for name in ("top_k", "max_new_tokens"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or int(value) != value or value < 1):
                raise ConfigError(f"{name} must be a whole number of at least 1, not {value!r}")
        for name, low, high in (
            ("relevance_threshold", 0.0, 1.0),
            ("temperature", 0.0, None),
            ("top_p", 0.0, 1.0),
            ("repetition_penalty", 0.0, None),
        ):
            value = getattr(self, name)
            if value is None:
                continue
            if not isinstance(value, int | float) or value < low or (high and value > high):
                bound = f"between {low} and {high}" if high else f"at least {low}"
                raise ConfigError(f"{name} must be a number {bound}, not {value!r}")
        if self.answer_language is not None and self.answer_language not in LANGUAGES:
            raise ConfigError(
                f"answer_language must be one of {', '.join(LANGUAGES)},"
                f" not {self.answer_language!r}"
            )

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    @classmethod
    def from_kwargs(cls, options: AskOptions | None = None, /, **overrides: Any) -> AskOptions:
        """``options`` (or the defaults) with ``overrides`` applied; unknown names raise."""
        unknown = sorted(set(overrides) - set(cls.names()))
        if unknown:
            raise UnknownOptionError(_unknown_message(unknown, cls.names()))
        base = options or cls()
        if not overrides:
            return base
        return cls(**{**{f: getattr(base, f) for f in cls.names()}, **overrides})

    def sampling(self) -> dict[str, Any]:
        """The sampling knobs that are set, for the chat model's call."""
        return {k: getattr(self, k) for k in SAMPLING_KEYS if getattr(self, k) is not None}

    def as_dict(self) -> dict[str, Any]:
        return {f: getattr(self, f) for f in self.names() if getattr(self, f) is not None}


def _unknown_message(unknown: Sequence[str], valid: Sequence[str]) -> str:
    parts = []
    for name in unknown:
        close = difflib.get_close_matches(name, valid, n=1)
        parts.append(f"{name!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    noun = "option" if len(unknown) == 1 else "options"
    return f"unknown {noun} {', '.join(parts)}; valid options: {', '.join(valid)}"


def options_from(inputs: Mapping[str, Any], reserved: Sequence[str]) -> AskOptions:
    """The options in a runnable's input mapping: every key but ``reserved`` ones."""
    return AskOptions.from_kwargs(**{k: v for k, v in inputs.items() if k not in reserved})
