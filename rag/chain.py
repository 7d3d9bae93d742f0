"""The question-answering chain: condense → retrieve → prompt → generate → cite.

``AnswerChain`` is built from a passage search and a chat model; ``AnswerStream`` yields answer
text as the model writes it and, once exhausted, ``.answer`` holds the checked ``Answer``.
Nothing here knows about ``KnowledgeBase``: the facade hands the parts in, a test hands fakes.

>>> from langchain_core.language_models import GenericFakeChatModel
>>> class OnePassage:
...     def retrieve(self, query, *, top_k=None, sources=None, hybrid=None):
...         return [Passage(1, "c1", "solar.md", None, "Jupiter is the largest planet.", 1.0)]
...     def evidence(self, question, passages):
...         return 1.0
>>> chain = AnswerChain(OnePassage(), GenericFakeChatModel(
...     messages=iter(["Jupiter is the largest planet [1]."])))
>>> answer = chain.ask("Which planet is the largest?")
>>> answer.abstained, [c.source for c in answer.citations]
(False, ['solar.md'])
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol

from rag import answerability, prompts
from rag.citations import attribute, unstated_numbers
from rag.errors import QuestionError
from rag.followup import FollowUp, resolve
from rag.followup import Mode as FollowUpMode
from rag.llm import scoring
from rag.options import AskOptions
from rag.text import detect_language
from rag.types import Answer, Passage

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


class PassageSearch(Protocol):
    """What the chain reads passages with (``KnowledgeBase`` provides it over its store)."""

    def retrieve(
        self,
        query: str,
        *,
        top_k: int | None = None,
        sources: Sequence[str] | None = None,
        hybrid: bool | None = None,
    ) -> list[Passage]: ...

    def evidence(self, question: str, passages: Sequence[Passage]) -> float: ...


ChatModel = Any  # a LangChain chat model; kbqa's backends add ``rag.llm.ChatBackend``'s members
# The chat model itself, or a function that loads it on first use (abstaining needs none).
ChatModelSource = ChatModel | Callable[[], ChatModel]


class AnswerChain:
    """condense → retrieve → prompt → generate → cite, from a search and a chat model.

    ``abstain_below``: the evidence below which the chain refuses instead of answering;
    ``citation_threshold``: how well a sentence must match a passage to cite it;
    ``answer_language``: ``"en"``, ``"zh"`` or ``"auto"`` (the question's language).
    """

    def __init__(
        self,
        search: PassageSearch,
        chat_model: ChatModelSource,
        *,
        abstain_below: float = 0.0,
        citation_threshold: float = 0.0,
        answer_language: str = "auto",
    ) -> None:
        self.search = search
        self._chat_model = chat_model
        self.abstain_below = abstain_below
        self.citation_threshold = citation_threshold
        self.answer_language = answer_language

    @property
    def chat_model(self) -> ChatModel:
        model = self._chat_model
        if callable(model) and not hasattr(model, "stream"):
            return model()
        return model

    def stream(
        self, question: str, history: History | None = None, options: AskOptions | None = None
    ) -> AnswerStream:
        return AnswerStream(self, question, history, options or AskOptions())

    def ask(
        self, question: str, history: History | None = None, options: AskOptions | None = None
    ) -> Answer:
        stream = self.stream(question, history, options)
        for _ in stream:
            pass
        assert stream.answer is not None
        return stream.answer

    # "auto": rule-based rewrites, the model only when no referent is found (rag.followup).
    followup_mode: FollowUpMode = "auto"

    def condense(self, history: History, question: str, lang: str) -> FollowUp:
        """How ``question`` is understood after ``history`` (the model is loaded only if asked)."""
        return resolve(
            question, history, lambda: self.chat_model, lang=lang, mode=self.followup_mode
        )


def condense(llm: ChatModel, history: History, question: str, lang: str) -> str:
    """A follow-up rewritten as a standalone question; a self-contained question unchanged."""
    return resolve(question, history, llm, lang=lang).question


def _rough_tokens(text: str) -> int:
    return len(text) // 4 + 1


class AnswerStream:
    """Iterate for answer text pieces; ``.answer`` is the final ``Answer`` afterwards."""

    def __init__(
        self,
        chain: AnswerChain,
        question: str,
        history: History | None = None,
        options: AskOptions | None = None,
    ) -> None:
        self.chain = chain
        self.question = check_question(question)
        self.history = list(history or [])
        self.options = options or AskOptions()
        self.answer: Answer | None = None
        self.standalone_question: str | None = None  # set before the first piece: a rewrite
        self._iter = self._run()

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        return next(self._iter)

    def _lang(self) -> str:
        forced = self.options.answer_language or self.chain.answer_language
        return forced if forced in ("en", "zh") else detect_language(self.question)

    def _run(self) -> Iterator[str]:
        chain, opts = self.chain, self.options
        t0 = time.perf_counter()
        lang = self._lang()
        timings: dict[str, float] = {}
        query, standalone = self.question, None
        if self.history:
            # A question that stands on its own is searched with its own words (no model call);
            # a follow-up with its referent from history (rag.followup).
            followup = chain.condense(self.history, self.question, lang)
            query, standalone = followup.question, followup.standalone
            self.standalone_question = standalone
            timings["rewrite"] = followup.seconds
        t1 = time.perf_counter()
        passages = chain.search.retrieve(
            query, top_k=opts.top_k, sources=opts.sources, hybrid=opts.hybrid
        )
        timings["retrieve"] = round(time.perf_counter() - t1, 3)
        # A threshold set for this call is a hard evidence gate; otherwise the embedder's
        # calibrated one is where rag.answerability measures the evidence from, and evidence
        # alone refuses only far below it.
        explicit = opts.relevance_threshold
        threshold = chain.abstain_below if explicit is None else explicit
        # The retrieval query, so a follow-up is judged with the topic it continues.
        evidence = chain.search.evidence(query, passages) if passages else 0.0
        if explicit is not None:
            gated = evidence < explicit
        else:
            gated = answerability.below_floor(evidence, threshold)
        if not passages or gated:
            refusal = prompts.REFUSAL[lang]
            yield refusal
            timings["total"] = round(time.perf_counter() - t0, 3)
            self.answer = Answer(
                question=self.question,
                answer=refusal,
                citations=[],
                passages=passages,
                abstained=True,
                evidence=evidence,
                timings=timings,
                language=lang,  # type: ignore[arg-type]
                standalone_question=standalone,
                answerability={
                    "evidence": round(evidence, 4),
                    "margin": round(evidence - threshold, 4),
                },
            )
            return
        llm = chain.chat_model
        passages = self._fit(passages, lang, llm)
        query_text = standalone or self.question
        messages = prompts.answer_messages(query_text, passages, lang)
        # The model's P(don't know) at the start of its turn, before the pre-start: read while it
        # generates when the backend takes a probe (which then writes the pre-start itself), else
        # from one forward pass of the prompt (rag.llm.scoring).
        replies = [prompts.DONT_KNOW_REPLY[lang]]
        plain = prompts.answer_messages(query_text, passages, lang, prestart=False)
        probe = scoring.probe_for(llm, replies, plain, messages)
        extra: dict[str, Any] = {}
        dont_know = None
        if probe is not None:
            messages, extra = plain, {"logits_processor": [probe]}
        else:
            dont_know = scoring.dont_know_probability(llm, plain, replies)
        pieces: list[str] = []
        shown = 0
        t2 = time.perf_counter()
        for chunk in llm.stream(messages, stop=prompts.STOP, **opts.sampling(), **extra):
            pieces.append(str(chunk.content))
            # The pre-start the probe made the model write is not shown (held until it is past).
            text = "".join(pieces)
            if probe is not None and probe.forced:
                if len(text) <= len(prompts.PREFILL[lang]) + 1:
                    continue
                text = prompts.strip_prefill(text, lang)
            new, shown = text[shown:], len(text)
            if not new:
                continue
            if "first_token" not in timings:
                timings["first_token"] = round(time.perf_counter() - t0, 3)
            yield new
        timings["generate"] = round(time.perf_counter() - t2, 3)
        raw = "".join(pieces)
        for stop in prompts.STOP:  # a stop string may have arrived split over two pieces
            raw = raw.split(stop)[0]
        raw = raw.strip()
        # Without the pre-start the answer reads as a sentence of its own: capitalised.
        raw = prompts.strip_prefill(raw, lang)
        # A sentence that only repeats the question states nothing (the 0.5B model opens with
        # the question now and then): it is not shown, cited or counted as unsupported.
        raw = prompts.drop_echoes(raw, self.question)
        if probe is not None:
            dont_know = probe.value
        # An answer that only repeats the question says nothing: a refusal, not an answer.
        model_refused = (
            not raw or prompts.is_refusal(raw) or prompts.echoes_question(raw, self.question)
        )
        attributed = attribute(
            "" if model_refused else raw, passages, chain.citation_threshold, question=query
        )
        sentences = attributed.supported + len(attributed.unsupported)
        # A sentence in another language than every passage, with no name or number to check,
        # cannot be judged by words: it counts neither way (rag.citations.judge).
        share = attributed.supported_share if sentences else 0.0
        decision = answerability.decide(
            evidence=evidence,
            threshold=threshold,
            dont_know=dont_know,
            supported=share,
            model_refused=model_refused,
            # A figure no passage states is an invented answer (rag.citations).
            unstated_numbers=not model_refused and bool(unstated_numbers(raw, passages, query)),
        )
        abstained = not decision.answer
        if abstained:
            attributed = attribute("", passages, chain.citation_threshold)
            text = prompts.REFUSAL[lang]
        else:
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
            standalone_question=standalone,
            answerability=decision.signals,
        )

    def _fit(self, passages: list[Passage], lang: str, llm: Any) -> list[Passage]:
        """Drop the lowest-ranked passages until prompt + answer fit the context window."""
        window = getattr(llm, "context_window", None)
        if window is None or not hasattr(llm, "render"):  # a plain LangChain chat model
            return list(passages)
        budget = window - int(self.options.max_new_tokens or llm.max_new_tokens)
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
