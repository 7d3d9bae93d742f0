"""The model ladder in one run: each generator on each in-process backend, measured alike.

    python bench/ladder.py [--models qwen2.5-coder-0.5b qwen2.5-coder-1.5b]
                           [--backends transformers llamacpp] [--max-new-tokens 64]
                           [--accuracy-limit N] [--threads N]

For every model and backend, in a fresh process (bench/backends.py's worker): load seconds, the
chain's real answer prompts (passages retrieved from data/ for four English and Chinese
questions) first read in full (prompt reuse off), then again with prompt reuse on (each prompt
follows another question, so the system prompt and template are reused): time to first token
both ways, prompt tokens/s, decode tokens/s, time to the complete answer, peak RSS, and how
many answers are word for word the same with reuse. The probe (rag.probe) is run per model
too: what ``llm_backend=auto`` chooses here, and the prompt rate the time-to-first-token target
is read against. ``--accuracy-limit N`` adds ``kbqa eval bench/data/realistic --limit N`` per
model and backend (answer F1, contains-gold, refusals). Results: bench/out/ladder-<sizes>.json and
Markdown tables on stdout. Tokens are counted with the Qwen2.5 tokenizer (both models share it).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import REPO, machine, save  # noqa: E402
from bench.backends import build_prompts, run_backend, to_messages, tokenizer_only  # noqa: E402

MODELS = ["qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b"]
TOKENIZER_MODEL = "qwen2.5-coder-0.5b"  # the Qwen2.5 tokenizer, shared by both models
TTFT_SLACK = 1.3  # target: time to first token <= 1.3 x prompt tokens read / prompt rate


def probe_in_subprocess(model: str, threads: int | None) -> dict:
    """Run the backend probe for ``model`` afresh in its own process; its result as JSON."""
    code = (
        "import json, sys; from rag.settings import Settings; from rag.llm import probing;"
        f" s = Settings(llm_model={model!r}, torch_threads={threads!r});"
        " r, _ = probing.probe_and_load(s, force=True); print(json.dumps(r.to_json()))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=1800
    )
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1:] or ["probe failed"]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def accuracy(model: str, backend: str, limit: int) -> dict:
    """``kbqa eval`` on the realistic set with this model and backend: its headline metrics."""
    out = Path(tempfile.mkdtemp(prefix=f"kbqa-ladder-{model}-{backend}-"))
    env = {**os.environ, "KBQA_LLM_MODEL": model, "KBQA_LLM_BACKEND": backend}
    started = time.perf_counter()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "rag.cli",
            "eval",
            str(REPO / "bench" / "data" / "realistic"),
            "--limit",
            str(limit),
            "--out",
            str(out),
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=7200,
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        return {"error": (done.stderr.strip().splitlines() or ["eval failed"])[-1], "out": str(out)}
    metrics = json.loads((out / "results.json").read_text())["metrics"]
    keep = ("answer_f1", "answer_contains_gold", "refused_unanswerable", "refused_answerable")
    return {"out": str(out), "seconds": round(seconds), **{k: metrics.get(k) for k in keep}}


def summarise(result: dict, prompt_tokens: list[int], count) -> dict:
    cold = [r for r in result["runs"] if not r["reuse"]]
    warm = [r for r in result["runs"] if r["reuse"]]
    decode = [
        (count(r["text"]) - 1) / (r["total_s"] - r["first_token_s"])
        for r in result["runs"]
        if count(r["text"]) > 1 and r["total_s"] > r["first_token_s"]
    ]
    same = sum(w["text"].strip() == c["text"].strip() for c, w in zip(cold, warm, strict=False))
    return {
        "load_s": round(result["load_s"], 1),
        "prompt_tokens": round(statistics.mean(prompt_tokens)),
        "first_token_s": round(statistics.median(r["first_token_s"] for r in cold), 2),
        "first_token_reuse_s": round(statistics.median(r["first_token_s"] for r in warm), 2),
        "cached_tokens": round(statistics.mean(r["cached_tokens"] for r in warm)),
        "prompt_tokens_per_s": round(
            statistics.median(prompt_tokens[r["prompt"]] / r["first_token_s"] for r in cold), 1
        ),
        "decode_tokens_per_s": round(statistics.median(decode), 1) if decode else None,
        "answer_s": round(statistics.median(r["total_s"] for r in warm), 2),
        "answer_tokens": round(statistics.mean(count(r["text"]) for r in warm), 1),
        "peak_rss_mb": round(result["peak_rss_mb"]),
        "same_with_reuse": f"{same}/{len(cold)}",
        "runs": result["runs"],
    }


def ttft_target(row: dict, probe_rate: float | None) -> tuple[float, bool] | None:
    """(bound, met): time to first token with reuse against 1.3 x tokens read / probe rate."""
    if not probe_rate:
        return None
    read = [r for r in row["runs"] if r["reuse"]]
    bound = statistics.median(
        TTFT_SLACK * (row["prompt_tokens"] - r["cached_tokens"]) / probe_rate for r in read
    )
    return round(bound, 2), row["first_token_reuse_s"] <= bound


def table(rows: list[dict]) -> str:
    lines = [
        "| model | backend | load s | prompt tokens | first token s (full read) |"
        " first token s (reuse; tokens reused) | prompt tok/s | decode tok/s | answer s"
        " (tokens) | peak RSS MB | same answer with reuse | answer F1 | contains gold |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['model']} | {r['backend']} | {r['error']} |")
            continue
        acc = r.get("accuracy") or {}
        lines.append(
            f"| {r['model']} | {r['backend']} | {r['load_s']} | {r['prompt_tokens']} |"
            f" {r['first_token_s']} | {r['first_token_reuse_s']} ({r['cached_tokens']}) |"
            f" {r['prompt_tokens_per_s']} | {r['decode_tokens_per_s']} |"
            f" {r['answer_s']} ({r['answer_tokens']}) | {r['peak_rss_mb']} |"
            f" {r['same_with_reuse']} | {acc.get('answer_f1', '—')} |"
            f" {acc.get('answer_contains_gold', '—')} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", nargs="*", default=MODELS)
    parser.add_argument("--backends", nargs="*", default=["transformers", "llamacpp"])
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--threads", type=int, default=None, help="unset = the probe's choice")
    parser.add_argument("--accuracy-limit", type=int, default=0, help="kbqa eval --limit N")
    parser.add_argument("--no-probe", action="store_true", help="skip the backend probe")
    args = parser.parse_args()

    info = machine()
    info["load_before"] = [round(x, 2) for x in os.getloadavg()]
    prompts = build_prompts(TOKENIZER_MODEL)
    counter = tokenizer_only(TOKENIZER_MODEL)
    prompt_tokens = [counter.count_tokens(counter.render(to_messages(p))) for p in prompts]
    rows: list[dict] = []
    probes: dict[str, dict] = {}
    for model in args.models:
        if not args.no_probe:
            print(f"probing backends for {model} ...", flush=True)
            probes[model] = probe_in_subprocess(model, args.threads)
        choice = probes.get(model, {})
        threads = args.threads or choice.get("threads")
        for backend in args.backends:
            print(f"running {model} on {backend} ...", flush=True)
            ns = argparse.Namespace(
                model=model, threads=threads, max_new_tokens=args.max_new_tokens, repeat=1
            )
            row: dict = {"model": model, "backend": backend, "load": os.getloadavg()[0]}
            try:
                result = run_backend(backend, ns, prompts, compare_reuse=True)
                row.update(summarise(result, prompt_tokens, counter.count_tokens))
            except SystemExit as exc:
                row["error"] = str(exc)
                rows.append(row)
                continue
            rates = {
                m["backend"]: m["prompt_tps"]
                for m in choice.get("measurements", [])
                if m["threads"] == choice.get("threads")
            }
            target = ttft_target(row, rates.get(backend))
            if target:
                row["ttft_bound_s"], row["ttft_met"] = target
            row["chosen_by_auto"] = choice.get("backend") == backend
            if args.accuracy_limit:
                print(f"  accuracy: kbqa eval --limit {args.accuracy_limit} ...", flush=True)
                row["accuracy"] = accuracy(model, backend, args.accuracy_limit)
            rows.append(row)
    info["load_after"] = [round(x, 2) for x in os.getloadavg()]
    path = save(
        "ladder-" + "_".join(m.rsplit("-", 1)[-1] for m in args.models),
        {
            "machine": info,
            "max_new_tokens": args.max_new_tokens,
            "threads": args.threads,
            "prompt_tokens": prompt_tokens,
            "probes": probes,
            "rows": rows,
        },
    )
    print(table(rows))
    for model, result in probes.items():
        if "backend" in result:
            print(f"\nauto on {model}: {result['backend']} x{result['threads']}", end="")
            for m in result["measurements"]:
                print(
                    f"; {m['backend']}x{m['threads']} prompt {m['prompt_tps']:.0f} tok/s,"
                    f" decode {m['decode_tps']:.1f} tok/s",
                    end="",
                )
        else:
            print(f"\nauto on {model}: probe failed: {result}", end="")
    print()
    for r in rows:
        if "ttft_bound_s" in r:
            print(
                f"TTFT target {r['model']} {r['backend']}: {r['first_token_reuse_s']} s <="
                f" {r['ttft_bound_s']} s: {'met' if r['ttft_met'] else 'NOT met'}"
            )
    print(
        f"\n{info['date']} · {info['cpu']} · {info['cores']} cores · load {info['load_before']} →"
        f" {info['load_after']} · saved {path}"
    )


if __name__ == "__main__":
    main()
