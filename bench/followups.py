"""Conversation turns of a dev-set folder ranked with different follow-up queries, on one store.

Retrieval only, like ``kbqa eval --no-generate``, but every variant is scored on the same
knowledge base, so the comparison isolates the query. Build the store first:

    kbqa eval bench/data/realistic --no-generate --out /tmp/follow-rules
    python bench/followups.py /tmp/follow-rules own last rules [model]
    python bench/followups.py /tmp/conv/base --persist-dir /tmp/conv/store --turns own rules

Variants: ``own`` (the turn's own words), ``last`` (own words + the last user question: the old
chain's query without its rewrite), ``rules`` (rag.followup's rule rewrite, the default),
``model`` (rag.followup with the chat model for every follow-up, validated; loads the
generator), ``oracle`` (a hand-written standalone question per follow-up
from ``--oracle FILE``, a JSON object {turn question: standalone question}: a diagnostic only,
to tell a rewrite's misses from retrieval's: a turn the oracle misses too is retrieval's).
``base`` is the rule rewrite of another commit's rag/followup.py (``--base FILE``, e.g.
``git show bf2fc34:rag/followup.py > /tmp/old_followup.py``), searched with its own words only.
``--turns`` prints every turn some variant misses, with the gold passage's rank under each.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
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
    parser.add_argument("--persist-dir", help="the store, when not OUT/store")
    parser.add_argument("--oracle", help="JSON {turn question: hand-written standalone question}")
    parser.add_argument("--base", help="another commit's rag/followup.py, for variant 'base'")
    parser.add_argument("--turns", action="store_true", help="print the turns a variant misses")
    args = parser.parse_args()
    ds = load_dataset(Path(args.dataset))
    kb = KnowledgeBase(eval_settings(args.dataset, args.out, persist_dir=args.persist_dir))
    depth = max(kb.settings.top_k, harness.MIN_RETRIEVAL_DEPTH)
    oracle = json.loads(Path(args.oracle).read_text("utf-8")) if args.oracle else {}
    model_seconds: list[float] = []
    rejected = 0

    def own(q, h, mode="rules"):
        return FollowUp(q, False, "none")

    def last(q, h, mode="rules"):
        prev = next((t for r, t in reversed(h) if r == "user"), "")
        return FollowUp(f"{q} {prev}".strip(), bool(prev), "last")

    def by_oracle(q, h, mode="rules"):
        return FollowUp(oracle[q], True, "oracle") if h and q in oracle else own(q, h)

    def model(q, h, mode="rules"):
        nonlocal rejected
        r = resolve(q, h, kb.llm, mode="model")
        if r.model_calls:
            model_seconds.append(r.seconds)
            rejected += r.method == "rules-fallback"
            print(f"  {r.method:15s} {q!r} -> {r.question!r} ({r.seconds:.1f} s)", flush=True)
        return r

    def rules(q, h, mode="rules"):
        return resolve(q, h)

    old = None
    if args.base:
        spec = importlib.util.spec_from_file_location("base_followup", args.base)
        old = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
        sys.modules[spec.name] = old  # type: ignore[union-attr]  # dataclasses look it up
        spec.loader.exec_module(old)  # type: ignore[union-attr]

    def base(q, h, mode="rules"):
        r = old.resolve(q, h, mode="rules")
        return FollowUp(r.question, r.rewritten, "base")

    variants = {
        "own": own,
        "last": last,
        "rules": rules,
        "model": model,
        "oracle": by_oracle,
        "base": base,
    }
    ranks: dict[str, dict[str, int | None]] = {}
    turns: dict[str, tuple[str, str]] = {}
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
        for r in rows:
            if r.given_gold is not None:
                key = f"{r.conversation} t{r.turn}"
                given = r.hit_rank if r.given_gold else None
                ranks.setdefault(key, {})[name] = given or (-(r.hit_rank or 0))
                if name == "rules" or key not in turns:
                    turns[key] = (r.question, r.standalone_question or "")
    if args.turns:
        # A rank > 0 is given to the model; -n: ranked n but not given; 0: not in the ranking.
        print("\nturns some variant does not give the model (rank per variant):")
        for key, by_variant in ranks.items():
            if all(v > 0 for v in by_variant.values()):
                continue
            question, searched = turns[key]
            cells = " ".join(f"{n}={by_variant.get(n)}" for n in args.variants)
            print(f"{key:8s} {cells}\n   {question!r}" + (f" -> {searched!r}" if searched else ""))
    if model_seconds:
        mean = sum(model_seconds) / len(model_seconds)
        print(
            f"model rewrites: {len(model_seconds)} calls, mean {mean:.2f} s, "
            f"max {max(model_seconds):.2f} s, rejected by validation {rejected}"
        )


if __name__ == "__main__":
    main()
