"""Refusal signals measured cheaply: one prompt read per question, no generation.

For a sample of the realistic set's questions (answerable and unanswerable; English, Chinese and
cross-language) this retrieves the passages with the real chain's search, then reads each
candidate model signal from the next-token distribution of the default model on llama.cpp:

- ``dont_know``: P(first token of "I don't know." / "我不知道。") at the free start of the
  answer turn (today's ``rag.llm.scoring`` signal, read by the real chain, which then answers:
  the answer's text and passages are kept so the support check can be refitted offline);
- ``yes``: P(yes) / (P(yes) + P(no)) after the question is followed by a yes/no check ("Does the
  context state the answer to the question? Answer yes or no."), in the question's language
  (``yes_native``) and in English for every question (``yes_en``).

All three prompts share the answer prompt's prefix (system, context, question), which llama.cpp
keeps in its slot: only the first read pays for the context. It prints each signal's AUC
(answerable vs unanswerable) per group and writes one JSON row per question; ``--fit`` then
grid-searches ``rag.answerability``'s policy on the English rows and reports it unchanged on
the others; ``--more`` reads two further signals on the rows already written::

    flock /tmp/kbqa-cpu.lock .venv/bin/python bench/refusals.py --store /tmp/refuse/store \\
        --limit 84 --out /tmp/refuse/signals.jsonl
    .venv/bin/python bench/refusals.py --report --fit --out /tmp/refuse/signals.jsonl

Measured 2026-11-30 (docs/evaluation.md, "Refusals from three signals"): the yes/no check does
not separate answerable from unanswerable questions with the 0.5B model (AUC 0.46).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import time
from pathlib import Path
from typing import Any

from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage

DATA = Path(__file__).parent / "data" / "realistic" / "questions.jsonl"

CHECK = {
    "en": "\n\nDoes the context state the answer to the question? Answer yes or no.",
    "zh": "\n\n上下文是否给出了这个问题的答案？只回答“是”或“否”。",
}
YES = {"en": ("yes", "Yes", " yes", " Yes", "YES"), "zh": ("是", " 是")}
NO = {"en": ("no", "No", " no", " No", "NO"), "zh": ("否", " 否", "不")}


def group(row: dict[str, Any]) -> str:
    # An unanswerable question counts under the language of the document it is about.
    doc = row.get("doc_lang") or (row.get("topic_source") or row["lang"]).split("/")[0]
    return row["lang"] if doc == row["lang"] else "cross"


def sample(rows: list[dict[str, Any]], limit: int, seed: int) -> list[dict[str, Any]]:
    """About ``limit`` questions, half unanswerable, spread over en / zh / cross."""
    rng = random.Random(seed)
    cells: dict[tuple[str, bool], list[dict[str, Any]]] = {}
    for row in rows:
        answerable = bool(row.get("answers"))
        cells.setdefault((group(row), answerable), []).append(row)
    per = max(1, limit // len(cells))
    for items in cells.values():
        rng.shuffle(items)
    # Round-robin over the cells, so a run stopped early is still balanced.
    out: list[dict[str, Any]] = []
    for i in range(per):
        out.extend(cells[key][i] for key in sorted(cells) if i < len(cells[key]))
    return out


def top_probs(llm: Any, prompt: str) -> dict[str, float]:
    """The first position's top candidates after ``prompt`` (piece -> probability)."""
    from rag.llm.scoring import TOP_PROBS, _llamacpp_candidates

    result = llm.server.handle_completions(
        {
            "prompt": prompt,
            "stream": False,
            "n_predict": 1,
            "temperature": 0.0,
            "n_probs": TOP_PROBS,
            "logprobs": TOP_PROBS,
            "cache_prompt": True,
        }
    )
    out: dict[str, float] = {}
    for c in _llamacpp_candidates(result if isinstance(result, dict) else {}) or []:
        piece = c.get("token") or c.get("tok_str") or ""
        p = math.exp(float(c["logprob"])) if "logprob" in c else float(c.get("prob", 0.0))
        out[piece] = out.get(piece, 0.0) + p
    return out


