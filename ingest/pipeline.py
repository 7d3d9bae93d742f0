"""The indexing pipeline: discover → load → split → embed → upsert/delete.

Chunk bookkeeping is LangChain's indexing API (``langchain_core.indexing.index``) with a SQL
record manager beside the Chroma files: a chunk's id is the sha256 of its text and metadata
(source, file hash, position, splitter), unchanged chunks are skipped, and a changed file's old
chunks are cleaned up. Around it kbqa adds what the API does not: a per-file registry so an
unchanged file is not even read, pruning of deleted files (but never of files that merely failed
to load this time), an embedding cache keyed by text so a renamed file is not embedded again, and
a per-file report.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from langchain_core.documents import Document
from langchain_core.indexing import index

from ingest.split import TokenSplitter
from ingest.worker import FileReader, Job, Loaded
from rag.errors import LoaderError
from rag.locks import ingest_lock
from rag.types import FileRecord, FileResult, IngestReport

if TYPE_CHECKING:
    from langchain_core.indexing import RecordManager
    from langchain_core.vectorstores import VectorStore

    from rag.settings import Settings

log = logging.getLogger(__name__)

# Chunks per index() call, embedded in one encode() call. sentence-transformers sorts a call's
# texts by length before batching, so the bigger the call the less padding: on the dev corpus
# 256 chunks a call pad 14.6% extra tokens, 1,024 pad 4.4% (all at once: 2.2%).
FLUSH_CHUNKS = 1024
# The first flush is smaller, so the encoder starts as soon as a few files are read instead of
# waiting for 1,024 chunks (1.5 s of idle encoder on the dev corpus).
FIRST_FLUSH_CHUNKS = 128
Progress = Callable[[int, int, str], None]


class Registry(Protocol):
    """Which files a knowledge base holds (``rag.store.FileRegistry``, or a fake in tests)."""

    def get(self, source: str) -> FileRecord | None: ...

    def all(self) -> list[FileRecord]: ...

    def put(self, record: FileRecord) -> None: ...

    def delete(self, source: str) -> None: ...


def remove_source(
    source: str, *, store: VectorStore, record_manager: RecordManager, registry: Registry
) -> int:
    """Delete one file's chunks from the store and the record manager; forget the file."""
    keys = record_manager.list_keys(group_ids=[source])
    if keys:
        store.delete(keys)
        record_manager.delete_keys(keys)
    registry.delete(source)
    return len(keys)


@dataclass
class Candidate:
    path: Path
    source: str


def discover(root: Path, extensions: list[str]) -> tuple[list[Candidate], list[FileResult]]:
    """Files under ``root`` to ingest (sorted), and the ones skipped or failed on the way.

    Hidden files and folders are ignored; symlinked folders are followed once (a loop is
    reported, not followed forever).
    """
    if root.is_file():
        return [Candidate(root, root.name)], []
    found: list[Candidate] = []
    other: list[FileResult] = []
    seen_dirs: set[tuple[int, int]] = set()

    def walk(folder: Path) -> None:
        try:
            st = folder.stat()
        except OSError as exc:
            other.append(
                FileResult(_rel(folder, root), "failed", reason=f"unreadable: {exc.strerror}")
            )
            return
        if (st.st_dev, st.st_ino) in seen_dirs:
            other.append(
                FileResult(_rel(folder, root), "failed", reason="symlink loop, not followed")
            )
            return
        seen_dirs.add((st.st_dev, st.st_ino))
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as exc:
            other.append(
                FileResult(_rel(folder, root), "failed", reason=f"unreadable: {exc.strerror}")
            )
            return
        for entry in entries:
            if entry.name.startswith("."):
                continue
            path = Path(entry.path)
            try:
                is_dir = entry.is_dir(follow_symlinks=True)
            except OSError as exc:
                other.append(
                    FileResult(_rel(path, root), "failed", reason=f"unreadable: {exc.strerror}")
                )
                continue
            if is_dir:
                walk(path)
            elif entry.is_symlink() and not path.exists():
                other.append(FileResult(_rel(path, root), "failed", reason="broken symlink"))
            elif not entry.is_file(follow_symlinks=True):
                # A FIFO would block the read forever, /dev/zero would never end.
                other.append(
                    FileResult(_rel(path, root), "failed", reason="not a regular file; skipped")
                )
            elif path.suffix.lower() in extensions:
                found.append(Candidate(path, _rel(path, root)))
            else:
                other.append(
                    FileResult(
                        _rel(path, root),
                        "skipped",
                        reason=f"unsupported file type {path.suffix or '(none)'}",
                    )
                )

    walk(root)
    return found, other


