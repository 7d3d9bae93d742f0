"""OpenAI's chat-completions wire format, as kbqa speaks it: plain functions, no server.

A request names a knowledge base as its ``model``; its last user message is the question and
the earlier user and assistant messages are the history. An answer's sources travel twice: as
``sources`` beside ``choices`` (marker, file, page, snippet, score), for programs, and as
Markdown footnotes after the answer text, for people reading it in a chat client.

>>> question, history = split_messages([
...     ChatMessage(role="user", content="What does a starter need?"),
...     ChatMessage(role="assistant", content="Flour and water [1]."),
...     ChatMessage(role="user", content="And why does bread rise?"),
... ])
>>> question, history
('And why does bread rise?', [('user', 'What does a starter need?'), ('assistant', 'Flour and water [1].')])
>>> ask_options(ChatRequest(model="notes", messages=[], temperature=0.2, max_tokens=64))
{'temperature': 0.2, 'max_new_tokens': 64}
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from rag.errors import QuestionError
from rag.types import Answer

# The heading of the footnotes block, per answer language; also how a footnotes block that a
# client sends back in the history is recognised and cut off.
SOURCES_HEADING = {"en": "Sources", "zh": "来源"}
_FOOTNOTES = re.compile(
    r"\n\n\*\*(?:" + "|".join(map(re.escape, SOURCES_HEADING.values())) + r")\*\*  \n.*\Z",
    re.DOTALL,
)

ErrorType = Literal[
    "invalid_request_error", "authentication_error", "not_found_error", "server_error"
]


class ChatMessage(BaseModel):
    """One message of a request. ``content`` is a string or OpenAI's list of content parts."""

    model_config = ConfigDict(extra="allow")

    role: str
    content: str | list[dict[str, Any]] | None = None


class ChatRequest(BaseModel):
    """The fields of ``POST /v1/chat/completions`` kbqa reads; other fields are accepted and
    ignored (``stop``, ``presence_penalty``, ``stream_options``…), as OpenAI-compatible servers do.
    """

    model_config = ConfigDict(extra="allow")

    model: str
    messages: list[ChatMessage]
    stream: bool = False
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    n: int | None = None


def message_text(content: str | list[dict[str, Any]] | None) -> str:
    """The text of a message: a string as it is, content parts' ``text`` joined.

    >>> message_text([{"type": "text", "text": "Hello"}, {"type": "image_url", "image_url": {}}])
    'Hello'
    """
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "".join(str(part.get("text", "")) for part in content if part.get("type") == "text")


def strip_footnotes(text: str) -> str:
    """An assistant message without the sources block kbqa appended to it.

    >>> strip_footnotes("Jupiter [1].\\n\\n**Sources**  \\n[1]: solar.md")
    'Jupiter [1].'
    """
    return _FOOTNOTES.sub("", text)


def split_messages(messages: list[ChatMessage]) -> tuple[str, list[tuple[str, str]]]:
    """The question (the last message, which must be the user's) and the history before it.

    System and tool messages are left out: kbqa answers with its own prompt.
    """
    if not messages or messages[-1].role != "user":
        raise QuestionError("the last message must be the user's question (role 'user')")
    question = message_text(messages[-1].content).strip()
    history: list[tuple[str, str]] = []
    for message in messages[:-1]:
        if message.role not in ("user", "assistant"):
            continue
        text = message_text(message.content)
        if message.role == "assistant":
            text = strip_footnotes(text)
        if text.strip():
            history.append((message.role, text))
    return question, history


def ask_options(request: ChatRequest) -> dict[str, Any]:
    """OpenAI's sampling fields under kbqa's ``AskOptions`` names (``max_tokens`` →
    ``max_new_tokens``); unset fields keep the knowledge base's settings."""
    options = {
        "temperature": request.temperature,
        "top_p": request.top_p,
        "max_new_tokens": request.max_completion_tokens or request.max_tokens,
    }
    return {k: v for k, v in options.items() if v is not None}


