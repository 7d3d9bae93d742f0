"""Every prompt kbqa sends, in English and Chinese, in one place.

The small default model copies rather than rephrases, invents answers when the context lacks
one, and repeats long system prompts: short instructions, context and question in the user turn,
and a pre-started assistant turn keep it on task. Asking for the shortest phrase from the context
with an "Answer:" pre-start raised token F1 on the dev set from 0.34 to 0.53 and exact match from
0.00 to 0.46 over "Be brief" with "According to the context," (docs/evaluation.md). The Chinese
prompt has not been measured that way yet (no Chinese evaluation set).
"""

from __future__ import annotations

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage

from rag.types import Passage

SYSTEM = {
    "en": "Answer the question with the shortest phrase from the context that answers it. Do not"
    " write a full sentence. If the context does not contain the answer, say: I don't know.",
    "zh": "只根据上下文回答问题，回答要简短。如果上下文中没有答案，就说：我不知道。",
}

USER = {
    "en": "Context:\n{context}\n\nQuestion: {question}",
    "zh": "上下文：\n{context}\n\n问题：{question}",
}

PREFILL = {"en": "Answer:", "zh": "根据文档，"}

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


def answer_messages(question: str, passages: list[Passage], lang: str) -> list[BaseMessage]:
    return [
        SystemMessage(SYSTEM[lang]),
        HumanMessage(USER[lang].format(context=format_context(passages), question=question)),
        AIMessage(PREFILL[lang]),
    ]


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
