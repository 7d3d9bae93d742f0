"""Embedder speed: load time, ingest chunks/s, raw embedding chunks/s and question latency.

    flock /tmp/kbqa-cpu.lock python bench/embedders.py [--articles N] [--embedders A B ...]

For each packaged embedder, ingests the first N dev-set articles into a fresh store (default
chunking, so each model splits by its own tokens), then embeds the same chunk texts again without
the store, and times ``embed_query`` on 50 dev-set questions. Retrieval quality is measured by
``kbqa eval`` (docs/evaluation.md); this measures only speed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import DEV_SET, machine, save, squad_corpus  # noqa: E402

DEFAULT_EMBEDDERS = ("all-minilm-l6-v2", "use-multilingual", "multilingual-e5-small")


def measure(alias: str, corpus: Path, questions: list[str]) -> dict[str, object]:
    from rag.kb import KnowledgeBase

    work = Path(tempfile.mkdtemp(prefix=f"kbqa-bench-{alias}-"))
    kb = KnowledgeBase(persist_dir=work / "store", kb="bench", embedder=alias)
    t0 = time.perf_counter()
    kb.embeddings.embed_query("warm up")
    load_s = time.perf_counter() - t0

    t0, c0 = time.perf_counter(), time.process_time()
    report = kb.ingest(corpus)
    ingest_s, ingest_cpu = time.perf_counter() - t0, time.process_time() - c0
    texts = kb.writable_store().collection.get(include=["documents"])["documents"]

    t0, c0 = time.perf_counter(), time.process_time()
    kb.embeddings.embed_documents(texts)
    encode_s, encode_cpu = time.perf_counter() - t0, time.process_time() - c0

    latencies = []
    for question in questions:
        t0 = time.perf_counter()
        kb.embeddings.embed_query(question)
        latencies.append(time.perf_counter() - t0)
    n = report.chunks_written
    return {
        "embedder": alias,
        "load_seconds": round(load_s, 2),
        "chunks": n,
        "mean_chunk_tokens": round(
            statistics.mean(kb.splitter().count_tokens(t) for t in texts), 1
        ),
        "ingest_seconds": round(ingest_s, 2),
        "ingest_chunks_per_s": round(n / ingest_s, 1),
        "raw_embed_chunks_per_s": round(len(texts) / encode_s, 1),
        # CPU seconds of this process (all its threads): steadier than wall time on a busy machine
        "ingest_cpu_seconds": round(ingest_cpu, 2),
        "raw_embed_chunks_per_cpu_s": round(len(texts) / encode_cpu, 1),
        "query_ms_p50": round(1000 * statistics.median(latencies), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--articles", type=int, default=5, help="first N dev-set articles")
    parser.add_argument("--embedders", nargs="+", default=list(DEFAULT_EMBEDDERS))
    args = parser.parse_args()

    from rag.eval.datasets import load_dataset

    corpus = Path(tempfile.mkdtemp(prefix="kbqa-bench-corpus-"))
    squad_corpus(corpus, args.articles)
    questions = [q.question for q in load_dataset(DEV_SET).questions[:50]]
    load_before = os.getloadavg()
    rows = [measure(alias, corpus, questions) for alias in args.embedders]
    result = {
        "machine": machine(),
        "articles": args.articles,
        "loadavg_before": load_before,
        "loadavg_after": os.getloadavg(),
        "results": rows,
    }
    path = save("embedders", result)
    for row in rows:
        print(row)
    print(f"load average before / after: {load_before} / {result['loadavg_after']}")
    print(f"saved {path}")


if __name__ == "__main__":
    main()
