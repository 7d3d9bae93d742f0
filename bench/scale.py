"""Scale benchmark: retrieval latency as a collection grows, ingest throughput against corpus size.

    python bench/scale.py retrieval [--steps 10000 100000 1000000] [--real 10000] [--queries 100]
    python bench/scale.py ingest [--articles 3 12 48] [--copies 4]
    python bench/scale.py plot

``retrieval`` grows one knowledge base in place (10k, then adds to 100k, then to 1M chunks)
through kbqa's own store: ``ensure_collection`` (embedded Chroma, HNSW, cosine, telemetry off)
plus the FTS5 keyword index, then asks 100 dev-set questions through ``KnowledgeBase.retrieve``
(dense only, and hybrid: keyword + RRF) at each size. The first ``--real`` chunks are real
dev-set text windows with real MiniLM vectors; beyond them chunks reuse those texts with a copy
tag and their vectors plus Gaussian noise (cosine about 0.8 to the original), so the vectors
keep the clustering of real text. Query embedding is timed on its own; search times use the
same query vectors looked up, so they exclude the embedder. Dense recall is Chroma's top
``fetch_k`` against an exact cosine search over the same vectors.

``ingest`` runs bench/ingest.py (end-to-end ``KnowledgeBase.ingest`` against raw
``SentenceTransformer.encode`` over the same chunks) once per corpus size, each in its own
process: the first 3, 12, 48 dev-set articles, then the 48 articles plus ``--copies`` altered
copies (a copy tag every 40 words, so no chunk text repeats and nothing is deduplicated or
served from the embedding cache).

``plot`` draws docs/img/scale-retrieval.png and docs/img/scale-ingest.png from bench/out and
prints the tables of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import DEV_SET, OUT, REPO, machine, peak_rss_mb, save, squad_corpus  # noqa: E402

if TYPE_CHECKING:
    import numpy as np

    from rag.kb import KnowledgeBase

IMG = REPO / "docs" / "img"
WINDOW_WORDS = 100  # a real chunk of ~130 MiniLM tokens, under the default 200-token chunk size
NOISE = 0.04  # per-dimension noise on a 384-dim unit vector: cosine ~0.8 to the original
BATCH = 5000  # chunks per Chroma add (under Chroma's max batch size)
COPY_TAG_EVERY = 40  # words between copy tags in the altered ingest corpus


# -- retrieval at scale ------------------------------------------------------------------------
def real_windows(count: int) -> list[str]:
    """``count`` overlapping word windows over the dev-set articles (real text, real order)."""
    articles = [
        " ".join(p["context"] for p in a["paragraphs"])
        for a in json.loads(DEV_SET.read_text())["data"]
    ]
    total = sum(len(a.split()) for a in articles)
    stride = max(1, total // count)
    windows: list[str] = []
    for text in articles:
        words = text.split()
        for start in range(0, max(1, len(words) - WINDOW_WORDS + 1), stride):
            windows.append(" ".join(words[start : start + WINDOW_WORDS]))
    return windows[:count]


def dev_questions(count: int) -> list[str]:
    """``count`` questions spread evenly over the dev set."""
    questions = [
        q["question"]
        for a in json.loads(DEV_SET.read_text())["data"]
        for p in a["paragraphs"]
        for q in p["qas"]
    ]
    return questions[:: max(1, len(questions) // count)][:count]


def embed_texts(kb: KnowledgeBase, texts: list[str]) -> tuple[np.ndarray, float]:
    """MiniLM vectors for ``texts`` (cached in bench/out by content) and the seconds it took."""
    import numpy as np

    digest = hashlib.sha256("\n".join(texts).encode()).hexdigest()[:12]
    cache = OUT / f"scale-vectors-{len(texts)}-{digest}.npy"
    if cache.exists():
        return np.load(cache), 0.0
    model = kb.embeddings._client  # the SentenceTransformer inside the LangChain wrapper
    t0 = time.perf_counter()
    vectors = model.encode(
        texts, batch_size=kb.settings.embed_batch_size, normalize_embeddings=True
    ).astype("float32")
    seconds = time.perf_counter() - t0
    OUT.mkdir(parents=True, exist_ok=True)
    np.save(cache, vectors)
    return vectors, seconds


def synthetic_batch(
    start: int, count: int, texts: list[str], base: np.ndarray
) -> tuple[list[str], np.ndarray]:
    """Chunks ``start .. start+count``: real ones below ``len(base)``, noisy copies above."""
    import numpy as np

    n_real = len(base)
    idx = np.arange(start, start + count)
    vectors = base[idx % n_real].copy()
    copies = idx >= n_real
    if copies.any():
        rng = np.random.default_rng(start)
        vectors[copies] += rng.normal(0, NOISE, (int(copies.sum()), base.shape[1])).astype(
            "float32"
        )
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    docs = [
        texts[i % n_real] if i < n_real else f"{texts[i % n_real]} copy{i // n_real}"
        for i in idx.tolist()
    ]
    return docs, vectors


class LookedUpQueries:
    """Query vectors computed beforehand, so search timings exclude the embedder."""

    def __init__(self, vectors: dict[str, list[float]]) -> None:
        self.vectors = vectors

    def embed_query(self, text: str) -> list[float]:
        return self.vectors[text]


def percentiles(ms: list[float]) -> tuple[float, float]:
    import numpy as np

    return round(float(np.percentile(ms, 50)), 1), round(float(np.percentile(ms, 95)), 1)


def timed(fn: Callable[[str], Any], queries: list[str]) -> tuple[list[float], list[Any]]:
    """Milliseconds of ``fn(q)`` per query (after two warm-up calls) and its results."""
    for q in queries[:2]:
        fn(q)
    ms, results = [], []
    for q in queries:
        t0 = time.perf_counter()
        results.append(fn(q))
        ms.append((time.perf_counter() - t0) * 1000)
    return ms, results


def disk_mb(folder: Path) -> float:
    blocks = sum(p.stat().st_blocks for p in folder.rglob("*") if p.is_file())
    return round(blocks * 512 / 2**20, 1)


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 0)
    return 0.0


def mem_available_gib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) / 2**20
    return 0.0


def exact_top(vectors: np.ndarray, queries: np.ndarray, k: int) -> list[set[int]]:
    """Row numbers of the exact top-k cosine neighbours (vectors are unit length)."""
    import numpy as np

    best_scores = np.full((len(queries), 0), -2.0, dtype="float32")
    best_rows = np.zeros((len(queries), 0), dtype="int64")
    for start in range(0, len(vectors), 200_000):
        scores = queries @ vectors[start : start + 200_000].T
        top = np.argpartition(-scores, min(k, scores.shape[1] - 1), axis=1)[:, :k]
        best_scores = np.hstack([best_scores, np.take_along_axis(scores, top, axis=1)])
        best_rows = np.hstack([best_rows, top + start])
        keep = np.argsort(-best_scores, axis=1)[:, :k]
        best_scores = np.take_along_axis(best_scores, keep, axis=1)
        best_rows = np.take_along_axis(best_rows, keep, axis=1)
    return [set(row.tolist()) for row in best_rows]


def measure_step(
    kb: KnowledgeBase, collection: Any, questions: list[str], qvecs: np.ndarray, vectors: np.ndarray
) -> dict[str, Any]:
    """Latency of raw Chroma, keyword, dense and hybrid retrieval, and dense recall, at this size."""
    fetch_k = kb.settings.fetch_k
    by_question = dict(zip(questions, qvecs.tolist(), strict=True))
    raw_ms, raw = timed(
        lambda q: collection.query(query_embeddings=[by_question[q]], n_results=fetch_k), questions
    )
    keyword_ms, _ = timed(lambda q: kb.keyword.search(q, fetch_k), questions)
    count_ms, _ = timed(lambda q: kb.store.count(), questions[:20])  # kb.retrieve calls it
    looked_up = LookedUpQueries(by_question)
    kb.search.embeddings = looked_up
    dense_ms, _ = timed(lambda q: kb.retrieve(q, hybrid=False), questions)
    hybrid_ms, _ = timed(lambda q: kb.retrieve(q, hybrid=True), questions)
    if kb.search.embeddings is not looked_up:
        raise RuntimeError("kb.retrieve reopened its search: timings would include embedding")
    exact = exact_top(vectors, qvecs, fetch_k)
    found = [{int(cid[1:]) for cid in r["ids"][0]} for r in raw]
    recall = sum(len(f & e) for f, e in zip(found, exact, strict=True)) / (fetch_k * len(exact))
    row: dict[str, Any] = {}
    for name, ms in (
        ("chroma", raw_ms),
        ("keyword", keyword_ms),
        ("count", count_ms),
        ("dense", dense_ms),
        ("hybrid", hybrid_ms),
    ):
        row[f"{name}_p50_ms"], row[f"{name}_p95_ms"] = percentiles(ms)
    row[f"dense_recall_at_{fetch_k}"] = round(recall, 3)
    return row


def retrieval(args: argparse.Namespace) -> None:
    import numpy as np

    from rag.kb import KnowledgeBase
    from rag.store import ensure_collection

    started = time.perf_counter()
    load_start = os.getloadavg()
    steps = sorted(args.steps)
    work = Path(tempfile.mkdtemp(prefix="kbqa-bench-scale-", dir=args.workdir))
    kb = KnowledgeBase(persist_dir=work / "store", kb="scale")
    texts = real_windows(min(args.real, steps[-1]))
    base, embed_s = embed_texts(kb, texts)
    questions = dev_questions(args.queries)
    embed_query_ms, qlist = timed(kb.embeddings.embed_query, questions)
    qvecs = np.asarray(qlist, dtype="float32")
    ensure_collection(
        kb.client, kb.name, embedder=kb.embedder_id, dim=base.shape[1], splitter=kb.splitter().id
    )
    collection = kb.client.get_collection(kb.name)
    vectors = np.empty((steps[-1], base.shape[1]), dtype="float32")
    q50, q95 = percentiles(embed_query_ms)
    result: dict[str, Any] = {
        "machine": machine(),
        "load_average_start": [round(x, 2) for x in load_start],
        "store": str(work),
        "chunks": (
            f"first {len(base)}: real {WINDOW_WORDS}-word windows of the dev-set articles with real"
            f" MiniLM vectors; beyond: the same texts + a copy tag, vectors + N(0, {NOISE}) noise,"
            " renormalised"
        ),
        "real_chunks": len(base),
        "real_embed_chunks_per_s": round(len(base) / embed_s, 1) if embed_s else None,
        "queries": len(questions),
        "fetch_k": kb.settings.fetch_k,
        "top_k": kb.settings.top_k,
        "query_embed_p50_ms": q50,
        "query_embed_p95_ms": q95,
        "steps": [],
        "stopped": None,
    }
    print(f"store {work}; {len(base)} real vectors; query embed p50 {q50} ms", flush=True)
    have = 0
    for target in steps:
        chroma_s = keyword_s = 0.0
        step_start = have
        while have < target:
            if time.perf_counter() - started > args.budget_min * 60:
                result["stopped"] = f"time budget of {args.budget_min} min spent at {have} chunks"
                break
            if mem_available_gib() < args.min_free_gib:
                result["stopped"] = f"under {args.min_free_gib} GiB memory free at {have} chunks"
                break
            count = min(BATCH, target - have)
            docs, vecs = synthetic_batch(have, count, texts, base)
            vectors[have : have + count] = vecs
            ids = [f"c{i}" for i in range(have, have + count)]
            sources = [f"doc{i // 40}.txt" for i in range(have, have + count)]
            t0 = time.perf_counter()
            collection.add(
                ids=ids, embeddings=vecs, documents=docs, metadatas=[{"source": s} for s in sources]
            )
            t1 = time.perf_counter()
            kb.keyword.add(ids, docs, sources)
            chroma_s += t1 - t0
            keyword_s += time.perf_counter() - t1
            have += count
            if have % 50_000 == 0:
                print(f"  {have} chunks, {time.perf_counter() - started:.0f} s", flush=True)
        if have == step_start:
            break
        row: dict[str, Any] = {
            "chunks": have,
            "added": have - step_start,
            "chroma_insert_s": round(chroma_s, 1),
            "keyword_insert_s": round(keyword_s, 1),
            "insert_chunks_per_s": round((have - step_start) / (chroma_s + keyword_s), 0),
        }
        row.update(measure_step(kb, collection, questions, qvecs, vectors[:have]))
        row.update(
            chroma_disk_mb=disk_mb(work / "store") - disk_mb(kb.settings.kb_dir),
            keyword_disk_mb=disk_mb(kb.settings.kb_dir),
            rss_mb=rss_mb(),
            peak_rss_mb=round(peak_rss_mb(), 0),
            load_average=round(os.getloadavg()[0], 2),
        )
        result["steps"].append(row)
        print(json.dumps(row), flush=True)
        save("scale-retrieval", result)
        if result["stopped"]:
            break
    result["seconds"] = round(time.perf_counter() - started, 0)
    print(f"saved {save('scale-retrieval', result)}")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


# -- ingest throughput against corpus size -------------------------------------------------------
def altered_copies(folder: Path, copies: int) -> None:
    """The 48 dev-set articles plus ``copies`` copies with a copy tag every 40 words."""
    originals = squad_corpus(folder)
    for copy in range(1, copies + 1):
        for path in originals:
            paragraphs = path.read_text(encoding="utf-8").split("\n\n")
            tagged = []
            for para in paragraphs:
                words = para.split()
                for at in range(0, len(words), COPY_TAG_EVERY):
                    words.insert(at + at // COPY_TAG_EVERY, f"copy{copy}")
                tagged.append(" ".join(words))
            out = folder / f"{path.stem}-copy{copy}.txt"
            out.write_text("\n\n".join(tagged), encoding="utf-8")


def run_ingest_bench(extra: list[str], tmp: Path) -> dict[str, Any]:
    """One run of bench/ingest.py in its own process; its JSON (bench/out/ingest.json)."""
    env = {**os.environ, "TMPDIR": str(tmp)}
    subprocess.run([sys.executable, str(REPO / "bench" / "ingest.py"), *extra], check=True, env=env)
    return json.loads((OUT / "ingest.json").read_text())


def ingest(args: argparse.Namespace) -> None:
    load_start = os.getloadavg()
    saved = OUT / "ingest.json"
    keep = saved.read_bytes() if saved.exists() else None  # bench/ingest.py's own last result
    tmp = Path(tempfile.mkdtemp(prefix="kbqa-bench-scale-ingest-", dir=args.workdir))
    rows = []
    try:
        runs = [(f"{n} articles", ["--articles", str(n)]) for n in args.articles]
        if args.copies:
            corpus = tmp / "copies"
            altered_copies(corpus, args.copies)
            runs.append((f"48 articles x {args.copies + 1}", ["--corpus", str(corpus)]))
        for label, extra in runs:
            run = run_ingest_bench(extra, tmp)
            run.pop("machine")
            rows.append({**run, "corpus": label})
    finally:
        if keep is not None:
            saved.write_bytes(keep)
        shutil.rmtree(tmp, ignore_errors=True)
    result = {
        "machine": machine(),
        "load_average_start": [round(x, 2) for x in load_start],
        "load_average_end": [round(x, 2) for x in os.getloadavg()],
        "pipeline_commit": subprocess.run(
            ["git", "log", "-1", "--format=%h %s", "--", "ingest/pipeline.py"],
            capture_output=True,
            text=True,
            cwd=REPO,
        ).stdout.strip(),
        "runs": rows,
    }
    print(f"saved {save('scale-ingest', result)}")


# -- plots ------------------------------------------------------------------------------------
SERIES = {
    "chroma": ("raw Chroma query", "C2"),
    "keyword": ("keyword (FTS5)", "C3"),
    "dense": ("kb.retrieve dense", "C0"),
    "hybrid": ("kb.retrieve hybrid", "C1"),
}


def plot_retrieval(plt: Any, data: dict[str, Any]) -> Path:
    steps = data["steps"]
    n = [s["chunks"] for s in steps]
    fig, (lat, mem) = plt.subplots(1, 2, figsize=(11, 4))
    for name, (label, colour) in SERIES.items():
        for stat, style in (("p50", "o-"), ("p95", "o--")):
            values = [s[f"{name}_{stat}_ms"] for s in steps]
            lat.plot(n, values, style, color=colour, label=f"{label} {stat}")
    lat.axhline(data["query_embed_p50_ms"], color="grey", ls=":", label="query embedding p50")
    lat.set(xscale="log", yscale="log", xlabel="chunks", ylabel="ms per query (no embedding)")
    lat.set_title("Retrieval latency")
    lat.legend(fontsize=7)
    disk = [(s["chroma_disk_mb"] + s["keyword_disk_mb"]) / 1024 for s in steps]
    mem.plot(n, disk, "o-", label="disk (Chroma + keyword index)")
    mem.plot(n, [s["peak_rss_mb"] / 1024 for s in steps], "o-", label="peak RSS")
    mem.set(xscale="log", xlabel="chunks", ylabel="GiB")
    mem.set_title("Disk and memory")
    mem.legend(fontsize=8)
    fig.suptitle(f"kbqa retrieval at scale, {data['machine']['date']}", fontsize=9)
    fig.tight_layout()
    path = IMG / "scale-retrieval.png"
    fig.savefig(path, dpi=110)
    return path


def plot_ingest(plt: Any, data: dict[str, Any]) -> Path:
    runs = data["runs"]
    n = [r["chunks"] for r in runs]
    fig, ax = plt.subplots(figsize=(6.5, 4))
    ax.plot(n, [r["ingest_chunks_per_s"] for r in runs], "o-", label="kbqa ingest, end to end")
    ax.plot(n, [r["raw_encode_chunks_per_s"] for r in runs], "o-", label="raw encode, same chunks")
    for r in runs:
        where = (r["chunks"], r["ingest_chunks_per_s"])
        ax.annotate(f"{r['ingest_vs_encode']:.2f}", where, xytext=(0, -12), fontsize=7,
                    textcoords="offset points", ha="center")  # fmt: skip
    ax.set(xscale="log", xlabel="chunks in the corpus", ylabel="chunks/s", ylim=(0, None))
    ax.set_title(f"Ingest throughput (labels: ingest / encode), {data['machine']['date']}")
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = IMG / "scale-ingest.png"
    fig.savefig(path, dpi=110)
    return path


def markdown_tables(name: str, data: dict[str, Any]) -> str:
    """The docs/benchmarks.md table for one result file."""
    if name == "retrieval":
        lines = [
            "| chunks | insert s (chunks/s) | dense p50 / p95 ms | hybrid p50 / p95 ms"
            " | keyword p50 / p95 ms | Chroma query p50 / p95 ms | count() p50 ms"
            " | dense recall@20 | disk MB"
            " | peak RSS MB | load |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for s in data["steps"]:
            insert_s = s["chroma_insert_s"] + s["keyword_insert_s"]
            lines.append(
                f"| {s['chunks']:,} | {insert_s:,.0f} ({s['insert_chunks_per_s']:,.0f})"
                f" | {s['dense_p50_ms']} / {s['dense_p95_ms']}"
                f" | {s['hybrid_p50_ms']} / {s['hybrid_p95_ms']}"
                f" | {s['keyword_p50_ms']} / {s['keyword_p95_ms']}"
                f" | {s['chroma_p50_ms']} / {s['chroma_p95_ms']} | {s.get('count_p50_ms', 'n/a')}"
                f" | {s['dense_recall_at_20']} | {s['chroma_disk_mb'] + s['keyword_disk_mb']:,.0f}"
                f" | {s['peak_rss_mb']:,.0f} | {s['load_average']} |"
            )
        return "\n".join(lines)
    lines = [
        "| corpus | files | chunks | ingest s | ingest chunks/s | encode chunks/s"
        " | ingest / encode | peak RSS MB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in data["runs"]:
        lines.append(
            f"| {r['corpus']} | {r['files']} | {r['chunks']:,} | {r['ingest_seconds']}"
            f" | {r['ingest_chunks_per_s']} | {r['raw_encode_chunks_per_s']}"
            f" | {r['ingest_vs_encode']} | {r['peak_rss_mb']:,.0f} |"
        )
    return "\n".join(lines)


def plot(_: argparse.Namespace) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    IMG.mkdir(parents=True, exist_ok=True)
    for name, draw in (("retrieval", plot_retrieval), ("ingest", plot_ingest)):
        path = OUT / f"scale-{name}.json"
        if path.exists():
            data = json.loads(path.read_text())
            print(f"wrote {draw(plt, data)}\n\n{markdown_tables(name, data)}\n")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    sub = parser.add_subparsers(dest="what", required=True)
    ret = sub.add_parser("retrieval", help="retrieval latency, insert time, disk, RSS by size")
    ret.add_argument("--steps", type=int, nargs="+", default=[10_000, 100_000, 300_000, 1_000_000])
    ret.add_argument("--real", type=int, default=10_000, help="chunks with real MiniLM vectors")
    ret.add_argument("--queries", type=int, default=100)
    ret.add_argument("--budget-min", type=float, default=45, help="stop inserting after this")
    ret.add_argument("--min-free-gib", type=float, default=3, help="stop inserting below this")
    ret.add_argument("--workdir", default=None, help="where the store goes (default: $TMPDIR)")
    ret.add_argument("--keep", action="store_true", help="keep the store afterwards")
    ret.set_defaults(run=retrieval)
    ing = sub.add_parser("ingest", help="ingest vs raw encode throughput by corpus size")
    ing.add_argument("--articles", type=int, nargs="+", default=[3, 12, 48])
    ing.add_argument("--copies", type=int, default=4, help="altered copies of all 48 articles")
    ing.add_argument("--workdir", default=None)
    ing.set_defaults(run=ingest)
    sub.add_parser("plot", help="draw docs/img/scale-*.png, print the docs tables").set_defaults(
        run=plot
    )
    args = parser.parse_args()
    args.run(args)


if __name__ == "__main__":
    main()