def yes_share(probs: dict[str, float], lang: str) -> tuple[float, float]:
    yes = sum(p for t, p in probs.items() if t in YES[lang])
    no = sum(p for t, p in probs.items() if t in NO[lang])
    return (yes / (yes + no) if yes + no > 0 else 0.5), yes + no


def check_messages(
    question: str, passages: list[Any], lang: str, check_lang: str
) -> list[BaseMessage]:
    from rag import prompts

    user = prompts.USER[lang].format(context=prompts.format_context(passages), question=question)
    return [SystemMessage(prompts.SYSTEM[lang]), HumanMessage(user + CHECK[check_lang])]


def auc(pos: list[float], neg: list[float]) -> float | None:
    """P(a random positive scores above a random negative), ties half."""
    if not pos or not neg:
        return None
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


def measure(args: argparse.Namespace) -> None:
    from rag import KnowledgeBase, prompts
    from rag.text import detect_language

    rows = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines() if line]
    chosen = sample(rows, args.limit, args.seed)
    kb = KnowledgeBase(kb=args.kb, persist_dir=args.store)
    llm = kb.llm
    threshold = kb.settings.abstain_below
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    done = set()
    if out.exists():
        done = {json.loads(line)["id"] for line in out.read_text().splitlines() if line}
    with out.open("a", encoding="utf-8") as fh:
        for i, row in enumerate(chosen):
            if row["id"] in done:
                continue
            q = row["question"]
            lang = detect_language(q)
            passages = kb.retrieve(q)
            evidence = kb.evidence(q, passages) if passages else 0.0
            t0 = time.perf_counter()
            native = top_probs(llm, llm.render(check_messages(q, passages, lang, lang)))
            t1 = time.perf_counter()
            yes_native, mass_native = yes_share(native, lang)
            if lang == "en":
                yes_en, mass_en = yes_native, mass_native
            else:
                yes_en, mass_en = yes_share(
                    top_probs(llm, llm.render(check_messages(q, passages, lang, "en"))), "en"
                )
            # The real chain after the check: its don't-know read and the answer reuse the
            # check's prompt prefix; the answer's text lets the support check be refitted offline.
            t2 = time.perf_counter()
            answer = kb.ask(q, max_new_tokens=args.max_new_tokens)
            t3 = time.perf_counter()
            signals = answer.answerability or {}
            record = {
                "id": row["id"],
                "group": group(row),
                "lang": lang,
                "question": q,
                "answerable": bool(row.get("answers")),
                "answers": row.get("answers"),
                "given_gold": any(p.source == row.get("gold_source") for p in passages),
                "evidence": round(evidence, 4),
                "margin": round(evidence - threshold, 4),
                "dont_know": signals.get("dont_know"),
                "supported": signals.get("supported"),
                "yes_native": round(yes_native, 4),
                "yes_native_mass": round(mass_native, 4),
                "yes_en": round(yes_en, 4),
                "yes_en_mass": round(mass_en, 4),
                "prompt_tokens": llm.count_tokens(
                    llm.render(prompts.answer_messages(q, passages, lang))
                ),
                "seconds_check": round(t1 - t0, 2),
                "seconds_check_en": round(t2 - t1, 2),
                "seconds_answer": round(t3 - t2, 2),
                "timings": answer.timings,
                "abstained": answer.abstained,
                "raw_answer": answer.raw_answer,
                "answer": answer.answer,
                "passages": [
                    {"n": p.n, "source": p.source, "text": p.text} for p in answer.passages
                ],
            }
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
            fh.flush()
            print(i, json.dumps(record, ensure_ascii=False), flush=True)


