"""``rag.locks`` on filelock keeps the semantics kbqa relies on, between processes and within one.

A second ingest refuses after its wait (``IngestLockedError``), or proceeds when the first one
ends within it; a reader's shared hold keeps ingest out and is refused while ingest writes;
two holders in one process exclude each other (filelock's own instances are reentrant).
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from rag.errors import IngestLockedError
from rag.locks import exclusive, ingest_lock, unless_writing

HOLD = """
import sys, time
from pathlib import Path
from rag.locks import {kind}
path = Path(sys.argv[1])
with {call} as held:
    print("held", held, flush=True)
    time.sleep(float(sys.argv[2]))
"""


def hold(path: Path, seconds: float, kind: str = "ingest_lock") -> subprocess.Popen[str]:
    """Another process holding ``path`` for ``seconds``; returns once it holds it."""
    call = {"ingest_lock": "ingest_lock(path)", "unless_writing": "unless_writing(path)"}[kind]
    child = subprocess.Popen(
        [sys.executable, "-c", HOLD.format(kind=kind, call=call), str(path), str(seconds)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    line = child.stdout.readline()
    assert line.startswith("held"), line
    return child


@pytest.fixture
def lock_path(tmp_path) -> Path:
    return tmp_path / "kb" / "ingest.lock"


def test_ingest_held_by_another_process_refuses_after_the_wait(lock_path):
    child = hold(lock_path, 30)
    try:
        started = time.monotonic()
        with pytest.raises(IngestLockedError, match="another ingest is writing"):
            with ingest_lock(lock_path, wait_seconds=0.6):
                pass
        assert time.monotonic() - started >= 0.5
    finally:
        child.kill()
        child.wait(timeout=60)


def test_ingest_proceeds_when_the_other_finishes_within_the_wait(lock_path):
    child = hold(lock_path, 0.5)
    try:
        with ingest_lock(lock_path, wait_seconds=20):
            pass
    finally:
        child.wait(10)


def test_reader_is_refused_while_another_process_ingests(lock_path):
    child = hold(lock_path, 30)
    try:
        with unless_writing(lock_path) as free:
            assert free is False
    finally:
        child.kill()
        child.wait(timeout=60)
    with unless_writing(lock_path) as free:
        assert free is True


def test_a_reading_process_keeps_ingest_out_and_readers_share(lock_path):
    child = hold(lock_path, 30, kind="unless_writing")
    try:
        with unless_writing(lock_path) as free:
            assert free is True  # shared with the other reader
        with pytest.raises(IngestLockedError):
            with ingest_lock(lock_path, wait_seconds=0.2):
                pass
    finally:
        child.kill()
        child.wait(timeout=60)


def test_two_holders_in_one_process_exclude_each_other(lock_path):
    with ingest_lock(lock_path):
        with pytest.raises(IngestLockedError):
            with ingest_lock(lock_path):
                pass
        with unless_writing(lock_path) as free:
            assert free is False


def test_exclusive_waits_for_the_other_thread(tmp_path):
    path = tmp_path / "cache" / ".lock"
    order: list[str] = []
    inside = threading.Event()

    def first() -> None:
        with exclusive(path):
            inside.set()
            time.sleep(0.3)
            order.append("first")

    thread = threading.Thread(target=first)
    thread.start()
    assert inside.wait(5)
    with exclusive(path):
        order.append("second")
    thread.join()
    assert order == ["first", "second"]
