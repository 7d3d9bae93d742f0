"""Locks between processes on one machine, on the ``filelock`` library.

- ``exclusive(path)``: one holder at a time, waiting as long as it takes (model cache builds).
- ``ingest_lock(path, wait_seconds)``: one ingest per knowledge base; a second one waits up to
  ``wait_seconds`` and then refuses with ``IngestLockedError``.
- ``unless_writing(path)``: a reader's shared hold on the ingest lock, taken only when no ingest
  holds it, so a store is never reopened while its files are half-written.

Every call makes a fresh ``FileLock`` (its own descriptor): filelock's instances are reentrant,
but two holders in one process (two threads, two knowledge-base objects) must exclude each other
exactly as two processes do.

>>> import tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "ingest.lock"
>>> with ingest_lock(path):
...     with unless_writing(path) as free:
...         free
False
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from rag.errors import IngestLockedError

POLL_SECONDS = 0.2


def _lock(path: Path, timeout: float) -> FileLock:
    path.parent.mkdir(parents=True, exist_ok=True)
    # preserve_lock_file: a reader's shared hold (below) must see the same inode as the writer.
    return FileLock(path, timeout=timeout, poll_interval=POLL_SECONDS, preserve_lock_file=True)


@contextmanager
def exclusive(path: Path) -> Iterator[None]:
    """Hold ``path`` exclusively, waiting for any other holder (other processes included)."""
    with _lock(path, timeout=-1):
        yield


@contextmanager
def ingest_lock(path: Path, wait_seconds: float = 0.0) -> Iterator[None]:
    """One ingest per knowledge base at a time; a second one waits or refuses clearly."""
    lock = _lock(path, timeout=max(wait_seconds, 0.0))
    try:
        lock.acquire()
    except Timeout:
        raise IngestLockedError(
            f"another ingest is writing to this knowledge base ({path}); wait for it"
            " to finish and run again"
        ) from None
    try:
        yield
    finally:
        lock.release()


@contextmanager
def unless_writing(path: Path) -> Iterator[bool]:
    """Yield True, holding a shared lock that keeps ingest out, when no ingest holds ``path``;
    yield False at once when one does.

    filelock's ``FileLock`` has no shared mode (its ``ReadWriteLock`` is a SQLite file, which the
    exclusive ingest lock is not), so this one hold is ``flock(LOCK_SH)`` on the same file: it
    conflicts with ``FileLock``'s ``LOCK_EX`` across processes and lets readers share.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