def report(path: str) -> None:
    rows = [json.loads(line) for line in Path(path).read_text().splitlines() if line]
    more_path = Path(path).with_suffix(".more.jsonl")
    if more_path.exists():
        extra = {
            json.loads(line)["id"]: json.loads(line)
            for line in more_path.read_text().splitlines()
            if line
        }
        rows = [{**r, **extra[r["id"]]} for r in rows if r["id"] in extra] or rows
    for r in rows:
        r["supported_now"] = supported_share(r)
    signals = {
        "supported": lambda r: 0.5 if r["supported_now"] is None else r["supported_now"],
        "margin": lambda r: r["margin"],
        "-dont_know": lambda r: -(r["dont_know"] or 0.0),
        "yes_native": lambda r: r["yes_native"],
        "yes_en": lambda r: r["yes_en"],
        "-dk_instruct": lambda r: -r.get("dk_instruct", 0.0),
        "verify": lambda r: r.get("verify") if r.get("verify") is not None else 0.5,
    }
    groups = ["all", "en", "zh", "cross"]
    print(f"{len(rows)} rows; AUC answerable vs unanswerable (n answerable / unanswerable)")
    print("signal".ljust(12) + "".join(g.rjust(18) for g in groups))
    for name, f in signals.items():
        cells = []
        for g in groups:
            sel = [r for r in rows if g == "all" or r["group"] == g]
            pos = [f(r) for r in sel if r["answerable"]]
            neg = [f(r) for r in sel if not r["answerable"]]
            a = auc(pos, neg)
            cells.append(f"{a:.3f} ({len(pos)}/{len(neg)})" if a is not None else "-")
        print(name.ljust(12) + "".join(c.rjust(18) for c in cells))


INSTRUCT = {
    "en": "\n\nIf the context does not answer the question, reply only: I don't know.",
    "zh": "\n\n如果上下文中没有答案，只回复：我不知道。",
}
VERIFY = {
    "en": "Is your answer stated in the context? Answer yes or no.",
    "zh": "你的回答是上下文中明确写出的吗？只回答“是”或“否”。",
}


def measure_more(args: argparse.Namespace) -> None:
    """Two more signals on the rows of ``--out`` (their passages and answers), per question:
    ``dk_instruct``: P(don't-know first token) when the don't-know instruction follows the
    question; ``verify``: the yes share when the model is asked, after its own answer, whether
    the context states it (read after generation: no cost to the first token)."""
    from langchain_core.messages import AIMessage

    from rag import KnowledgeBase, prompts
    from rag.types import Passage

    kb = KnowledgeBase(kb=args.kb, persist_dir=args.store)
    llm = kb.llm
    rows = [json.loads(line) for line in Path(args.out).read_text().splitlines() if line]
    more = Path(args.out).with_suffix(".more.jsonl")
    done = set()
    if more.exists():
        done = {json.loads(line)["id"] for line in more.read_text().splitlines() if line}
    with more.open("a", encoding="utf-8") as fh:
        for row in rows:
            if row["id"] in done:
                continue
            q, lang = row["question"], row["lang"]
            passages = [
                Passage(p["n"], str(p["n"]), p["source"], None, p["text"], 1.0)
                for p in row["passages"]
            ]
            user = prompts.USER[lang].format(context=prompts.format_context(passages), question=q)
            first = [prompts.DONT_KNOW_REPLY[lang][:1]]
            probs = top_probs(
                llm,
                llm.render(
                    [SystemMessage(prompts.SYSTEM[lang]), HumanMessage(user + INSTRUCT[lang])]
                ),
            )
            dk = sum(p for t, p in probs.items() if t.strip() in first)
            verify = None
            if row.get("raw_answer"):
                messages = [
                    SystemMessage(prompts.SYSTEM[lang]),
                    HumanMessage(user),
                    AIMessage(prompts.PREFILL[lang] + " " + row["raw_answer"]),
                    HumanMessage(VERIFY[lang]),
                ]
                verify = yes_share(top_probs(llm, llm.render(messages)), lang)[0]
            record = {"id": row["id"], "dk_instruct": round(dk, 4), "verify": verify}
            fh.write(json.dumps(record) + "\n")
            fh.flush()
            print(json.dumps(record), flush=True)


def supported_share(row: dict[str, Any]) -> float | None:
    """The share of the answer's sentences the citation check finds stated (today's code)."""
    from rag.citations import SUPPORTED, attribute
    from rag.types import Passage

    raw = row.get("raw_answer") or ""
    passages = [
        Passage(p["n"], str(p["n"]), p["source"], None, p["text"], 1.0) for p in row["passages"]
    ]
    result = attribute(raw, passages, SUPPORTED, question=row["question"])
    sentences = result.supported + len(result.unsupported)
    return result.supported_share if sentences else 0.0


