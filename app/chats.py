"""Saved conversations, one JSON file per knowledge base, and the app's own preferences.

Chats live beside the knowledge base's other files (``Settings.kb_dir / "chats.json"``), so they
go where the knowledge base goes and are deleted with it; no browser storage is involved. Every
write replaces the whole file atomically (a temporary file, fsync, ``os.replace``) under a file
lock, so a crash or two browser tabs writing at once never leave half a file.

>>> import tempfile, pathlib
>>> store = ChatStore(pathlib.Path(tempfile.mkdtemp()) / "chats.json")
>>> chat = Chat.new()
>>> chat.messages.append(Message("user", "Which planet is largest?"))
>>> store.save(chat)
>>> [c.label for c in store.list()]
['Which planet is largest?']
"""

from __future__ import annotations

import json
import os
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from app.markup import renumber
from rag.locks import exclusive
from rag.types import Answer, Citation, Passage

FORMAT = 1
LABEL_CHARS = 60


@dataclass
class Message:
    role: str  # "user" | "assistant"
    text: str
    answer: Answer | None = None
    error: bool = False


@dataclass
class Chat:
    """One conversation: its id (also in the page's URL), an optional name, the turns."""

    id: str
    title: str = ""
    created: float = 0.0
    updated: float = 0.0
    messages: list[Message] = field(default_factory=list)

    @classmethod
    def new(cls) -> Chat:
        now = time.time()
        return cls(uuid.uuid4().hex[:12], "", now, now, [])

    @property
    def first_question(self) -> str:
        return next((m.text for m in self.messages if m.role == "user"), "")

    @property
    def label(self) -> str:
        """What the sidebar lists: the name given, else the first question (cut)."""
        text = " ".join((self.title or self.first_question).split())
        return text if len(text) <= LABEL_CHARS else text[: LABEL_CHARS - 1] + "…"


def _known(cls: type, data: dict[str, Any]) -> dict[str, Any]:
    """The keys ``cls`` takes: a file written by a newer kbqa still opens."""
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in data.items() if k in names}


def answer_from_dict(data: dict[str, Any]) -> Answer:
    """The inverse of ``Answer.to_dict``."""
    values = _known(Answer, data)
    values["citations"] = [Citation(**_known(Citation, c)) for c in data.get("citations", [])]
    values["passages"] = [Passage(**_known(Passage, p)) for p in data.get("passages", [])]
    return Answer(**values)


def message_to_dict(m: Message) -> dict[str, Any]:
    return {
        "role": m.role,
        "text": m.text,
        "error": m.error,
        "answer": m.answer.to_dict() if m.answer is not None else None,
    }


def message_from_dict(data: dict[str, Any]) -> Message:
    answer = data.get("answer")
    return Message(
        str(data.get("role", "user")),
        str(data.get("text", "")),
        answer_from_dict(answer) if isinstance(answer, dict) else None,
        bool(data.get("error", False)),
    )


def chat_to_dict(chat: Chat) -> dict[str, Any]:
    return {
        "id": chat.id,
        "title": chat.title,
        "created": chat.created,
        "updated": chat.updated,
        "messages": [message_to_dict(m) for m in chat.messages],
    }


def chat_from_dict(data: dict[str, Any]) -> Chat:
    return Chat(
        str(data["id"]),
        str(data.get("title", "")),
        float(data.get("created", 0.0)),
        float(data.get("updated", 0.0)),
        [message_from_dict(m) for m in data.get("messages", [])],
    )


def write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` all at once: readers see the old file or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_json(path: Path) -> dict[str, Any]:
    """The object in ``path``; ``{}`` when the file is missing or not a JSON object."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


class ChatStore:
    """The saved chats of one knowledge base, in one JSON file."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = self.path.with_name(self.path.name + ".lock")

    @contextmanager
    def _editing(self) -> Iterator[dict[str, dict[str, Any]]]:
        """The chats by id, written back atomically when the block ends without error."""
        with exclusive(self._lock):
            chats = {c["id"]: c for c in self._raw() if isinstance(c, dict) and "id" in c}
            yield chats
            body = {"format": FORMAT, "chats": list(chats.values())}
            write_atomically(self.path, json.dumps(body, ensure_ascii=False, indent=1))

    def _raw(self) -> list[Any]:
        chats = read_json(self.path).get("chats", [])
        return chats if isinstance(chats, list) else []

    def list(self) -> list[Chat]:
        """Every chat, the most recently used first."""
        chats = [chat_from_dict(c) for c in self._raw() if isinstance(c, dict) and "id" in c]
        return sorted(chats, key=lambda c: -c.updated)

    def get(self, chat_id: str) -> Chat | None:
        return next((c for c in self.list() if c.id == chat_id), None)

    def save(self, chat: Chat) -> None:
        chat.updated = time.time()
        with self._editing() as chats:
            chats[chat.id] = chat_to_dict(chat)

    def rename(self, chat_id: str, title: str) -> bool:
        """Name a chat (an empty name goes back to its first question); False if it is gone."""
        with self._editing() as chats:
            if chat_id not in chats:
                return False
            chats[chat_id]["title"] = " ".join(title.split())
            return True

    def delete(self, chat_id: str) -> bool:
        with self._editing() as chats:
            return chats.pop(chat_id, None) is not None


class Preferences:
    """The app's own choices that outlive a browser session (the interface language)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def get(self, key: str) -> str | None:
        value = read_json(self.path).get(key)
        return value if isinstance(value, str) else None

    def set(self, key: str, value: str) -> None:
        with exclusive(self.path.with_name(self.path.name + ".lock")):
            data = read_json(self.path)
            data[key] = value
            write_atomically(self.path, json.dumps(data, ensure_ascii=False, indent=1))


def _answer_and_sources(answer: Answer) -> tuple[str, list[str]]:
    """The answer with its markers numbered 1, 2, 3 in order of use, and its sources so."""
    text, mapping = renumber(answer.answer, [c.n for c in answer.citations])
    lines = []
    for c in sorted(answer.citations, key=lambda c: mapping.get(c.n, c.n)):
        snippet = " ".join(c.snippet.split())
        lines.append(f"[{mapping.get(c.n, c.n)}] {c.location} — “{snippet}”")
    return text, lines


def export_markdown(chat: Chat, kb: str) -> str:
    """The chat as a Markdown document: each question, its answer and the answer's sources.

    >>> chat = Chat("c1", "Planets", 0, 0, [Message("user", "Largest?"), Message("assistant",
    ...     "Jupiter[1].", Answer("Largest?", "Jupiter[1].", [Citation(1, "solar.md", None,
    ...     "Jupiter is the largest planet.", 1.0)], [], False))])
    >>> print(export_markdown(chat, "default"))
    # Planets
    <BLANKLINE>
    Knowledge base: default
    <BLANKLINE>
    ## Largest?
    <BLANKLINE>
    Jupiter[1].
    <BLANKLINE>
    Sources:
    <BLANKLINE>
    - [1] solar.md — “Jupiter is the largest planet.”
    <BLANKLINE>
    """
    out = [f"# {chat.label or 'kbqa chat'}", "", f"Knowledge base: {kb}", ""]
    for m in chat.messages:
        if m.role == "user":
            out += [f"## {' '.join(m.text.split())}", ""]
            continue
        if m.answer is None:
            out += [m.text.strip(), ""]
            continue
        text, sources = _answer_and_sources(m.answer)
        out += [text.strip(), ""]
        if sources:
            out += ["Sources:", ""] + [f"- {line}" for line in sources] + [""]
    return "\n".join(out)
