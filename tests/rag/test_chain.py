"""The answering chain alone, from a fake passage search and LangChain's fake chat models.

No weights, no store: ``AnswerChain`` takes its parts in its constructor (issue 14), so each test
runs in milliseconds and fails only for the chain's own logic.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from langchain_core.language_models import GenericFakeChatModel
from langchain_core.messages import AIMessageChunk
from langchain_core.outputs import ChatGenerationChunk

from rag import prompts
from rag.chain import AnswerChain
from rag.errors import QuestionError
from rag.options import AskOptions
from rag.types import Passage

JUPITER = Passage(1, "c1", "solar.md", 2, "Jupiter is the largest planet in the Solar System.", 0.9)
YEAST = Passage(2, "c2", "baking.txt", None, "Sourdough bread rises because yeast makes gas.", 0.8)


class FakeSearch:
    """Returns fixed passages and a fixed evidence score; remembers what it was asked."""

    def __init__(self, passages: Sequence[Passage], evidence: float = 1.0) -> None:
        self.passages = list(passages)
        self.score = evidence
        self.calls: list[dict[str, Any]] = []

    def retrieve(self, query, *, top_k=None, sources=None, hybrid=None) -> list[Passage]:
        self.calls.append({"query": query, "top_k": top_k, "sources": sources, "hybrid": hybrid})
        return list(self.passages[: top_k or None])

    def evidence(self, question: str, passages: Sequence[Passage]) -> float:
        return self.score


class RecordingChat(GenericFakeChatModel):
    """GenericFakeChatModel that records each call's keyword arguments and prompt."""

    calls: list[dict[str, Any]] = []

    def _stream(self, messages, stop=None, run_manager=None, **kwargs) -> Iterator[Any]:
        self.calls.append({"messages": messages, "stop": stop, **kwargs})
        yield from super()._stream(messages, stop, run_manager, **kwargs)


class SlowChat(GenericFakeChatModel):
    """Streams its pieces ``delay`` seconds apart, like a model generating token by token."""

    delay: float = 0.05
    pieces: list[str] = []

    def _stream(self, messages, stop=None, run_manager=None, **kwargs) -> Iterator[Any]:
        for piece in self.pieces:
            time.sleep(self.delay)
            yield ChatGenerationChunk(message=AIMessageChunk(content=piece))


def chat(*replies: str, cls: type = GenericFakeChatModel) -> Any:
    return cls(messages=iter(replies))


def never_loaded() -> Any:
    raise AssertionError("the chat model was loaded although the chain abstains without it")


def test_answer_is_cited_to_the_passage_that_supports_it():
    chain = AnswerChain(FakeSearch([JUPITER, YEAST]), chat("Jupiter is the largest planet [2]."))
    answer = chain.ask("Which planet is the largest?")
    assert not answer.abstained
    assert [(c.n, c.source, c.page) for c in answer.citations] == [(1, "solar.md", 2)]
    assert "[1]" in answer.answer and "[2]" not in answer.answer  # the model's marker is checked
    assert answer.raw_answer == "Jupiter is the largest planet [2]."


def test_weak_evidence_abstains_without_loading_the_model():
    chain = AnswerChain(FakeSearch([JUPITER], evidence=0.1), never_loaded, abstain_below=0.5)
    answer = chain.ask("What is the boiling point of nitrogen?")
    assert answer.abstained and answer.answer == prompts.REFUSAL["en"]
    assert answer.citations == [] and answer.passages == [JUPITER]


def test_no_passages_abstains_in_the_question_language():
    answer = AnswerChain(FakeSearch([]), never_loaded).ask("量子计算机的工作温度是多少？")
    assert answer.abstained and answer.answer == prompts.REFUSAL["zh"]


def test_relevance_threshold_option_overrides_the_setting():
    search = FakeSearch([JUPITER], evidence=0.6)
    lenient = AnswerChain(search, chat("Jupiter is the largest planet."), abstain_below=0.5)
    assert not lenient.ask("Largest planet?").abstained
    strict = AnswerChain(search, never_loaded, abstain_below=0.5)
    assert strict.ask("Largest planet?", options=AskOptions(relevance_threshold=0.9)).abstained


