"""Every prompt kbqa sends, in English and Chinese, in one place.

The small default model copies rather than rephrases, invents answers when the context lacks
one, and repeats long system prompts: short instructions, context and question in the user turn,
and a pre-started assistant turn keep it on task. Answers are one or two complete sentences that
hold the answer phrase (issue 13: bare phrases such as "9[1]" did not read as answers), lists as
Markdown lists. The prompt names one exact don't-know reply (``DONT_KNOW_REPLY``); the model's
probability of starting it at the first position it writes is one of the refusal signals
(rag.llm.scoring, rag.answerability), so the pre-start must leave that reply possible.
Measured in docs/evaluation.md, "Sentences, lists and checked citations".
"""

from __future__ import annotations

import re

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage

from rag.text import join_sentences, split_sentences
from rag.types import Passage

DONT_KNOW_REPLY = {"en": "I don't know.", "zh": "我不知道。"}

SYSTEM = {
    "en": "Answer from the context in one or two complete sentences that contain the answer."
    ' For several items, write a list with one "- " line per item. If the context does not'
    " answer the question, reply only: I don't know.",
    "zh": "只根据上下文，用一到两个完整的句子回答问题，句子里要有答案。有多项时写成列表，每项一行，"
    "以“- ”开头。如果上下文中没有答案，只回复：我不知道。",
}

USER = {
    "en": "Context:\n{context}\n\nQuestion: {question}",
    "zh": "上下文：\n{context}\n\n问题：{question}",
}

# The pre-started assistant turn. The don't-know probability is read before it (rag.llm.scoring).
PREFILL = {"en": "According to the context,", "zh": "根据文档，"}

REFUSAL = {
    "en": "The documents do not contain the answer.",
    "zh": "文档中没有找到答案。",
}

# Phrases with which a model says it cannot answer; such an answer counts as an abstention.
DONT_KNOW = (
    "i don't know",
    "i do not know",
    "not mentioned",
    "does not contain",
    "doesn't contain",
    "does not mention",
    "doesn't mention",
    "no information",
    "not provided",
    "cannot answer",
    "not specified",
    "不知道",
    "没有提到",
    "没有找到",
    "没有相关",
    "未提及",
    "无法回答",
)

# The small model sometimes goes on to write the next turn of the prompt's layout; stop there.
STOP = ["\nQuestion:", "\nContext:", "问题：", "上下文："]

CONDENSE = {
    "en": "Rewrite the last question so that it can be understood without the conversation."
    " Reply with the question only.",
    "zh": "把最后一个问题改写成不需要上下文也能理解的完整问题。只回复问题本身。",
}


def format_context(passages: list[Passage]) -> str:
    return "\n\n".join(f"[{p.n}] ({p.location})\n{p.text}" for p in passages)


def answer_messages(
    question: str, passages: list[Passage], lang: str, *, prestart: bool = True
) -> list[BaseMessage]:
    """System prompt, context and question; with ``prestart`` the assistant turn pre-started."""
    messages: list[BaseMessage] = [
        SystemMessage(SYSTEM[lang]),
        HumanMessage(USER[lang].format(context=format_context(passages), question=question)),
    ]
    return [*messages, AIMessage(PREFILL[lang])] if prestart else messages


def strip_prefill(text: str, lang: str) -> str:
    """An answer without the pre-start a model wrote out, its first letter capitalised.

    >>> strip_prefill("According to the context, the port is 5432.", "en")
    'The port is 5432.'
    """
    out = text.lstrip()
    if out.lower().startswith(PREFILL[lang].lower()):
        out = out[len(PREFILL[lang]) :].lstrip()
    return out[:1].upper() + out[1:]


def condense_messages(
    history: list[tuple[str, str]], question: str, lang: str
) -> list[BaseMessage]:
    turns = "\n".join(
        f"{'User' if role == 'user' else 'Assistant'}: {text}" for role, text in history
    )
    return [
        SystemMessage(CONDENSE[lang]),
        HumanMessage(f"{turns}\nUser: {question}\n\nStandalone question:"),
    ]


def is_refusal(text: str) -> bool:
    low = text.lower()
    return any(phrase in low for phrase in DONT_KNOW)


def _letters(text: str) -> str:
    return re.sub(r"[\W_]+", "", text.lower())


def drop_echoes(answer: str, question: str) -> str:
    """The answer without the sentences that only repeat the question.

    The 0.5B model sometimes opens with the question itself ("Zoo throws an error about my
    duplicate timestamps when merging - which function is complaining? Merge.zoo", realistic set
    q298); such a sentence states nothing. An answer that is nothing but the question is left
    as it is (``echoes_question``: the chain takes it for a refusal).

    >>> drop_echoes("Which function is complaining? Merge.zoo.", "Which function is complaining?")
    'Merge.zoo.'
    >>> drop_echoes("Yes. Receipts are due in 45 days.", "Are receipts due? Yes or no")
    'Yes. Receipts are due in 45 days.'
    """
    asked = _letters(question)
    shortest = max(8, len(asked) // 2)
    lines = []
    for line in answer.split("\n"):
        sentences = split_sentences(line)
        kept = [s for s in sentences if not (len(_letters(s)) >= shortest and _letters(s) in asked)]
        if len(kept) == len(sentences):
            lines.append(line)
        elif kept:
            lines.append(join_sentences(kept, line))
    out = "\n".join(lines).strip()
    return out if out else answer


def echoes_question(answer: str, question: str) -> bool:
    """Whether the answer only repeats (part of) the question: no answer at all.

    Realistic set q220: "Debian 14 forky 什么时候停止支持？" was answered with itself, and kept
    (evidence at the threshold, the don't-know probability 0.02).

    >>> echoes_question("本地部署大语言模型如何保护数据隐私？", "本地部署大语言模型如何保护数据隐私？")
    True
    >>> echoes_question("Receipts are due within 45 days.", "When are receipts due?")
    False
    """
    said = _letters(answer)
    return len(said) >= 4 and said in _letters(question)
