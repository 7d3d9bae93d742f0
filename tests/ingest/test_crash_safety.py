"""An ingest killed with SIGKILL at any moment, then run again, ends exactly like a clean run."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

DRIVER = Path(__file__).resolve().parents[1] / "crash_driver.py"
KILLS = 20
LINE_TIMEOUT = 300.0  # seconds the driver may take to print its next line (model load, ingest)


def read_line(child: subprocess.Popen, timeout: float = LINE_TIMEOUT) -> str:
    """The child's next stdout line; fails instead of hanging when none comes in time."""
    line: list[str] = []
    reader = threading.Thread(target=lambda: line.append(child.stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    if reader.is_alive():
        child.kill()  # ends the readline too
        pytest.fail(f"the crash driver printed nothing for {timeout:g} s")
    return line[0]


def corpus(folder: Path) -> Path:
    folder.mkdir()
    rng = random.Random(7)
    words = (
        "river mountain library engine harvest signal glacier copper violin orbit lantern"
        " meadow archive falcon quartz harbor"
    ).split()
    for i in range(24):
        paragraphs = [" ".join(rng.choice(words) for _ in range(60)) + "." for _ in range(6)]
        (folder / f"doc{i:02d}.md").write_text(
            f"# Document {i}\n\n" + "\n\n".join(paragraphs), encoding="utf-8"
        )
    return folder


def snapshot(kb) -> tuple[frozenset, frozenset, frozenset, int, frozenset]:
    store = kb.writable_store()
    ids = frozenset(store.collection.get(include=[])["ids"])
    return (
        ids,
        frozenset(kb.keyword.ids()),
        frozenset(kb.record_manager().list_keys()),
        store.count(),
        frozenset((r.source, r.file_sha256, r.chunks) for r in kb.documents()),
    )


@pytest.mark.slow
@pytest.mark.integration
def test_sigkill_at_random_points_then_rerun_matches_clean(tmp_path, make_kb):
    docs = corpus(tmp_path / "corpus")
    env = {**os.environ, "PYTHONPATH": str(DRIVER.parents[1])}
    # A child left to finish gives the reference store and how long its ingest takes.
    child = subprocess.Popen(
        [sys.executable, str(DRIVER), str(tmp_path / "clean"), str(docs)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert read_line(child).strip() == "READY"
    started = time.perf_counter()
    assert read_line(child).startswith("DONE")
    ingest_seconds = time.perf_counter() - started
    child.wait(timeout=60)
    clean = snapshot(make_kb(persist_dir=tmp_path / "clean", kb="crash"))
    assert clean[0] == clean[1] == clean[2] and clean[3] == len(clean[0]) > 24

    rng = random.Random(2026)
    killed_mid_ingest = 0
    for attempt in range(KILLS):
        store = tmp_path / f"run{attempt}"
        child = subprocess.Popen(
            [sys.executable, str(DRIVER), str(store), str(docs)],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert read_line(child).strip() == "READY"
        time.sleep(rng.uniform(0.0, ingest_seconds * 0.8))
        child.send_signal(signal.SIGKILL)
        rest = child.communicate(timeout=60)[0]
        killed_mid_ingest += "DONE" not in rest
        recovered = make_kb(persist_dir=store, kb="crash")
        recovered.ingest(docs)
        assert snapshot(recovered) == clean, f"kill #{attempt} left a different store"
    assert killed_mid_ingest >= KILLS // 2  # most kills landed inside the ingest
