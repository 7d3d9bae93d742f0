"""Refusals from three signals (rag.answerability, rag.llm.scoring, the chain's wiring)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, ClassVar

import pytest
from langchain_core.language_models import GenericFakeChatModel

from rag import prompts
from rag.answerability import POLICY, decide
from rag.chain import AnswerChain
from rag.types import Passage

POLICY_PASSAGE = Passage(
    1,
    "c1",
    "travel.md",
    None,
    "Economy class is required for flights under six hours. Receipts must be uploaded within"
    " 45 days.",
    0.9,
)
THRESHOLD = 0.52  # an embedder's calibrated evidence threshold


def test_high_dont_know_probability_refuses_even_with_good_evidence():
    decision = decide(evidence=0.75, threshold=THRESHOLD, dont_know=0.9, supported=1.0)
    assert not decision.answer
    assert decision.signals["dont_know"] == 0.9 and decision.signals["evidence"] == 0.75


def test_middling_evidence_answers_when_the_model_is_confident_and_supported():
    # Below the embedder's threshold, which alone used to refuse.
    decision = decide(evidence=THRESHOLD - 0.08, threshold=THRESHOLD, dont_know=0.01, supported=1.0)
    assert decision.answer
    # The same evidence with unsupported sentences and a hesitant model is refused.
    assert not decide(
        evidence=THRESHOLD - 0.08, threshold=THRESHOLD, dont_know=0.5, supported=0.0
    ).answer


def test_evidence_far_below_the_threshold_refuses_whatever_the_model_says():
    low = THRESHOLD - POLICY.floor - 0.01
    assert not decide(evidence=low, threshold=THRESHOLD, dont_know=0.0, supported=1.0).answer


class FakeTokenizer:
    """Token ids for the probe: "I" is token 7, "我" token 8; anything else token 1."""

    def __call__(self, text: str, add_special_tokens: bool = False) -> dict[str, list[int]]:
        first = text.strip()[:1]
        return {"input_ids": [7 if first == "I" else 8 if first == "我" else 1, 2, 3]}


class ProbedChat(GenericFakeChatModel):
    """A fake backend that takes a first-step probe, as kbqa's transformers backend does: it
    shows the probe a first-position distribution putting ``dont_know`` on token 7."""

    accepts_logits_processor: ClassVar[bool] = True
    tokenizer: Any = FakeTokenizer()
    dont_know: float = 0.0

    def _stream(self, messages, stop=None, run_manager=None, **kwargs) -> Iterator[Any]:
        import torch

        probs = torch.full((1, 10), (1.0 - self.dont_know) / 9)
        probs[0, 7] = self.dont_know
        for processor in kwargs.get("logits_processor") or []:
            processor(None, torch.log(probs))
        yield from super()._stream(messages, stop, run_manager, **kwargs)


class FixedSearch:
    def __init__(self, passages: Sequence[Passage], evidence: float) -> None:
        self.passages, self.score = list(passages), evidence

    def retrieve(self, query, *, top_k=None, sources=None, hybrid=None) -> list[Passage]:
        return list(self.passages)

    def evidence(self, question: str, passages: Sequence[Passage]) -> float:
        return self.score


def ask(answer: str, *, evidence: float, dont_know: float, question: str) -> Any:
    model = ProbedChat(messages=iter([answer]), dont_know=dont_know)
    chain = AnswerChain(
        FixedSearch([POLICY_PASSAGE], evidence),
        model,
        abstain_below=THRESHOLD,
        citation_threshold=0.8,
    )
    return chain.ask(question)


def test_chain_refuses_an_invented_answer_the_model_doubted():
    answer = ask(
        "The parental leave policy is required for flights under six hours.",
        evidence=0.70,
        dont_know=0.85,
        question="How long is parental leave?",
    )
    assert answer.abstained and answer.answer == prompts.REFUSAL["en"]
    assert answer.answerability["dont_know"] == pytest.approx(0.85, abs=1e-3)
    assert answer.answerability["supported"] == 0.0 and answer.citations == []


def test_chain_answers_a_supported_confident_answer_below_the_old_gate():
    answer = ask(
        "Receipts must be uploaded within 45 days.",
        evidence=THRESHOLD - 0.08,
        dont_know=0.01,
        question="Within how many days do I have to submit my travel receipts?",
    )
    assert not answer.abstained
    assert answer.answer == "Receipts must be uploaded within 45 days[1]."
    assert answer.answerability["supported"] == 1.0
    assert answer.answerability["dont_know"] == pytest.approx(0.01, abs=1e-3)


PORT = Passage(
    1,
    "c1",
    "runtime-config-connection.html",
    None,
    "port (integer) The TCP port the server listens on; 5432 by default. Note that the same port"
    " number is used for all IP addresses the server listens on. This parameter can only be set"
    " at server start.",
    1.0,
)


@pytest.mark.slow
def test_real_model_doubts_an_unanswerable_question_more_than_an_answerable_one():
    """The packaged Qwen 0.5B on the default backend, one passage: P(first token of "I don't
    know.") is higher for a question the passage does not answer (one forward pass; and, on a
    backend that takes a probe, also read during generation)."""
    from rag.llm import load_chat_model, scoring
    from rag.settings import Settings
    from tests.conftest import MODEL_CACHE

    llm = load_chat_model(Settings(model_cache_dir=MODEL_CACHE))
    replies = [prompts.DONT_KNOW_REPLY["en"]]

    def doubt(question: str) -> float:
        plain = prompts.answer_messages(question, [PORT], "en", prestart=False)
        once = scoring.dont_know_probability(llm, plain, replies)
        assert once is not None
        probe = scoring.probe_for(llm, replies)
        if probe is not None:  # the transformers backend: the same number during generation
            llm.invoke(plain, max_new_tokens=1, temperature=0.0, logits_processor=[probe])
            assert probe.value == pytest.approx(once, abs=0.05)
        return once

    answerable = doubt("Which TCP port does the PostgreSQL server listen on by default?")
    unanswerable = doubt("What is the maximum length of a PostgreSQL database name?")
    assert unanswerable > answerable + 0.1, (answerable, unanswerable)


def test_probe_reads_the_first_position_then_forces_the_prestart():
    import torch

    from rag.llm.scoring import FirstStepProbe

    probe = FirstStepProbe(FakeTokenizer(), ["I don't know."], forced=[4, 5])
    first = torch.log(torch.tensor([[0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.3]]))
    assert int(probe(None, first.clone()).argmax()) == 4  # the pre-start, not the likeliest
    assert probe.value == pytest.approx(0.3)  # P("I") before forcing
    assert int(probe(None, first.clone()).argmax()) == 5
    assert int(probe(None, first.clone()).argmax()) == 7  # then the model is free again
    assert probe.value == pytest.approx(0.3)


def test_an_answer_that_cannot_be_judged_across_languages_counts_neither_way():
    # A Chinese answer over an English passage with no name or number to check: support is
    # unknown, not 0 (which refused correct cross-language answers whose evidence was middling).
    answer = ask(
        "报销单据需要尽快上传。",
        evidence=THRESHOLD - 0.12,
        dont_know=0.0,
        question="报销单据多久之内要上传？",
    )
    assert not answer.abstained, answer.answerability
    assert answer.answerability["supported"] == POLICY.supported_missing
    # The same answer judged unsupported would have been refused.
    assert not decide(
        evidence=THRESHOLD - 0.12, threshold=THRESHOLD, dont_know=0.0, supported=0.0
    ).answer


def test_an_answer_with_a_number_no_passage_states_is_refused():
    # The 0.5B model's typical answer to what the documents do not say: an invented figure
    # ("The tzdata package is updated on PyPI every 6 months."), worded like the passage.
    invented = ask(
        "Receipts must be uploaded within 30 days.",
        evidence=0.75,
        dont_know=0.01,
        question="Within how many days do I have to submit my travel receipts?",
    )
    assert invented.abstained and invented.answer == prompts.REFUSAL["en"]
    assert invented.answerability["unstated_numbers"] == 1.0
    stated = ask(
        "Receipts must be uploaded within 45 days.",
        evidence=0.75,
        dont_know=0.01,
        question="Within how many days do I have to submit my travel receipts?",
    )
    assert not stated.abstained and stated.answerability["unstated_numbers"] == 0.0
