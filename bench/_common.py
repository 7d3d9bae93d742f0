"""Shared helpers for the benchmarks: machine description, peak RSS, the SQuADShifts corpus."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import resource
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEV_SET = REPO.parent / "shared" / "datasets" / "new_wiki_v1.0.json"
OUT = REPO / "bench" / "out"


def machine() -> dict[str, object]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import torch

    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
    }


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def squad_corpus(folder: Path, articles: int | None = None) -> list[Path]:
    """Write the dev set's articles as one text file each (the eval harness's own writer)."""
    from rag.eval.datasets import load_dataset, write_corpus

    ds = load_dataset(DEV_SET)
    titles = list(ds.articles)[: articles or None]
    return write_corpus(ds, titles, folder)


def save(name: str, payload: dict) -> Path:
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2, ensure_ascii=False))
    return path
