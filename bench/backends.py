"""Generator backends side by side: the same prompts through transformers, llama.cpp in process
and an OpenAI-compatible server (llama.cpp's, on loopback), each in its own subprocess.

    python bench/backends.py [--model qwen2.5-coder-0.5b] [--max-new-tokens 64] [--repeat 2]
                             [--backends transformers llamacpp openai] [--threads N]

The parent ingests the sample documents in ``data/`` and builds the chain's real answer prompts
(retrieved passages, system prompt, prefill) for a few English and Chinese questions. Each backend
then runs in a fresh process: load, one warm-up, and every prompt streamed greedily with the same
``max_new_tokens``, ``--repeat`` passes (medians reported). Reported per backend: load seconds,
time to first token (prompt reading included), prompt tokens/s (prompt tokens / time to first
token), decode tokens/s (after the first token), peak RSS of the worker (and of the model server
for ``openai``), and how many answers are word for word the transformers backend's. Tokens are counted with one tokenizer for all rows.
Results go to bench/out/backends.json and a Markdown table to stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import REPO, machine, save  # noqa: E402

QUESTIONS = [
    ("Which command adds a folder of documents to kbqa?", "en"),
    ("What happens to files that cannot be read during ingest?", "en"),
    ("Explain how kbqa handles changed, deleted and unreadable files when ingesting again.", "en"),
    ("本地部署大模型需要多少显存？", "zh"),
]
WARM_UP = [{"role": "user", "content": "Say hello."}]


# -- worker: one backend, in its own process -------------------------------------------------


def to_messages(rows: list[dict]) -> list:
    from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

    kinds = {"system": SystemMessage, "user": HumanMessage, "assistant": AIMessage}
    return [kinds[r["role"]](r["content"]) for r in rows]


def worker(job: dict) -> dict:
    from rag.llm import load_chat_model
    from rag.settings import Settings

    settings = Settings(**job["settings"])
    started = time.perf_counter()
    llm = load_chat_model(settings)
    llm.invoke(to_messages(WARM_UP), max_new_tokens=4)  # first call pays one-time setup
    load_s = time.perf_counter() - started
    runs = []
    # Pass 0 reads every prompt in full (prompt reuse off); later passes reuse what each prompt
    # shares with the one before it (another question: the system prompt and template).
    passes = (
        [False] + [True] * job["repeat"] if job.get("compare_reuse") else [True] * job["repeat"]
    )
    for reuse, index, rows in [(r, i, p) for r in passes for i, p in enumerate(job["prompts"])]:
        t0 = time.perf_counter()
        first = None
        pieces = []
        cached = 0
        for chunk in llm.stream(
            to_messages(rows), max_new_tokens=job["max_new_tokens"], prompt_reuse=reuse
        ):
            if chunk.content:
                if first is None:
                    first = time.perf_counter() - t0
                pieces.append(str(chunk.content))
            details = (getattr(chunk, "usage_metadata", None) or {}).get("input_token_details")
            if details:
                cached = int(details.get("cache_read") or 0)
        total = time.perf_counter() - t0
        runs.append(
            {
                "prompt": index,
                "reuse": reuse,
                "cached_tokens": cached,
                "first_token_s": first or total,
                "total_s": total,
                "text": "".join(pieces),
            }
        )
    return {
        "load_s": load_s,
        "runs": runs,
        # VmHWM, not ru_maxrss: Linux carries ru_maxrss over exec from the forking parent.
        "peak_rss_mb": peak_rss_of(os.getpid()),
    }


# -- parent ------------------------------------------------------------------------------------


def build_prompts(model: str) -> list[list[dict]]:
    """The chain's answer prompts for QUESTIONS over data/ (retrieval by the real embedder)."""
    from rag import prompts
    from rag.kb import KnowledgeBase

    roles = {"system": "system", "human": "user", "ai": "assistant"}
    out = []
    with tempfile.TemporaryDirectory(prefix="kbqa-bench-be-") as store:
        kb = KnowledgeBase(persist_dir=Path(store), llm_model=model)
        kb.ingest(REPO / "data")
        for question, lang in QUESTIONS:
            messages = prompts.answer_messages(question, kb.retrieve(question), lang)
            out.append([{"role": roles[m.type], "content": str(m.content)} for m in messages])
    return out