def sources(answer: Answer) -> list[dict[str, Any]]:
    """The ``sources`` field: one entry per citation. A refusal has none.

    >>> from rag.types import Citation
    >>> a = Answer("q", "Jupiter [1].", [Citation(1, "solar.md", None, "Jupiter is…", 0.9)], [], False)
    >>> sources(a)
    [{'marker': '[1]', 'n': 1, 'source': 'solar.md', 'page': None, 'location': 'solar.md', 'snippet': 'Jupiter is…', 'score': 0.9}]
    """
    if answer.abstained:
        return []
    return [
        {
            "marker": f"[{c.n}]",
            "n": c.n,
            "source": c.source,
            "page": c.page,
            "location": c.location,
            "snippet": c.snippet,
            "score": round(float(c.score), 4),
        }
        for c in answer.citations
    ]


def footnotes(answer: Answer) -> str:
    """The Markdown sources block appended to the answer text ('' for no sources).

    Inside a paragraph opened by the heading, so ``[1]: notes.md`` stays visible text instead
    of becoming a Markdown link definition; lines end in a hard break (two spaces).

    >>> from rag.types import Citation
    >>> cites = [Citation(1, "a.pdf", 3, "…", 0.9), Citation(2, "notes.md", None, "…", 0.8)]
    >>> print(footnotes(Answer("q", "x [1] [2]", cites, [], False)).replace("  ", "␣␣"))
    <BLANKLINE>
    <BLANKLINE>
    **Sources**␣␣
    [1]: a.pdf, p. 3␣␣
    [2]: notes.md
    """
    if answer.abstained or not answer.citations:
        return ""
    lines = [f"**{SOURCES_HEADING.get(answer.language, SOURCES_HEADING['en'])}**"]
    for c in answer.citations:
        lines.append(f"[{c.n}]: {c.location}")
    return "\n\n" + "  \n".join(lines)


def answer_details(answer: Answer) -> dict[str, Any]:
    """The ``kbqa`` field: the checked answer text, whether kbqa abstained, timings."""
    return {
        "answer": answer.answer,
        "abstained": answer.abstained,
        "evidence": round(float(answer.evidence), 4),
        "language": answer.language,
        "timings": answer.timings,
    }


def completion(completion_id: str, created: int, model: str, answer: Answer) -> dict[str, Any]:
    """A ``chat.completion`` object: the checked answer with its footnotes, and ``sources``."""
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": answer.answer + footnotes(answer)},
                "finish_reason": "stop",
                "logprobs": None,
            }
        ],
        "sources": sources(answer),
        "kbqa": answer_details(answer),
    }


def chunk(
    completion_id: str,
    created: int,
    model: str,
    delta: dict[str, Any],
    finish_reason: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """One ``chat.completion.chunk`` of a streamed answer; ``extra`` adds top-level fields."""
    return {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}],
        **extra,
    }


def final_chunk(completion_id: str, created: int, model: str, answer: Answer) -> dict[str, Any]:
    """The last chunk: the footnotes as the last piece of content, ``sources`` and ``kbqa``."""
    notes = footnotes(answer)
    return chunk(
        completion_id,
        created,
        model,
        {"content": notes} if notes else {},
        "stop",
        sources=sources(answer),
        kbqa=answer_details(answer),
    )


def sse(data: dict[str, Any] | str) -> str:
    """One server-sent event carrying ``data`` (a dict as JSON).

    >>> sse("[DONE]")
    'data: [DONE]\\n\\n'
    """
    text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    return f"data: {text}\n\n"


def error_body(
    message: str, type_: ErrorType, code: str | None = None, param: str | None = None
) -> dict[str, Any]:
    """OpenAI's error shape, which its clients turn into their exceptions.

    >>> error_body("no such model", "invalid_request_error", "model_not_found", "model")
    {'error': {'message': 'no such model', 'type': 'invalid_request_error', 'param': 'model', 'code': 'model_not_found'}}
    """
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}
