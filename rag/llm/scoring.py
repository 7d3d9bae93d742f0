"""The model's own probability of saying it does not know, read from one forward pass.

At the first position the model writes, the probability mass of the prompt's exact don't-know
reply's first token ("I" of "I don't know.", "我" of "我不知道。") against everything else is the
model's own estimate that the context does not answer the question (rag.answerability combines
it with retrieval evidence and citation support).

The position read is the assistant turn's very start, where the model is free to write the
don't-know reply: after a pre-started turn ("According to the context,") the 0.5B model gives it
almost no probability (0.000-0.008 on 12 questions) and answers everything; at the free start it
gave 0.12-0.38. Generation itself still wants the pre-start (without it the model answered
"I don't know." to 2 of 6 answerable questions), so the probe forces the pre-start's tokens after
reading the first position: one prompt read gives both.

Three ways to read it, cheapest first:
- ``FirstStepProbe``: a transformers ``LogitsProcessor`` handed to ``generate``; it records the
  first step's distribution, then forces the pre-start's tokens, while the answer is generated
  (no extra prompt read). Used when the backend passes a per-call ``logits_processor`` on
  (``accepts_logits_processor``).
- ``dont_know_probability`` for transformers: one forward pass of the same rendered prompt.
- ``dont_know_probability`` for llama.cpp: one completion of one token with ``n_probs``.
A backend with none of these (an OpenAI-compatible server, a test's fake) gives ``None``: the
signal is missing and the decision uses the others.
"""

from __future__ import annotations

import math
from typing import Any

from langchain_core.messages import BaseMessage

TOP_PROBS = 20  # llama.cpp: candidates returned for the first position


def _first_token_ids(tokenizer: Any, replies: list[str]) -> list[int]:
    """The distinct first tokens with which the model could start any of ``replies``."""
    ids: set[int] = set()
    for reply in replies:
        for variant in (reply, " " + reply):
            encoded = tokenizer(variant, add_special_tokens=False)["input_ids"]
            if encoded:
                ids.add(int(encoded[0]))
    return sorted(ids)


class FirstStepProbe:
    """A ``LogitsProcessor`` that records P(don't-know first token) at the first new position,
    then forces ``forced`` (the pre-start's token ids) as the first tokens written.

    Pass it as ``logits_processor=[probe]`` to a backend that accepts one; ``probe.value`` holds
    the probability once the first token is chosen. Without ``forced`` it never changes scores.
    """

    def __init__(self, tokenizer: Any, replies: list[str], forced: list[int] | None = None) -> None:
        self.token_ids = _first_token_ids(tokenizer, replies)
        self.forced = list(forced or [])
        self.value: float | None = None
        self.step = 0

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        if self.value is None:
            self.value = _mass(scores[0], self.token_ids)
        if self.step < len(self.forced):
            token = self.forced[self.step]
            kept = scores[:, token].clone()
            scores[:, :] = float("-inf")
            scores[:, token] = kept
        self.step += 1
        return scores


def _mass(logits: Any, token_ids: list[int]) -> float:
    import torch

    probs = torch.softmax(logits.float(), dim=-1)
    return float(probs[token_ids].sum())


def probe_for(
    llm: Any,
    replies: list[str],
    plain: list[BaseMessage] | None = None,
    prestarted: list[BaseMessage] | None = None,
) -> FirstStepProbe | None:
    """A probe to read during generation, when ``llm`` takes one (kbqa's transformers backend).

    ``plain``/``prestarted``: the prompt without and with the pre-started assistant turn; the
    probe forces the tokens by which the second extends the first. ``None`` when ``llm`` takes no
    probe, or when the pre-start is not a clean token extension (then generate with
    ``prestarted`` and read the signal with ``dont_know_probability(llm, plain, ...)``).
    """
    if not (getattr(llm, "accepts_logits_processor", False) and hasattr(llm, "tokenizer")):
        return None
    forced: list[int] = []
    if plain is not None and prestarted is not None and hasattr(llm, "render"):
        ids = _ids(llm, llm.render(plain))
        longer = _ids(llm, llm.render(prestarted))
        if longer[: len(ids)] != ids:
            return None
        forced = longer[len(ids) :]
    return FirstStepProbe(llm.tokenizer, replies, forced)


def _ids(llm: Any, text: str) -> list[int]:
    return [int(i) for i in llm.tokenizer(text, add_special_tokens=False)["input_ids"]]


def dont_know_probability(
    llm: Any, messages: list[BaseMessage], replies: list[str]
) -> float | None:
    """P(the first token of a don't-know reply) after the prompt, from one forward pass.

    ``None`` when the backend cannot tell (no local weights, no token probabilities).
    """
    if hasattr(llm, "hf_model") and hasattr(llm, "tokenizer"):
        return _transformers(llm, messages, replies)
    if hasattr(llm, "server") and hasattr(llm, "render"):
        return _llamacpp(llm, messages, replies)
    return None


def _transformers(llm: Any, messages: list[BaseMessage], replies: list[str]) -> float:
    import torch

    prompt = llm.render(messages)
    inputs = llm.tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
    with torch.inference_mode():
        out = llm.hf_model(**inputs, logits_to_keep=1)
    return _mass(out.logits[0, -1], _first_token_ids(llm.tokenizer, replies))


def _llamacpp(llm: Any, messages: list[BaseMessage], replies: list[str]) -> float | None:
    request = {
        "prompt": llm.render(messages),
        "stream": False,
        "n_predict": 1,
        "temperature": 0.0,
        "n_probs": TOP_PROBS,  # llama.cpp's own completion format
        "logprobs": TOP_PROBS,  # the OpenAI completion format
        # Keep the prompt's KV in the engine's slot: the answer's request (this prompt plus the
        # pre-start, cache_prompt on) then reads only the pre-start, not the prompt again.
        "cache_prompt": True,
    }
    result = llm.server.handle_completions(request)
    candidates = _llamacpp_candidates(result if isinstance(result, dict) else {})
    if candidates is None:
        return None
    firsts = _llamacpp_first_tokens(llm, replies)
    total = 0.0
    for candidate in candidates:
        piece = candidate.get("token") or candidate.get("tok_str") or ""
        if piece in firsts:
            if "logprob" in candidate:
                total += math.exp(float(candidate["logprob"]))
            else:
                total += float(candidate.get("prob", 0.0))
    return total


def _llamacpp_candidates(result: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The first position's top candidates in either of llama.cpp's answer formats."""
    choice = (result.get("choices") or [{}])[0]
    content = (choice.get("logprobs") or {}).get("content") or []
    if content:
        return list(content[0].get("top_logprobs") or [])
    entries = result.get("completion_probabilities") or []
    if entries:
        return list(entries[0].get("top_logprobs") or entries[0].get("probs") or [])
    return None


def _llamacpp_first_tokens(llm: Any, replies: list[str]) -> set[str]:
    pieces: set[str] = set()
    for reply in replies:
        for variant in (reply, " " + reply):
            tokens = llm._call(
                "/tokenize", {"content": variant, "add_special": False, "with_pieces": True}
            )["tokens"]
            if tokens and isinstance(tokens[0], dict):
                pieces.add(str(tokens[0].get("piece", "")))
    return pieces
