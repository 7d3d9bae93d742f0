"""The question-answering chain: condense → retrieve → prompt → generate → cite.

``AnswerStream`` yields answer text as the model writes it; once exhausted, ``.answer`` holds the
checked ``Answer``. ``KnowledgeBase.ask`` simply drains one.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from rag import prompts
from rag.citations import attribute
from rag.errors import QuestionError
from rag.llm.base import SAMPLING_KEYS
from rag.text import detect_language
from rag.types import Answer, Passage

if TYPE_CHECKING:
    from rag.kb import KnowledgeBase

MAX_QUESTION_CHARS = 2000
History = Sequence[tuple[str, str]]  # (role "user" | "assistant", text)


def check_question(question: Any) -> str:
    if not isinstance(question, str) or not question.strip():
        raise QuestionError("the question is empty; type a question about your documents")
    question = question.strip()
    if len(question) > MAX_QUESTION_CHARS:
        raise QuestionError(
            f"the question is {len(question):,} characters long; the limit is"
            f" {MAX_QUESTION_CHARS:,}. Ask something shorter, or ingest the text as a document"
        )
    return question


class AnswerStream:
    """Iterate for answer text pieces; ``.answer`` is the final ``Answer`` afterwards."""

    def __init__(
        self, kb: KnowledgeBase, question: str, history: History | None, **overrides: Any
    ) -> None:
        self.kb = kb
        self.question = check_question(question)
        self.history = list(history or [])
        self.overrides = overrides
        self.answer: Answer | None = None
        self._iter = self._run()

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        return next(self._iter)

    def _lang(self) -> str:
        forced = self.overrides.get("answer_language") or self.kb.settings.answer_language
        return forced if forced in ("en", "zh") else detect_language(self.question)

    def _run(self) -> Iterator[str]:
        s = self.kb.settings
        t0 = time.perf_counter()
        lang = self._lang()
        timings: dict[str, float] = {}
        query = self.question
        if self.history:
            standalone = self.kb.condense(self.history, self.question, lang)
            last_user = next((t for r, t in reversed(self.history) if r == "user"), "")
            # The small model's rewrite can drop the topic; the last question keeps it in reach.
            query = f"{standalone} {last_user}".strip()
            timings["condense"] = round(time.perf_counter() - t0, 3)
        t1 = time.perf_counter()
        passages = self.kb.retrieve(
            query,
            top_k=self.overrides.get("top_k"),
            sources=self.overrides.get("sources"),
            hybrid=self.overrides.get("hybrid"),
        )
        timings["retrieve"] = round(time.perf_counter() - t1, 3)
        threshold = self.overrides.get("relevance_threshold")
        if threshold is None:
            threshold = s.abstain_below
        # The retrieval query, so a follow-up is judged with the topic it continues.
        evidence = self.kb.evidence(query, passages) if passages else 0.0
        if not passages or evidence < threshold:
            refusal = prompts.REFUSAL[lang]
            yield refusal
            timings["total"] = round(time.perf_counter() - t0, 3)
            self.answer = Answer(
                question=self.question,
                answer=refusal,
                citations=[],
                passages=passages,
                abstained=True,
                timings=timings,
                language=lang,  # type: ignore[arg-type]
                standalone_question=query if self.history else None,
            )
            return
        llm = self.kb.llm
        passages = self._fit(passages, lang, llm)
        messages = prompts.answer_messages(self.question, passages, lang)
        knobs = {k: self.overrides[k] for k in SAMPLING_KEYS if self.overrides.get(k) is not None}
        pieces: list[str] = []
        t2 = time.perf_counter()
        for chunk in llm.stream(messages, stop=prompts.STOP, **knobs):
            text = str(chunk.content)
            if not text:
                continue
            if not pieces:
                timings["first_token"] = round(time.perf_counter() - t0, 3)
            pieces.append(text)
            yield text
        timings["generate"] = round(time.perf_counter() - t2, 3)
        raw = "".join(pieces)
        for stop in prompts.STOP:  # a stop string may have arrived split over two pieces
            raw = raw.split(stop)[0]
        raw = raw.strip()
        abstained = not raw or prompts.is_refusal(raw)
        if abstained:
            attributed = attribute("", passages, s.citation_threshold)
            text = prompts.REFUSAL[lang]
        else:
            attributed = attribute(raw, passages, s.citation_threshold, question=query)
            text = attributed.text
        timings["total"] = round(time.perf_counter() - t0, 3)
        self.answer = Answer(
            question=self.question,
            answer=text,
            citations=attributed.citations,
            passages=passages,
            abstained=abstained,
            evidence=evidence,
            unsupported_sentences=attributed.unsupported,
            timings=timings,
            raw_answer=raw,
            language=lang,  # type: ignore[arg-type]
            standalone_question=query if self.history else None,
        )

    def _fit(self, passages: list[Passage], lang: str, llm: Any) -> list[Passage]:
        """Drop the lowest-ranked passages until prompt + answer fit the context window."""
        budget = llm.context_window - int(
            self.overrides.get("max_new_tokens") or llm.max_new_tokens
        )
        kept = list(passages)
        while (
            len(kept) > 1
            and llm.count_tokens(llm.render(prompts.answer_messages(self.question, kept, lang)))
            > budget
        ):
            kept.pop()
        return kept


def trim_history(history: History, budget_tokens: int, count_tokens: Any) -> list[tuple[str, str]]:
    """The most recent turns whose total length fits ``budget_tokens``."""
    kept: list[tuple[str, str]] = []
    used = 0
    for role, text in reversed(list(history)):
        cost = count_tokens(text) + 4
        if used + cost > budget_tokens:
            break
        kept.append((role, text))
        used += cost
    return list(reversed(kept))
