"""Query-side benchmark: chain overhead over raw generate, retrieval latency at scale, peak RSS.

    python bench/query.py [--sizes 10000 100000] [--runs 3] [--llm-model NAME]

1. The same prompt through raw ``model.generate`` and through ``KnowledgeBase.stream``: time to
   first token, tokens/s, and the chain's overhead (greedy, so both produce the same tokens).
2. Retrieval latency p50/p95 (dense + keyword, fused) over collections of N chunks: real chunk
   texts from the dev set, synthetic unit vectors (HNSW cost does not depend on what the vectors
   mean), real query embeddings.
3. Peak RSS of this process, which has loaded the default embedder and generator.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import DEV_SET, REPO, machine, peak_rss_mb, save  # noqa: E402

QUESTION = "Which command adds a folder of documents to kbqa?"


def raw_generate(llm, messages, max_new_tokens: int) -> tuple[float, float, int]:
    """(time to first token, total seconds, new tokens) of plain model.generate with a streamer."""
    import torch
    from transformers import TextIteratorStreamer

    prompt = llm.render(messages)
    inputs = llm.tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
    streamer = TextIteratorStreamer(llm.tokenizer, skip_prompt=True, skip_special_tokens=True)
    kwargs = dict(
        max_new_tokens=max_new_tokens,
        do_sample=False,
        repetition_penalty=llm.repetition_penalty,
        pad_token_id=llm.tokenizer.eos_token_id,
        streamer=streamer,
    )
    out: dict = {}

    def work():
        with torch.inference_mode():
            out["ids"] = llm.hf_model.generate(**inputs, **kwargs)

    t0 = time.perf_counter()
    thread = threading.Thread(target=work)
    thread.start()
    first = None
    for piece in streamer:
        if piece and first is None:
            first = time.perf_counter() - t0
    thread.join()
    total = time.perf_counter() - t0
    n_new = int(out["ids"].shape[1] - inputs["input_ids"].shape[1])
    return first or total, total, n_new


def chain_generate(kb, question: str) -> tuple[float, float, float, int]:
    """(retrieve seconds, first token, total, new tokens) through the whole chain."""
    t0 = time.perf_counter()
    stream = kb.stream(question)
    first = None
    for piece in stream:
        if piece and first is None:
            first = time.perf_counter() - t0
    total = time.perf_counter() - t0
    answer = stream.answer
    n_new = len(kb.llm.tokenizer(answer.raw_answer, add_special_tokens=False)["input_ids"])
    return answer.timings.get("retrieve", 0.0), first or total, total, n_new


def generation_bench(kb, runs: int) -> dict:
    from rag import prompts

    kb.ingest(REPO / "data")
    llm = kb.llm
    passages = kb.retrieve(QUESTION)
    messages = prompts.answer_messages(QUESTION, passages, "en")
    prompt_tokens = llm.count_tokens(llm.render(messages))
    chain_generate(kb, QUESTION)  # warm-up
    raw = [raw_generate(llm, messages, llm.max_new_tokens) for _ in range(runs)]
    chain = [chain_generate(kb, QUESTION) for _ in range(runs)]
    raw_first = statistics.median(r[0] for r in raw)
    raw_total = statistics.median(r[1] for r in raw)
    raw_tokens = raw[0][2]
    ch_retrieve = statistics.median(c[0] for c in chain)
    ch_first = statistics.median(c[1] for c in chain)
    ch_total = statistics.median(c[2] for c in chain)
    ch_tokens = chain[0][3]
    return {
        "model": kb.settings.llm_model,
        "prompt_tokens": prompt_tokens,
        "raw_first_token_s": round(raw_first, 3),
        "raw_total_s": round(raw_total, 3),
        "raw_new_tokens": raw_tokens,
        "raw_tokens_per_s": round(raw_tokens / raw_total, 2),
        "chain_retrieve_s": round(ch_retrieve, 3),
        "chain_first_token_s": round(ch_first, 3),
        "chain_total_s": round(ch_total, 3),
        "chain_new_tokens": ch_tokens,
        "chain_tokens_per_s": round(ch_tokens / ch_total, 2),
        "chain_overhead": round((ch_total - ch_retrieve) / raw_total - 1, 4),
    }


def build_synthetic(kb, n: int) -> None:
    """Fill a collection with n real chunk texts and random unit vectors."""
    import json

    import numpy as np

    from rag.store import ensure_collection

    texts: list[str] = []
    for article in json.loads(DEV_SET.read_text())["data"]:
        for para in article["paragraphs"]:
            words = para["context"].split()
            texts.extend(" ".join(words[i : i + 120]) for i in range(0, len(words), 100))
    store_dim = 384
    ensure_collection(
        kb.client, kb.name, embedder=kb.embedder_id, dim=store_dim, splitter=kb.splitter().id
    )
    collection = kb.client.get_collection(kb.name)
    rng = np.random.default_rng(0)
    for start in range(0, n, 5000):
        count = min(5000, n - start)
        vectors = rng.standard_normal((count, store_dim)).astype("float32")
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        ids = [f"c{start + i}" for i in range(count)]
        docs = [texts[(start + i) % len(texts)] + f" #{start + i}" for i in range(count)]
        metas = [{"source": f"doc{(start + i) // 50}.txt"} for i in range(count)]
        collection.add(ids=ids, embeddings=vectors, documents=docs, metadatas=metas)
        kb.keyword.add(ids, docs, [m["source"] for m in metas])


def retrieval_bench(models, sizes: list[int], queries: int) -> list[dict]:
    import json

    from rag.kb import KnowledgeBase

    questions = [
        q["question"]
        for a in json.loads(DEV_SET.read_text())["data"]
        for p in a["paragraphs"]
        for q in p["qas"]
    ]
    questions = questions[:: max(1, len(questions) // queries)][:queries]
    rows = []
    for n in sizes:
        kb = KnowledgeBase(
            persist_dir=Path(tempfile.mkdtemp(prefix="kbqa-bench-q-")), kb="scale", models=models
        )
        t0 = time.perf_counter()
        build_synthetic(kb, n)
        build_s = time.perf_counter() - t0
        row = {"chunks": n, "build_s": round(build_s, 1)}
        for mode, hybrid in (("dense", False), ("hybrid", True)):
            kb.retrieve(questions[0], hybrid=hybrid)  # warm-up
            times = []
            for q in questions:
                t = time.perf_counter()
                kb.retrieve(q, hybrid=hybrid)
                times.append((time.perf_counter() - t) * 1000)
            times.sort()
            row[f"{mode}_p50_ms"] = round(times[len(times) // 2], 1)
            row[f"{mode}_p95_ms"] = round(times[int(len(times) * 0.95) - 1], 1)
        rows.append(row)
        print(row, flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="*", default=[10_000, 100_000])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--llm-model", default=None)
    parser.add_argument("--skip-generation", action="store_true")
    args = parser.parse_args()

    from rag.kb import KnowledgeBase

    overrides = {"llm_model": args.llm_model} if args.llm_model else {}
    kb = KnowledgeBase(
        persist_dir=Path(tempfile.mkdtemp(prefix="kbqa-bench-gen-")), kb="gen", **overrides
    )
    result: dict = {"machine": machine()}
    if not args.skip_generation:
        result["generation"] = generation_bench(kb, args.runs)
        print(result["generation"], flush=True)
        result["peak_rss_mb_after_models"] = round(peak_rss_mb(), 0)
    result["retrieval"] = retrieval_bench(kb.models, args.sizes, args.queries)
    path = save("query", result)
    print(f"saved {path}")


if __name__ == "__main__":
    main()