def tokenizer_only(model: str):
    """A ``TransformersChat`` with the model's tokenizer and no weights: render and count."""
    from transformers import AutoTokenizer

    from rag.llm import TransformersChat
    from rag.models import generator_folder
    from rag.settings import Settings

    folder, extra = generator_folder(Settings(llm_model=model))
    return TransformersChat(hf_model=None, tokenizer=AutoTokenizer.from_pretrained(folder, **extra))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def peak_rss_of(pid: int) -> float:
    """Peak resident memory (VmHWM) of a running process, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def start_server(model: str, threads: int | None) -> tuple[subprocess.Popen, str]:
    port = free_port()
    cmd = [sys.executable, "-m", "rag.llm.llamacpp", "--model", model, "--port", str(port)]
    if threads:
        cmd += ["--threads", str(threads)]
    process = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2):
                return process, f"http://127.0.0.1:{port}/v1"
        except OSError:
            if process.poll() is not None:
                break
            time.sleep(0.3)
    process.kill()
    raise SystemExit(f"model server did not start: {' '.join(cmd)}")


def run_backend(
    backend: str, args: argparse.Namespace, prompts: list[list[dict]], compare_reuse: bool = False
) -> dict:
    settings: dict = {"llm_model": args.model, "llm_backend": backend}
    if args.threads:
        settings["torch_threads"] = args.threads
    server = None
    if backend == "openai":
        server, url = start_server(args.model, args.threads)
        settings.update(llm_base_url=url, llm_timeout=600)
    job = {
        "settings": settings,
        "prompts": prompts,
        "max_new_tokens": args.max_new_tokens,
        "repeat": args.repeat,
        "compare_reuse": compare_reuse,
    }
    with tempfile.TemporaryDirectory() as tmp:
        job_file, out_file = Path(tmp) / "job.json", Path(tmp) / "out.json"
        job_file.write_text(json.dumps(job, ensure_ascii=False))
        try:
            done = subprocess.run(
                [sys.executable, __file__, "--worker", str(job_file), str(out_file)], cwd=REPO
            )
            if done.returncode != 0:
                raise SystemExit(f"{backend} worker failed with exit code {done.returncode}")
            result = json.loads(out_file.read_text())
            if server is not None:
                result["server_peak_rss_mb"] = peak_rss_of(server.pid)
        finally:
            if server is not None:
                server.terminate()
                server.wait(timeout=30)
    return result


def summarise(
    backend: str, result: dict, prompt_tokens: list[int], count, reference: list[str] | None
) -> dict:
    runs = result["runs"]
    new_tokens = [count(r["text"]) for r in runs]
    decode = [
        (n - 1) / (r["total_s"] - r["first_token_s"])
        for n, r in zip(new_tokens, runs, strict=True)
        if n > 1 and r["total_s"] > r["first_token_s"]
    ]
    row = {
        "backend": backend,
        "load_s": round(result["load_s"], 1),
        "prompt_tokens": round(statistics.mean(prompt_tokens)),
        "first_token_s": round(statistics.median(r["first_token_s"] for r in runs), 2),
        "answer_tokens": round(statistics.mean(new_tokens), 1),
        "prompt_tokens_per_s": round(
            statistics.median(prompt_tokens[r["prompt"]] / r["first_token_s"] for r in runs),
            1,
        ),
        "new_tokens": sum(new_tokens),
        "decode_tokens_per_s": round(statistics.median(decode), 1) if decode else None,
        "peak_rss_mb": round(result["peak_rss_mb"]),
        "server_peak_rss_mb": round(result["server_peak_rss_mb"])
        if "server_peak_rss_mb" in result
        else None,
        "same_as_transformers": None
        if reference is None
        else sum(
            r["text"].strip() == reference[r["prompt"]].strip() for r in runs[: len(reference)]
        ),
        "texts": [r["text"] for r in runs[: len(prompt_tokens)]],
    }
    return row


def table(rows: list[dict], n_prompts: int) -> str:
    lines = [
        "| backend | load s | time to first token s | prompt tok/s | decode tok/s | answer tokens |"
        " peak RSS MB | same answer as transformers |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        rss = f"{r['peak_rss_mb']}"
        if r["server_peak_rss_mb"] is not None:
            rss += f" + server {r['server_peak_rss_mb']}"
        same = (
            "—" if r["same_as_transformers"] is None else f"{r['same_as_transformers']}/{n_prompts}"
        )
        lines.append(
            f"| {r['backend']} | {r['load_s']} | {r['first_token_s']} | {r['prompt_tokens_per_s']} |"
            f" {r['decode_tokens_per_s']} | {r['answer_tokens']} | {rss} | {same} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="qwen2.5-coder-0.5b")
    parser.add_argument("--backends", nargs="*", default=["transformers", "llamacpp", "openai"])
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--threads", type=int, default=None, help="unset = each backend's default")
    parser.add_argument("--repeat", type=int, default=2, help="passes over the prompts (medians)")
    parser.add_argument("--worker", nargs=2, metavar=("JOB", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        job = json.loads(Path(args.worker[0]).read_text())
        Path(args.worker[1]).write_text(json.dumps(worker(job), ensure_ascii=False))
        return

    info = machine()
    info["load_before"] = [round(x, 2) for x in os.getloadavg()]
    prompts = build_prompts(args.model)
    # One tokenizer counts every backend's tokens: the model's own, as transformers loads it.
    counter = tokenizer_only(args.model)
    prompt_tokens = [counter.count_tokens(counter.render(to_messages(p))) for p in prompts]
    results = {}
    for backend in args.backends:
        print(f"running {backend} ...", flush=True)
        results[backend] = run_backend(backend, args, prompts)
    reference = (
        [r["text"] for r in results["transformers"]["runs"][: len(prompts)]]
        if "transformers" in results
        else None
    )
    rows = [
        summarise(
            b, r, prompt_tokens, counter.count_tokens, None if b == "transformers" else reference
        )
        for b, r in results.items()
    ]
    info["load_after"] = [round(x, 2) for x in os.getloadavg()]
    payload = {
        "machine": info,
        "model": args.model,
        "max_new_tokens": args.max_new_tokens,
        "threads": args.threads,
        "repeat": args.repeat,
        "questions": [q for q, _ in QUESTIONS],
        "prompt_tokens": prompt_tokens,
        "rows": rows,
    }
    path = save("backends", payload)
    print(table(rows, len(prompts)))
    print(
        f"\n{info['date']} · {info['cpu']} · {info['cores']} cores · load {info['load_before']} →"
        f" {info['load_after']} · saved {path}"
    )


if __name__ == "__main__":
    main()
