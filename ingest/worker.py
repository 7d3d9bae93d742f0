"""Read and split files in a child process: a per-file time limit, a memory cap, no network.

A parser fed a hostile file can loop forever (a malformed PDF cross-reference table), inflate a
few kilobytes into gigabytes, or crash the interpreter inside a C extension. In the ingest
process none of that can be contained: a Python thread cannot be stopped, and a crash takes the
whole ingest with it. So kbqa reads each file in a long-lived child process (``python -m
ingest.worker``) and, when a file runs past ``file_timeout`` or the child dies, reports that one
file, kills the child and starts a fresh one for the rest. The child's address space is capped
and it refuses every network call (an audit hook), so no parser can reach outside the machine.
The cap is set again for each ingest, from that ingest's ``file_memory_mb``: a child kept between
ingests serves the next one under the cap the next one asks for.

The child reads ahead: while the ingest process embeds a batch of chunks, the child is already
loading and splitting the next files, on the other core.

Protocol (pickled messages over two pipes; the child's stdin/stdout stay unused):
    parent → child  ("config", key, splitter pickle, max_file_mb, pdf_password, memory_mb)
                    ("read", seq, path, root, source)
    child → parent  ("hello", pid) once; per file ("start", seq, monotonic time) then
                    ("ok", seq, Loaded) or ("error", seq, reason)
"""

from __future__ import annotations

import atexit
import logging
import os
import pickle
import queue
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from rag.errors import KbqaError, LoaderError

log = logging.getLogger(__name__)

# How far the child may read ahead of the ingest: while the ingest process embeds a batch, the
# child loads and splits the next files (in parallel, since it is another process).
READ_AHEAD_FILES = 16
READ_AHEAD_BYTES = 64 * 2**20  # of source files, so a few huge files cannot pile up in memory
START_TIMEOUT = 120.0  # seconds a new child may take to import its parsers
PACKAGE_ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Loaded:
    """One file, read and split: chunk texts with their metadata, and what the registry keeps."""

    chunks: list[tuple[str, dict[str, Any]]]
    pages: int
    title: str
    lang: str


@dataclass(frozen=True)
class Job:
    seq: int
    path: Path
    root: Path
    source: str
    size: int = 0


def read_and_split(
    path: Path,
    root: Path,
    source: str,
    splitter: Any,
    *,
    max_file_mb: float,
    pdf_password: str | None,
) -> Loaded:
    """Load ``path`` and split it; raises ``LoaderError`` for anything wrong with the file."""
    from ingest.loaders import load_file

    docs = load_file(path, root, max_file_mb=max_file_mb, pdf_password=pdf_password)
    chunks: list[tuple[str, dict[str, Any]]] = []
    for doc in docs:
        doc.metadata["source"] = source
        chunks.extend((c.page_content, c.metadata) for c in splitter.split(doc))
    card = splitter.card(docs) if hasattr(splitter, "card") else None  # ingest.cards
    if card is not None:
        chunks.append((card.page_content, card.metadata))
    first = docs[0].metadata
    return Loaded(
        chunks=chunks,
        pages=max((d.metadata.get("page", 1) for d in docs), default=1),
        title=str(first.get("title", "")),
        lang=str(first.get("lang", "en")),
    )


def read_outcome(
    job: Job,
    splitter: Any,
    *,
    max_file_mb: float,
    pdf_password: str | None,
    memory_mb: int | None = None,
) -> Loaded | str:
    """``read_and_split`` of one job, or why it failed: one bad file must not stop the others.

    ``memory_mb`` is the reader's memory cap, named when a file runs into it.
    """
    try:
        return read_and_split(
            job.path,
            job.root,
            job.source,
            splitter,
            max_file_mb=max_file_mb,
            pdf_password=pdf_password,
        )
    except LoaderError as exc:
        return exc.reason
    except MemoryError:
        if memory_mb is None:
            return "needs more memory to read than this machine has free"
        return f"needs more than {memory_mb} MB of memory to read (KBQA_FILE_MEMORY_MB)"
    except Exception as exc:  # noqa: BLE001 - a parser bug costs one file, not the ingest
        log.debug("unexpected failure reading %s", job.path, exc_info=True)
        return f"{type(exc).__name__}: {exc}"


# --- parent side ----------------------------------------------------------------------------


