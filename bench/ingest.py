"""Ingest throughput against raw embedding throughput, the unchanged re-run, and peak RSS.

    python bench/ingest.py [--articles N] [--corpus DIR]

Ingests the SQuADShifts articles (or any folder) into a fresh store, then, in the same run,
times raw ``SentenceTransformer.encode`` over the very same chunk texts with the same batch size,
then re-runs the ingest on the unchanged folder. The embedder is loaded before timing starts.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import machine, peak_rss_mb, save, squad_corpus  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--articles", type=int, default=None, help="first N dev-set articles")
    parser.add_argument("--corpus", type=Path, help="ingest this folder instead")
    args = parser.parse_args()

    from rag.kb import KnowledgeBase

    work = Path(tempfile.mkdtemp(prefix="kbqa-bench-ingest-"))
    corpus = args.corpus or work / "corpus"
    if not args.corpus:
        squad_corpus(corpus, args.articles)
    size_mb = sum(p.stat().st_size for p in corpus.rglob("*") if p.is_file()) / 2**20
    kb = KnowledgeBase(persist_dir=work / "store", kb="bench")
    model = kb.embeddings._client  # the SentenceTransformer inside the LangChain wrapper
    model.encode(["warm up"])

    t0 = time.perf_counter()
    first = kb.ingest(corpus)
    ingest_s = time.perf_counter() - t0
    texts = kb.writable_store().collection.get(include=["documents"])["documents"]

    t0 = time.perf_counter()
    model.encode(texts, batch_size=kb.settings.embed_batch_size, normalize_embeddings=True)
    encode_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    again = kb.ingest(corpus)
    rerun_s = time.perf_counter() - t0
    assert again.chunks_written == 0, "unchanged re-run wrote chunks"

    n = len(texts)
    result = {
        "machine": machine(),
        "corpus": str(args.corpus or "SQuADShifts new_wiki articles"),
        "files": first.files_added,
        "corpus_mb": round(size_mb, 2),
        "chunks": n,
        "ingest_seconds": round(ingest_s, 2),
        "ingest_chunks_per_s": round(n / ingest_s, 1),
        "raw_encode_seconds": round(encode_s, 2),
        "raw_encode_chunks_per_s": round(n / encode_s, 1),
        "ingest_vs_encode": round(encode_s / ingest_s, 3),
        "rerun_seconds": round(rerun_s, 2),
        "rerun_share_of_first": round(rerun_s / ingest_s, 4),
        "peak_rss_mb": round(peak_rss_mb(), 0),
    }
    path = save("ingest", result)
    for key, value in result.items():
        if key != "machine":
            print(f"{key:>24}: {value}")
    print(f"saved {path}")


if __name__ == "__main__":
    main()