UNSTATED = True  # refuse an answer with a number no passage states (as the chain does)


def refused(row: dict[str, Any], policy: Any) -> bool:
    from rag import answerability, prompts

    raw = row.get("raw_answer")
    if raw is None:  # refused before the model
        return True
    from rag.citations import unstated_numbers
    from rag.types import Passage

    passages = [
        Passage(p["n"], str(p["n"]), p["source"], None, p["text"], 1.0) for p in row["passages"]
    ]
    model_refused = (
        not raw or prompts.is_refusal(raw) or prompts.echoes_question(raw, row["question"])
    )
    decision = answerability.decide(
        evidence=row["evidence"],
        threshold=row["evidence"] - row["margin"],
        dont_know=row["dont_know"],
        supported=row["supported_now"],
        model_refused=model_refused,
        unstated_numbers=UNSTATED and bool(unstated_numbers(raw, passages, row["question"])),
        policy=policy,
    )
    return not decision.answer


def rates(rows: list[dict[str, Any]], policy: Any) -> tuple[float, float]:
    ans = [refused(r, policy) for r in rows if r["answerable"]]
    una = [refused(r, policy) for r in rows if not r["answerable"]]
    return sum(ans) / max(1, len(ans)), sum(una) / max(1, len(una))


def fit(path: str, fit_group: str = "en") -> None:
    """Grid-search the policy on one group's rows; report it unchanged on the others."""
    import dataclasses
    import itertools

    from rag.answerability import POLICY

    rows = [json.loads(line) for line in Path(path).read_text().splitlines() if line]
    for r in rows:
        r["supported_now"] = supported_share(r)
    groups = ["en", "zh", "cross", "all"]

    def show(name: str, policy: Any) -> None:
        cells = []
        for g in groups:
            sel = [r for r in rows if g == "all" or r["group"] == g]
            a, u = rates(sel, policy)
            cells.append(f"{a:.2f}/{u:.2f}")
        print(name.ljust(34) + "".join(c.rjust(12) for c in cells))

    print("answerable refused / unanswerable refused; fitted on", fit_group)
    print("policy".ljust(34) + "".join(g.rjust(12) for g in groups))
    show("today's POLICY", POLICY)
    train = [r for r in rows if r["group"] == fit_group]
    best: tuple[Any, ...] | None = None
    grid = itertools.product(
        (0.0, 1.0, 2.0, 4.0, 6.0, 8.0),
        (0.0, 1.0, 2.0, 3.0),
        (0.0, 1.0, 2.0),
        [x / 8 for x in range(-24, 17)],
    )
    for wm, ws, wd, bias in grid:
        policy = dataclasses.replace(POLICY, w_margin=wm, w_supported=ws, w_dont_know=wd, bias=bias)
        a, u = rates(train, policy)
        if a > 0.10:
            continue
        # Most unanswerable refused, then fewest answerable; then the widest margin of bias.
        key = (u, -a)
        if best is None or key > best[0]:
            best = (key, [policy])
        elif key == best[0]:
            best[1].append(policy)
    if best is not None:
        print(f"{len(best[1])} policies tie on the fit set; the first few:")
        for p in best[1][:8]:
            show(f"m{p.w_margin:g} s{p.w_supported:g} d{p.w_dont_know:g} b{p.bias:g}", p)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--store", default="/tmp/refuse/store")
    parser.add_argument("--kb", default="eval-realistic")
    parser.add_argument("--limit", type=int, default=80)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="/tmp/refuse/signals.jsonl")
    parser.add_argument("--max-new-tokens", type=int, default=120)
    parser.add_argument("--report", action="store_true", help="only print the AUCs of --out")
    parser.add_argument("--fit", action="store_true", help="and fit the policy on English rows")
    parser.add_argument("--more", action="store_true", help="two more signals on --out's rows")
    args = parser.parse_args()
    if args.more:
        measure_more(args)
    elif not args.report:
        measure(args)
    report(args.out)
    if args.fit:
        fit(args.out)


if __name__ == "__main__":
    main()