class _Child:
    """One ``python -m ingest.worker`` process and its two pipes."""

    def __init__(self) -> None:
        to_child_r, to_child_w = os.pipe()
        from_child_r, from_child_w = os.pipe()
        env = dict(os.environ)
        env.update(
            TOKENIZERS_PARALLELISM="false",
            OMP_NUM_THREADS="1",
            HF_HUB_OFFLINE="1",
            TRANSFORMERS_OFFLINE="1",
            PYTHONPATH=os.pathsep.join(filter(None, [str(PACKAGE_ROOT), env.get("PYTHONPATH")])),
        )
        self.stderr = tempfile.TemporaryFile()
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "ingest.worker", str(to_child_r), str(from_child_w)],
                pass_fds=(to_child_r, from_child_w),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=self.stderr,
                env=env,
                cwd=str(PACKAGE_ROOT),
            )
        finally:
            os.close(to_child_r)
            os.close(from_child_w)
        self.send_conn = Connection(to_child_w, readable=False)
        self.recv_conn = Connection(from_child_r, writable=False)
        self.config_key: str | None = None
        self.inbox: queue.SimpleQueue[tuple[str, int, Any] | None] = queue.SimpleQueue()
        self._started = False

    def started(self) -> _Child:
        """Wait for the child's hello (once): it imports the parsers first, about 0.5 s."""
        if self._started:
            return self
        if not self.recv_conn.poll(START_TIMEOUT):
            self.kill()
            raise KbqaError("the file reader process did not start within 120 s")
        try:
            self.recv_conn.recv()  # ("hello", pid)
        except EOFError:
            raise KbqaError(
                f"the file reader process could not start: {self.stderr_tail()}"
            ) from None
        # Messages are drained as they come, so the child never blocks on a full pipe while
        # the ingest process is busy embedding; None marks the end of the pipe.
        threading.Thread(target=self._drain, daemon=True).start()
        self._started = True
        return self

    def _drain(self) -> None:
        while True:
            try:
                self.inbox.put(self.recv_conn.recv())
            except (EOFError, OSError):
                self.inbox.put(None)
                return

    def send(self, message: tuple[Any, ...]) -> None:
        self.send_conn.send(message)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stderr_tail(self) -> str:
        self.stderr.seek(0)
        lines = self.stderr.read().decode("utf-8", "replace").strip().splitlines()
        return lines[-1] if lines else "no error output"

    def death(self) -> str:
        """Why the child ended, in words."""
        code = self.proc.wait(timeout=5)
        if code < 0:
            return f"killed by {signal.Signals(-code).name}"
        return f"exit status {code}"

    def kill(self) -> None:
        if self.alive():
            self.proc.kill()
        self.proc.wait()
        for conn in (self.send_conn, self.recv_conn):
            try:
                conn.close()
            except (OSError, AttributeError):
                pass
        self.stderr.close()


_idle: list[_Child] = []  # children kept between ingests: starting one costs about a second
_idle_lock = threading.Lock()


@atexit.register
def _stop_idle() -> None:
    with _idle_lock:
        while _idle:
            _idle.pop().kill()


class FileReader:
    """Reads files in a child process, in order, a few ahead of the caller.

    ``timeout`` is the most seconds one file may take to load and split; 0 reads in this process
    instead (no limit, no isolation: for debugging).
    """

    def __init__(
        self,
        splitter: Any,
        *,
        timeout: float,
        max_file_mb: float,
        pdf_password: str | None,
        memory_mb: int,
    ) -> None:
        self.splitter = splitter
        self.timeout = timeout
        self.max_file_mb = max_file_mb
        self.pdf_password = pdf_password
        self.memory_mb = memory_mb
        self._child: _Child | None = None
        self._config: tuple[Any, ...] | None = None

    def read(self, jobs: Iterable[Job]) -> Iterator[tuple[Job, Loaded | str]]:
        """``(job, Loaded)`` or ``(job, failure reason)`` for each job, in order."""
        if self.timeout == 0:
            for job in jobs:
                yield (
                    job,
                    read_outcome(
                        job,
                        self.splitter,
                        max_file_mb=self.max_file_mb,
                        pdf_password=self.pdf_password,
                    ),
                )
            return
        waiting: deque[Job] = deque()
        pending = iter(jobs)
        try:
            while True:
                while (
                    len(waiting) <= READ_AHEAD_FILES
                    and sum(j.size for j in waiting) < READ_AHEAD_BYTES
                    and (next_job := next(pending, None)) is not None
                ):
                    self._submit(next_job)
                    waiting.append(next_job)
                if not waiting:
                    return
                outcome = self._wait(waiting)
                yield waiting.popleft(), outcome
        finally:
            self._release(clean=not waiting)

    def _config_message(self) -> tuple[Any, ...]:
        if self._config is None:
            try:
                blob = pickle.dumps(self.splitter)
            except Exception as exc:  # noqa: BLE001 - say which setting cannot cross over
                raise KbqaError(
                    f"the splitter for this embedder cannot be sent to the file reader process"
                    f" ({type(exc).__name__}: {exc}); set KBQA_FILE_TIMEOUT=0 to read in-process"
                ) from None
            key = f"{id(self)}-{time.monotonic_ns()}"
            self._config = (
                "config",
                key,
                blob,
                self.max_file_mb,
                self.pdf_password,
                self.memory_mb,
            )
        return self._config

    def __enter__(self) -> FileReader:
        """Start the child now, so its imports overlap the caller's own start-up."""
        if self.timeout != 0:
            self._take_child()
        return self

    def __exit__(self, *exc: object) -> None:
        self._release(clean=True)  # a child left mid-file was already killed by read()

    def _take_child(self) -> _Child:
        if self._child is None or not self._child.alive():
            if self._child is not None:
                self._child.kill()
            with _idle_lock:
                while _idle and self._child is None:
                    candidate = _idle.pop()
                    if candidate.alive():
                        self._child = candidate
                    else:
                        candidate.kill()
            if self._child is None:
                self._child = _Child()
        return self._child

    def _ensure_child(self) -> _Child:
        self._child = self._take_child().started()
        config = self._config_message()
        if self._child.config_key != config[1]:
            self._child.send(config)
            self._child.config_key = config[1]
        return self._child

    def _submit(self, job: Job) -> None:
        self._ensure_child().send(("read", job.seq, str(job.path), str(job.root), job.source))

    def _restart(self, resubmit: Iterable[Job]) -> None:
        if self._child is not None:
            self._child.kill()
            self._child = None
        for job in resubmit:
            self._submit(job)

    def _wait(self, waiting: deque[Job]) -> Loaded | str:
        """The outcome of ``waiting[0]``; restarts the child if it hangs or dies on that file."""
        job = waiting[0]
        child = self._child
        assert child is not None
        deadline = time.monotonic() + self.timeout  # until the child says it has started
        while True:
            try:
                message = child.inbox.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                self._restart(list(waiting)[1:])
                return f"took longer than {self.timeout:g} s to read (KBQA_FILE_TIMEOUT); skipped"
            if message is None:
                why = child.death()
                self._restart(list(waiting)[1:])
                return f"the file reader crashed on this file ({why}); skipped"
            kind, seq, payload = message
            if seq != job.seq:
                raise KbqaError(f"file reader out of step: expected file {job.seq}, got {seq}")
            if kind == "start":
                deadline = payload + self.timeout
            elif kind == "ok":
                return payload  # type: ignore[no-any-return]
            else:
                return str(payload)

    def _release(self, *, clean: bool) -> None:
        """Keep a child that finished cleanly for the next ingest; kill one left mid-file."""
        child, self._child = self._child, None
        if child is None:
            return
        if clean and child.alive():
            with _idle_lock:
                _idle.append(child)
        else:
            child.kill()


