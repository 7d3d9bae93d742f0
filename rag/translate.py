"""Question translation for cross-language retrieval: one short greedy call to the chat model.

Keyword search cannot match across languages and the multilingual embedder ranks same-language
passages above the other-language one, so in a knowledge base holding both English and Chinese
documents ``KnowledgeBase.retrieve`` also searches with the question translated into the other
language (docs/evaluation.md, "Cross-language: translated queries"). This module holds only the
prompt, the call and the cleaning of the model's reply.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from typing import Any, Literal

from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage

from rag.retrieval import passage_language, reserve_cross_language_slot
from rag.types import Passage

Lang = Literal["en", "zh"]

TRANSLATE_MAX_NEW_TOKENS = 40  # a question, not a paragraph; the reply stops at its first line
SYSTEMS: dict[str, str] = {
    "en": "Translate the user's question into English. Reply with the translation only.",
    "zh": "把用户的问题翻译成中文，只回答译文。",
}
_PREFIX = re.compile(
    r"^\s*(?:english\s+)?(?:translation|translated question|译文|翻译|中文|english)\s*[:：]\s*",
    re.IGNORECASE,
)
_QUOTES = "\"'“”‘’「」『』《》`"


def other_language(lang: str) -> Lang:
    """The language a question in ``lang`` is translated into.

    >>> other_language("en"), other_language("zh")
    ('zh', 'en')
    """
    return "en" if lang == "zh" else "zh"


def translate_messages(question: str, target: str) -> list[BaseMessage]:
    """The prompt: a one-line instruction in the target language, then the question.

    >>> [m.type for m in translate_messages("谁写了这篇论文？", "en")]
    ['system', 'human']
    """
    return [SystemMessage(SYSTEMS[target]), HumanMessage(question.strip())]


def clean_translation(reply: str) -> str:
    """The translation in a model's reply: first non-empty line, without a "Translation:"
    label or the quotes small models wrap it in.

    >>> clean_translation('Translation: "Who wrote the paper?"')
    'Who wrote the paper?'
    >>> clean_translation("\\n译文：「谁写了这篇论文？」\\n(This is the translation.)")
    '谁写了这篇论文？'
    >>> clean_translation("   ")
    ''
    """
    lines = [line.strip() for line in reply.splitlines() if line.strip()]
    text = _PREFIX.sub("", lines[0]) if lines else ""
    return text.strip().strip(_QUOTES).strip()


def translate_question(llm: Any, question: str, target: str) -> str:
    """``question`` translated into ``target`` ("en" or "zh") by ``llm`` (greedy, at most
    ``TRANSLATE_MAX_NEW_TOKENS`` tokens, stopping at a newline); "" when the reply holds none.

    >>> from langchain_core.language_models import GenericFakeChatModel
    >>> from langchain_core.messages import AIMessage
    >>> fake = GenericFakeChatModel(messages=iter([AIMessage("Translation: Who wrote it?")]))
    >>> translate_question(fake, "谁写的？", "en")
    'Who wrote it?'
    """
    reply = llm.invoke(
        translate_messages(question, target),
        max_new_tokens=TRANSLATE_MAX_NEW_TOKENS,
        temperature=0.0,
        stop=["\n"],
    ).content
    return clean_translation(str(reply))


def merge_translated(
    original: Sequence[Passage],
    translated: Sequence[Passage],
    lang: str,
    *,
    k: int,
    top_k: int,
) -> list[Passage]:
    """The passages of the question's search and of its translation's, one list of ``top_k``.

    From the translation's search only passages in the translation's language are taken (the
    question's own search already ranks those in its language); the union is ordered by the
    better fused score (both searches score a passage the same way: cosine plus scaled BM25).
    When the question's search gave a passage in the other language among its first ``k``
    (``rag.retrieval.reserve_cross_language_slot``) and the merge did not, the best
    other-language passage keeps place ``k``.

    >>> def p(cid, lang, score):
    ...     return Passage(0, cid, cid + ".md", None, "t", score, metadata={"lang": lang})
    >>> merged = merge_translated(
    ...     [p("zh1", "zh", 0.9), p("zh2", "zh", 0.8), p("en9", "en", 0.3)],
    ...     [p("en1", "en", 1.2), p("zh1", "zh", 0.5), p("en9", "en", 0.7)], "zh", k=3, top_k=3)
    >>> [(m.n, m.chunk_id) for m in merged]
    [(1, 'en1'), (2, 'zh1'), (3, 'zh2')]
    """
    target = other_language(lang)
    best: dict[str, Passage] = {p.chunk_id: p for p in original}
    for p in translated:
        if passage_language(p.text, p.metadata) != target:
            continue
        if p.chunk_id not in best or p.score > best[p.chunk_id].score:
            best[p.chunk_id] = p
    order = sorted(best, key=lambda cid: -best[cid].score)
    foreign = {cid for cid, p in best.items() if passage_language(p.text, p.metadata) != lang}
    if any(p.chunk_id in foreign for p in original[:k]) and not foreign & set(order[:k]):
        first = next(cid for cid in order if cid in foreign)
        order = reserve_cross_language_slot(order, [first], {first}, k)
    return [replace(best[cid], n=n) for n, cid in enumerate(order[:top_k], 1)]
