"""Conversation turns of a dev-set folder ranked with different follow-up queries, on one store.

Retrieval only, like ``kbqa eval --no-generate``, but every variant is scored on the same
knowledge base, so the comparison isolates the query. Build the store first:

    kbqa eval bench/data/realistic --no-generate --out /tmp/follow-rules
    python bench/followups.py /tmp/follow-rules own last rules [model]

Variants: ``own`` (the turn's own words), ``last`` (own words + the last user question: the old
chain's query without its rewrite), ``rules`` (rag.followup's rule rewrite, the default), ``model``
(rag.followup with the chat model for every follow-up, validated; loads the generator).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import rag.eval.harness as harness
from rag.eval.datasets import load_dataset
from rag.eval.naming import eval_settings
from rag.followup import FollowUp, resolve
from rag.kb import KnowledgeBase


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", help="an eval output folder whose store/ holds the dev set")
    parser.add_argument("variants", nargs="*", default=["own", "last", "rules"])
    parser.add_argument("--dataset", default="bench/data/realistic")
    args = parser.parse_args()
    ds = load_dataset(Path(args.dataset))
    kb = KnowledgeBase(eval_settings(args.dataset, args.out))
    depth = max(kb.settings.top_k, harness.MIN_RETRIEVAL_DEPTH)
    model_seconds: list[float] = []
    rejected = 0

    def own(q, h, mode="rules"):
        return FollowUp(q, False, "none")

    def last(q, h, mode="rules"):
        prev = next((t for r, t in reversed(h) if r == "user"), "")
        return FollowUp(f"{q} {prev}".strip(), bool(prev), "last")

    def model(q, h, mode="rules"):
        nonlocal rejected
        r = resolve(q, h, kb.llm, mode="model")
        if r.model_calls:
            model_seconds.append(r.seconds)
            rejected += r.method == "rules-fallback"
            print(f"  {r.method:15s} {q!r} -> {r.question!r} ({r.seconds:.1f} s)", flush=True)
        return r

    variants = {"own": own, "last": last, "rules": lambda q, h, mode="rules": resolve(q, h)}
    variants["model"] = model
    for name in args.variants:
        # The harness ranks a no-generate turn with rag.followup.resolve; swap in the variant.
        harness.resolve_followup = variants[name]  # type: ignore[assignment]
        started = time.perf_counter()
        rows = []
        for conversation in ds.conversations:
            rows += harness._ask_conversation(kb, conversation, depth=depth, generate=False)
        result = {}
        for kind in ("follow-up", "topic-switch", None):
            scored = [r for r in rows if kind in (None, r.kind) and r.given_gold is not None]
            later = [r for r in scored if r.turn and r.turn > 1]
            result[kind or "all"] = {
                "given": round(sum(bool(r.given_gold) for r in scored) / len(scored), 3),
                "turns": len(scored),
                "later_given": sum(bool(r.given_gold) for r in later),
                "later": len(later),
            }
        seconds = time.perf_counter() - started
        print(name, json.dumps(result), f"{seconds:.1f} s", flush=True)
    if model_seconds:
        mean = sum(model_seconds) / len(model_seconds)
        print(
            f"model rewrites: {len(model_seconds)} calls, mean {mean:.2f} s, "
            f"max {max(model_seconds):.2f} s, rejected by validation {rejected}"
        )


if __name__ == "__main__":
    main()
