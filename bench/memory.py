"""Peak memory of ingesting a large corpus: does kbqa stream, or hold the corpus?

    python bench/memory.py [--mb 500] [--workdir DIR] [--chroma-server]

Builds a corpus of about ``--mb`` megabytes from the dev-set articles and altered copies of them
(bench/scale.py's ``altered_copies``: no chunk repeats, nothing is deduplicated), then ingests it
while a sampler records the resident memory of the ingest process plus its file reader child
every 0.2 s.

Embedding 500 MB with MiniLM takes about three hours on this 2-core machine, so the memory run
swaps the model's *arithmetic* for a hash: the real MiniLM is loaded and warmed on a full
1,024-chunk batch first (so the model and torch's buffers are resident at their ingest size),
and the splitter still counts with its real tokenizer; only ``embed_documents`` returns
deterministic pseudo-random unit vectors. Everything else (reading, splitting, hashing, Chroma,
the keyword index, the record manager, the embedding cache) is the real pipeline at full size.
bench/ingest.py measures the real embedder end to end on the dev corpus.

``--chroma-server`` starts ``chroma run`` on 127.0.0.1 (the CLI that ships with chromadb) and
ingests through it (``KBQA_CHROMA_URL``), so the vector index lives in the server process; its
RSS is sampled and reported on its own.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import psutil
from langchain_core.embeddings import Embeddings

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import machine, save  # noqa: E402
from bench.scale import altered_copies  # noqa: E402

DEV_CORPUS_MB = 1.16  # the 48 dev-set articles as text files


class HashEmbeddings(Embeddings):
    """The real model's tokenizer (for the splitter), vectors from a hash of the text."""

    def __init__(self, real: Any) -> None:
        self._client = real._client
        self.dim = real._client.get_embedding_dimension()

    def _vector(self, text: str) -> list[float]:
        seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
        v = np.random.default_rng(seed).standard_normal(self.dim)
        return (v / np.linalg.norm(v)).tolist()

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self._vector(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self._vector(text)


class Sampler(threading.Thread):
    """Peak resident memory of this process and its children, sampled every 0.2 s."""

    def __init__(self, server: psutil.Process | None = None) -> None:
        super().__init__(daemon=True)
        self.me = psutil.Process()
        self.server = server
        self.peak_total = self.peak_main = self.peak_child = self.peak_server = 0.0
        self.samples: list[tuple[float, float]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        start = time.perf_counter()
        while not self.stop.wait(0.2):
            main = self.me.memory_info().rss / 2**20
            child = 0.0
            for c in self.me.children(recursive=True):
                if self.server is not None and c.pid == self.server.pid:
                    continue  # reported on its own
                try:
                    child += c.memory_info().rss / 2**20
                except psutil.Error:
                    pass
            self.peak_main = max(self.peak_main, main)
            self.peak_child = max(self.peak_child, child)
            self.peak_total = max(self.peak_total, main + child)
            if self.server is not None:
                try:
                    self.peak_server = max(self.peak_server, self.server.memory_info().rss / 2**20)
                except psutil.Error:
                    pass
            self.samples.append((round(time.perf_counter() - start, 1), round(main + child)))


def start_chroma_server(data: Path) -> tuple[subprocess.Popen, str]:
    """``chroma run`` on a free 127.0.0.1 port, telemetry off; returns once it answers."""
    import urllib.request

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    chroma = Path(sys.executable).parent / "chroma"
    process = subprocess.Popen(
        [str(chroma), "run", "--path", str(data), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "ANONYMIZED_TELEMETRY": "False"},
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=2):
                return process, url
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError("chroma run did not start") from None
            time.sleep(0.3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mb", type=float, default=500.0, help="corpus size to build, in MB")
    parser.add_argument("--workdir", type=Path, default=None, help="where corpus and store go")
    parser.add_argument(
        "--chroma-server", action="store_true", help="ingest through a `chroma run` server"
    )
    args = parser.parse_args()

    from rag.kb import KnowledgeBase, Models

    work = Path(tempfile.mkdtemp(prefix="kbqa-bench-memory-", dir=args.workdir))
    corpus = work / "corpus"
    corpus.mkdir()
    copies = max(0, round(args.mb / DEV_CORPUS_MB) - 1)
    t0 = time.perf_counter()
    altered_copies(corpus, copies)
    files = list(corpus.iterdir())
    size_mb = sum(p.stat().st_size for p in files) / 2**20
    print(f"corpus: {len(files)} files, {size_mb:.0f} MB in {time.perf_counter() - t0:.0f} s")

    server, url = (None, None)
    if args.chroma_server:
        server, url = start_chroma_server(work / "chroma-server")
    kb = KnowledgeBase(persist_dir=work / "store", kb="memory", chroma_url=url)
    real = kb.embeddings
    warm = [p.read_text(encoding="utf-8")[:900] for p in files[:1024]]
    real._client.encode(warm, batch_size=kb.settings.embed_batch_size)
    hashed = HashEmbeddings(real)
    kb = KnowledgeBase(kb.settings, models=Models(kb.settings, load_embedder=lambda: hashed))
    sampler = Sampler(psutil.Process(server.pid) if server is not None else None)
    sampler.start()
    t0 = time.perf_counter()
    report = kb.ingest(corpus)
    seconds = time.perf_counter() - t0
    sampler.stop.set()
    sampler.join()
    result = {
        "machine": machine(),
        "corpus_mb": round(size_mb, 1),
        "files": len(files),
        "chunks": kb.store.count(),
        "files_failed": report.files_failed,
        "ingest_seconds_without_model_arithmetic": round(seconds, 1),
        "peak_rss_mb_total": round(sampler.peak_total),
        "peak_rss_mb_ingest_process": round(sampler.peak_main),
        "peak_rss_mb_file_reader": round(sampler.peak_child),
        "chroma": "server (chroma run)" if server is not None else "embedded",
        "peak_rss_mb_chroma_server": round(sampler.peak_server) if server is not None else None,
        "rss_mb_over_time": sampler.samples[:: max(1, len(sampler.samples) // 60)],
    }
    path = save("memory", result)
    for key, value in result.items():
        if key not in ("machine", "rss_mb_over_time"):
            print(f"{key:>40}: {value}")
    print(f"saved {path}")
    if server is not None:
        server.terminate()
        server.wait(timeout=30)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