def test_model_refusal_is_an_abstention():
    chain = AnswerChain(FakeSearch([JUPITER]), chat("I don't know."))
    answer = chain.ask("Which moon is the largest?")
    assert answer.abstained and answer.answer == prompts.REFUSAL["en"]


def test_options_reach_the_search_and_the_model():
    search = FakeSearch([JUPITER, YEAST])
    model = chat("Jupiter is the largest planet.", cls=RecordingChat)
    model.calls = []
    options = AskOptions(top_k=1, sources=("solar.md",), hybrid=False, temperature=0.7, top_p=0.5)
    AnswerChain(search, model).ask("Largest planet?", options=options)
    assert search.calls == [
        {"query": "Largest planet?", "top_k": 1, "sources": ("solar.md",), "hybrid": False}
    ]
    (call,) = model.calls
    assert call["temperature"] == 0.7 and call["top_p"] == 0.5
    assert "max_new_tokens" not in call  # unset knobs are left to the model's own settings
    assert call["stop"] == prompts.STOP


def test_answer_language_option_forces_the_language():
    chain = AnswerChain(FakeSearch([]), never_loaded)
    answer = chain.ask("Which planet is the largest?", options=AskOptions(answer_language="zh"))
    assert answer.language == "zh" and answer.answer == prompts.REFUSAL["zh"]


def test_follow_up_is_retrieved_with_the_condensed_question():
    """The follow-up's rewrite (its pronoun replaced by the earlier subject, no model call) is
    what retrieval searches with; more cases in tests/rag/test_followup.py."""
    search = FakeSearch([YEAST])
    model = chat("Yeast makes gas, so the bread rises.")  # one reply: the answer, no rewrite
    history = [("user", "How do I bake sourdough bread?"), ("assistant", "Mix, proof, bake.")]
    answer = AnswerChain(search, model).ask("And why does it rise?", history=history)
    query = search.calls[0]["query"]
    assert query == "Why does sourdough bread rise?"
    assert answer.standalone_question == query and "rewrite" in answer.timings
    assert not answer.abstained


def test_without_history_nothing_is_condensed():
    search = FakeSearch([YEAST])
    answer = AnswerChain(search, chat("Yeast makes gas.")).ask("Why does bread rise?")
    assert search.calls[0]["query"] == "Why does bread rise?"
    assert answer.standalone_question is None and "rewrite" not in answer.timings


def test_stream_yields_pieces_as_they_are_generated():
    model = SlowChat(messages=iter([]), pieces=["Jupiter ", "is ", "the ", "largest", "."])
    stream = AnswerChain(FakeSearch([JUPITER]), model).stream("Which planet is the largest?")
    started = time.perf_counter()
    first = next(stream)
    first_at = time.perf_counter() - started
    rest = list(stream)
    total = time.perf_counter() - started
    assert first == "Jupiter " and "".join([first, *rest]) == "Jupiter is the largest."
    assert first_at < total / 2  # the first piece arrived long before the last
    answer = stream.answer
    assert answer is not None and answer.timings["first_token"] < answer.timings["total"]


def test_stop_string_split_over_pieces_is_cut():
    model = SlowChat(messages=iter([]), delay=0.0, pieces=["Jupiter is largest.\nQues", "tion: x"])
    answer = AnswerChain(FakeSearch([JUPITER]), model).ask("Largest planet?")
    assert answer.raw_answer == "Jupiter is largest."


@pytest.mark.parametrize("question", ["", "   ", None, "x" * 2001])
def test_unusable_question_is_refused_before_anything_runs(question):
    with pytest.raises(QuestionError):
        AnswerChain(FakeSearch([JUPITER]), never_loaded).stream(question)


def test_a_sentence_repeating_the_question_is_dropped_from_the_answer():
    # Realistic set q298: the 0.5B model opened its answer with the question itself.
    question = "Which planet is the largest planet in the Solar System?"
    answer = AnswerChain(
        FakeSearch([JUPITER]), chat(f"{question} Jupiter is the largest planet.")
    ).ask(question)
    assert answer.answer == "Jupiter is the largest planet[1]."
    assert answer.unsupported_sentences == [] and not answer.abstained
    # An answer that is only the question is a refusal (realistic q220 was kept otherwise).
    only = AnswerChain(FakeSearch([JUPITER]), chat(question)).ask(question)
    assert only.abstained and only.answer == prompts.REFUSAL["en"] and only.citations == []
