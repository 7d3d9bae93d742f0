"""Embedding speed and peak memory against the forward-pass batch size (``KBQA_EMBED_BATCH_SIZE``).

    flock /tmp/kbqa-cpu.lock python bench/batch_size.py [--sizes 4 8 16 32 64] [--chunks 1024]

Cuts the dev-set articles into passages of 150 words (about as many MiniLM tokens as a default
chunk), then, for each batch size in a fresh process (so each peak RSS is its own), loads the
configured embedder and embeds the same passages twice through kbqa's ``embed_documents``, as
ingest does. Reports the faster of the two passes and the process's peak RSS.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import machine, peak_rss_mb, save, squad_corpus  # noqa: E402


def passages(n: int) -> list[str]:
    with tempfile.TemporaryDirectory() as folder:
        paths = squad_corpus(Path(folder))
        words = " ".join(p.read_text(encoding="utf-8") for p in sorted(paths)).split()
    return [" ".join(words[i : i + 150]) for i in range(0, len(words), 150)][:n]


def one(size: int, n: int) -> dict[str, float]:
    """Runs in its own process: embed ``n`` passages twice with batch size ``size``."""
    from rag.models import load_embedder
    from rag.settings import Settings

    texts = passages(n)
    embeddings = load_embedder(Settings(embed_batch_size=size))
    embeddings.embed_documents(["warm up"])
    seconds = []
    for _ in range(2):
        t0 = time.perf_counter()
        embeddings.embed_documents(texts)
        seconds.append(time.perf_counter() - t0)
    return {
        "batch_size": size,
        "chunks": len(texts),
        "seconds": round(min(seconds), 2),
        "chunks_per_s": round(len(texts) / min(seconds), 1),
        "peak_rss_mb": round(peak_rss_mb()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[4, 8, 16, 32, 64])
    parser.add_argument("--chunks", type=int, default=1024)
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # the child's own run
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(args.one, args.chunks)))
        return
    rows = []
    for size in args.sizes:
        out = subprocess.run(
            [sys.executable, __file__, "--one", str(size), "--chunks", str(args.chunks)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        rows.append(json.loads(out.strip().splitlines()[-1]))
        print("  ".join(f"{k}={v}" for k, v in rows[-1].items()), flush=True)
    print(f"saved {save('batch_size', {'machine': machine(), 'rows': rows})}")


if __name__ == "__main__":
    main()