def _rel(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


def file_sha256(path: Path) -> str:
    """The file's sha256 (``hashlib.file_digest``: no Python loop over blocks)."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


@dataclass
class Plan:
    """A file that needs reading: its hash, and its size and mtime when hashed."""

    candidate: Candidate
    sha: str
    stat: os.stat_result
    added: bool


@dataclass
class Pending:
    candidate: Candidate
    sha: str
    status: str
    chunks: list[Document]
    pages: int
    title: str
    lang: str
    size: int


class Ingestor:
    """Runs the pipeline for one knowledge base (see module docstring).

    Its parts are handed in: ``splitter`` cuts documents into chunks, ``open_store`` returns the
    store to write (called under the ingest lock, after the file reader has started, so opening
    it overlaps the reader's imports), ``registry`` and ``record_manager`` keep the bookkeeping,
    and ``embedder_id`` is stamped on every chunk. ``settings`` gives the knowledge base's name,
    folder and the reader's limits.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        splitter: TokenSplitter,
        open_store: Callable[[], VectorStore],
        registry: Registry,
        record_manager: RecordManager,
        embedder_id: str,
    ) -> None:
        self.settings = settings
        self.splitter = splitter
        self.open_store = open_store
        self.registry = registry
        self.record_manager = record_manager
        self.embedder_id = embedder_id

    def run(
        self,
        root: Path,
        *,
        prune: bool = True,
        progress: Progress | None = None,
        show_progress: bool | None = None,
        only: set[str] | None = None,
    ) -> IngestReport:
        """Ingest ``root`` (a folder or one file); ``only`` restricts it to those sources."""
        started = time.perf_counter()
        root = Path(root).expanduser()
        if not root.exists():
            raise LoaderError(str(root), "no such file or folder")
        root = root.resolve()
        report = IngestReport(kb=self.settings.kb, root=str(root))
        lock = ingest_lock(self.settings.kb_dir / "ingest.lock", wait_seconds=2.0)
        with lock, ExitStack() as stack:
            splitter = self.splitter
            # Started now, so the file reader's imports overlap opening the store.
            reader = stack.enter_context(
                FileReader(
                    splitter,
                    timeout=self.settings.file_timeout,
                    max_file_mb=self.settings.max_file_mb,
                    pdf_password=self.settings.pdf_password,
                    memory_mb=self.settings.file_memory_mb,
                )
            )
            store = self.open_store()
            registry = self.registry
            record_manager = self.record_manager
            candidates, other = discover(root, self.settings.extensions)
            if only is not None:
                candidates = [c for c in candidates if c.source in only]
                other = [f for f in other if f.source in only]
            report.files.extend(other)
            bar = _progress_bar(len(candidates), show_progress)
            done = 0

            def tick(source: str) -> None:
                nonlocal done
                done += 1
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(chunks=report.chunks_written, refresh=False)
                if progress:
                    progress(done, len(candidates), source)

            plans: dict[int, Plan] = {}
            seen: set[str] = set()

            def jobs() -> Iterator[Job]:
                """Files to read; unchanged and unreadable ones are settled here."""
                for seq, cand in enumerate(candidates):
                    seen.add(cand.source)
                    plan = self._plan(cand, registry)
                    if isinstance(plan, FileResult):
                        report.files.append(plan)
                        tick(cand.source)
                        continue
                    plans[seq] = plan
                    folder = root if root.is_dir() else cand.path.parent
                    yield Job(seq, cand.path, folder, cand.source, plan.stat.st_size)

            pending: list[Pending] = []
            n_pending = 0
            flush_at = FIRST_FLUSH_CHUNKS
            for job, outcome in reader.read(jobs()):
                result = self._pending(plans.pop(job.seq), outcome, splitter)
                if isinstance(result, Pending):
                    pending.append(result)
                    n_pending += len(result.chunks)
                else:
                    report.files.append(result)
                if n_pending >= flush_at:
                    self._flush(pending, store, record_manager, registry, root, report)
                    pending, n_pending, flush_at = [], 0, FLUSH_CHUNKS
                tick(job.source)
            self._flush(pending, store, record_manager, registry, root, report)
            if bar is not None:
                bar.close()
            if prune and root.is_dir():
                failed = {f.source for f in report.files if f.status == "failed"}
                for record in registry.all():
                    if record.root == str(root) and record.source not in seen | failed:
                        report.chunks_deleted += remove_source(
                            record.source,
                            store=store,
                            record_manager=record_manager,
                            registry=registry,
                        )
                        report.files.append(
                            FileResult(record.source, "removed", chunks=record.chunks)
                        )
        report.files.sort(key=lambda f: f.source)
        report.seconds = time.perf_counter() - started
        return report

    def _plan(self, cand: Candidate, registry: Registry) -> Plan | FileResult:
        """Hash the file; an unchanged one is settled without being read."""
        try:
            before = cand.path.stat()
            sha = file_sha256(cand.path)
        except OSError as exc:
            return FileResult(cand.source, "failed", reason=f"unreadable: {exc.strerror or exc}")
        previous = registry.get(cand.source)
        if previous is not None and previous.file_sha256 == sha:
            return FileResult(cand.source, "unchanged", chunks=previous.chunks)
        return Plan(cand, sha, before, added=previous is None)

    def _pending(
        self, plan: Plan, outcome: Loaded | str, splitter: TokenSplitter
    ) -> Pending | FileResult:
        """The read file's chunks, stamped; or why it failed, or that it changed meanwhile."""
        source = plan.candidate.source
        try:
            after = plan.candidate.path.stat()
        except OSError:
            return FileResult(source, "failed", reason="vanished while it was being ingested")
        if (after.st_size, after.st_mtime_ns) != (plan.stat.st_size, plan.stat.st_mtime_ns):
            return FileResult(
                source,
                "failed",
                reason="changed while it was being ingested; run ingest again to index it",
            )
        if isinstance(outcome, str):
            return FileResult(source, "failed", reason=outcome)
        if not outcome.chunks:
            return FileResult(source, "failed", reason="no text to index")
        chunks = [Document(page_content=text, metadata=meta) for text, meta in outcome.chunks]
        for position, chunk in enumerate(chunks):
            chunk.metadata.update(
                source=source,
                file_sha256=plan.sha,
                chunk=position,
                splitter=splitter.id,
                embedder=self.embedder_id,
            )
        return Pending(
            candidate=plan.candidate,
            sha=plan.sha,
            status="added" if plan.added else "updated",
            chunks=chunks,
            pages=outcome.pages,
            title=outcome.title,
            lang=outcome.lang,
            size=plan.stat.st_size,
        )

    def _flush(
        self,
        pending: list[Pending],
        store: Any,
        record_manager: Any,
        registry: Any,
        root: Path,
        report: IngestReport,
    ) -> None:
        if not pending:
            return
        docs = [chunk for p in pending for chunk in p.chunks]
        try:
            # One call per group and batch_size >= its chunks: incremental cleanup then never
            # deletes a file's chunks that a later batch of the same call would re-add.
            result = index(
                docs,
                record_manager,
                store,
                cleanup="incremental",
                source_id_key="source",
                batch_size=len(docs),
                key_encoder="sha256",
            )
        except Exception as exc:  # noqa: BLE001 - report the files, keep what is stored
            log.debug("index() failed", exc_info=True)
            for p in pending:
                report.files.append(
                    FileResult(p.candidate.source, "failed", reason=f"could not index: {exc}")
                )
            return
        report.chunks_written += result["num_added"] + result["num_updated"]
        report.chunks_deleted += result["num_deleted"]
        for p in pending:
            registry.put(
                FileRecord(
                    source=p.candidate.source,
                    file_sha256=p.sha,
                    size=p.size,
                    chunks=len(p.chunks),
                    pages=p.pages,
                    title=p.title,
                    lang=p.lang,
                    ingested_at=time.time(),
                    root=str(root if root.is_dir() else root.parent),
                )
            )
            report.files.append(FileResult(p.candidate.source, p.status, chunks=len(p.chunks)))  # type: ignore[arg-type]


def _progress_bar(total: int, show: bool | None) -> Any:
    """A tqdm bar on a terminal; nothing when output is piped or logged."""
    if show is None:
        show = sys.stderr.isatty()
    if not show or total == 0:
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="file", desc="ingest", file=sys.stderr)