# --- child side -----------------------------------------------------------------------------


def _refuse_network(event: str, args: tuple[Any, ...]) -> None:
    if event in {"socket.connect", "socket.bind", "socket.getaddrinfo", "socket.sendto"}:
        raise PermissionError(f"kbqa's file reader never uses the network ({event})")


def _mapped_bytes() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0  # pragma: no cover - every Linux has VmSize


def _cap_memory(memory_mb: int | None) -> None:
    """Limit the address space to what is mapped now plus ``memory_mb``; ``None`` lifts the cap.

    Only the soft limit moves: a process may lower its hard limit but never raise it again, and
    the next ingest this child serves may ask for more (``KBQA_FILE_MEMORY_MB`` changed in a
    running app).
    """
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = hard if memory_mb is None else _mapped_bytes() + memory_mb * 2**20
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def _exit_with_parent() -> None:
    parent = os.getppid()
    while True:
        time.sleep(1.0)
        if os.getppid() != parent:
            os._exit(0)


def _serve(recv: Connection, send: Connection) -> None:
    sys.addaudithook(_refuse_network)
    logging.disable(logging.WARNING)  # parsers' complaints about broken files go into reasons
    threading.Thread(target=_exit_with_parent, daemon=True).start()
    import ingest.loaders  # noqa: F401 - import the parsers before the memory cap applies

    send.send(("hello", os.getpid(), None))
    splitter: Any = None
    options: dict[str, Any] = {}
    while True:
        try:
            message = recv.recv()
        except EOFError:
            return
        if message[0] == "config":  # a new ingest: its splitter, options and memory cap
            _, _, blob, max_file_mb, pdf_password, memory_mb = message
            _cap_memory(None)  # the splitter loads outside any file's budget
            splitter = pickle.loads(blob)
            options = {
                "max_file_mb": max_file_mb,
                "pdf_password": pdf_password,
                "memory_mb": memory_mb,
            }
            _cap_memory(memory_mb)
            continue
        _, seq, path, root, source = message
        send.send(("start", seq, time.monotonic()))
        job = Job(seq, Path(path), Path(root), source)
        outcome = read_outcome(job, splitter, **options)
        send.send(("error", seq, outcome) if isinstance(outcome, str) else ("ok", seq, outcome))


if __name__ == "__main__":
    # Serve from the imported module, not __main__, so what is pickled (Loaded) names
    # ingest.worker, which the parent can unpickle.
    from ingest.worker import _serve as serve

    serve(
        Connection(int(sys.argv[1]), writable=False), Connection(int(sys.argv[2]), readable=False)
    )
