"""The file reader process: a per-file time limit, a memory cap, crashes contained, no network.

These run the real child process (``python -m ingest.worker``) over real files; nothing in them
is patched, because a patch in the test process would not reach the child.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

import ingest.worker as worker
from tests.helpers import assert_consistent
from tests.ingest.whole_document import ConnectingSplitter, WholeDocument

pytestmark = pytest.mark.integration


def slow_text(path: Path, megabytes: int = 4) -> Path:
    """A real text file big enough that loading and splitting it takes seconds.

    Every sentence differs: the splitter remembers the token counts of repeated pieces, so a
    file of one sentence repeated would split in no time.
    """
    with path.open("w", encoding="utf-8") as out:
        n = 0
        while out.tell() < megabytes * 2**20:
            out.write(f"Splitting sentence {n} of this file takes the reader a while. ")
            n += 1
    return path


def small_docs(folder: Path, n: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    return [
        _write(folder / f"note{i}.txt", f"Note {i}: the warehouse on pier {i} opens at {i} am.")
        for i in range(n)
    ]


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def reader_children() -> list[psutil.Process]:
    return [
        p
        for p in psutil.Process().children(recursive=True)
        if "ingest.worker" in " ".join(p.cmdline())
    ]


def by_source(report):
    return {f.source: f for f in report.files}


@pytest.mark.slow  # the real MiniLM embedder (make_kb)
def test_a_file_over_the_time_limit_is_skipped_and_the_rest_ingested(make_kb, tmp_path):
    kb = make_kb(file_timeout=0.5)
    folder = tmp_path / "docs"
    small_docs(folder, 3)
    slow_text(folder / "huge.txt")
    report = kb.ingest(folder)
    files = by_source(report)
    assert files["huge.txt"].status == "failed"
    assert files["huge.txt"].reason == "took longer than 0.5 s to read (KBQA_FILE_TIMEOUT); skipped"
    # The notes after the slow file were read by a fresh child after the old one was killed.
    assert [files[f"note{i}.txt"].status for i in range(3)] == ["added"] * 3
    assert not report.ok
    assert_consistent(kb)


@pytest.mark.slow  # the real MiniLM embedder (make_kb)
def test_the_same_file_is_read_when_the_limit_allows_it(make_kb, tmp_path):
    kb = make_kb(file_timeout=120)
    folder = tmp_path / "docs"
    folder.mkdir()
    slow_text(folder / "big.txt", megabytes=1)
    report = kb.ingest(folder)
    assert by_source(report)["big.txt"].status == "added"


@pytest.mark.slow  # the real MiniLM embedder (make_kb)
def test_a_reader_killed_mid_file_costs_that_file_only(make_kb, tmp_path):
    """What the kernel's OOM killer or a segfault in a C parser looks like to kbqa."""
    kb = make_kb()
    warm = tmp_path / "warm"
    warm.mkdir()
    # A first ingest leaves an idle reader process, ready for the next one.
    kb.ingest(_write(warm / "warm.txt", "A first, small file."))
    [child] = reader_children()
    folder = tmp_path / "docs"
    folder.mkdir()
    slow_text(folder / "a-slow.txt")
    small_docs(folder, 2)
    idle_cpu = sum(child.cpu_times()[:2])

    def kill_mid_file() -> None:
        # The idle reader uses no CPU; once it has used some, it is inside a-slow.txt.
        deadline = time.monotonic() + 120  # a reader that never gets busy fails the test below
        while sum(child.cpu_times()[:2]) - idle_cpu < 0.3 and time.monotonic() < deadline:
            time.sleep(0.02)
        child.kill()

    killer = threading.Thread(target=kill_mid_file)
    killer.start()
    try:
        report = kb.ingest(folder)
    finally:
        killer.join()
    files = by_source(report)
    assert files["a-slow.txt"].status == "failed"
    assert files["a-slow.txt"].reason.startswith("the file reader crashed on this file (killed by")
    assert files["note0.txt"].status == files["note1.txt"].status == "added"
    assert_consistent(kb)


def read_with_cap(jobs: list[worker.Job], memory_mb: int) -> tuple[dict[str, object], int]:
    """Each job's outcome through a real reader process capped at ``memory_mb``, and its pid."""
    reader = worker.FileReader(
        WholeDocument(), timeout=120, max_file_mb=1000, pdf_password=None, memory_mb=memory_mb
    )
    with reader:
        outcomes = {job.source: outcome for job, outcome in reader.read(jobs)}
    return outcomes, worker._idle[-1].proc.pid  # the reader goes back to the pool, alive


def address_space_headroom_mb(pid: int) -> float:
    """The child's soft RLIMIT_AS minus what it has mapped now, in MB (read from /proc)."""
    limits = Path(f"/proc/{pid}/limits").read_text().splitlines()
    [soft] = [line.split()[3] for line in limits if line.startswith("Max address space")]
    assert soft != "unlimited", "the reader runs without a memory cap"
    status = Path(f"/proc/{pid}/status").read_text().splitlines()
    [mapped_kb] = [int(line.split()[1]) for line in status if line.startswith("VmSize:")]
    return (int(soft) - mapped_kb * 1024) / 2**20


def jobs_for(folder: Path, *names: str) -> list[worker.Job]:
    return [
        worker.Job(seq, folder / name, folder, name, (folder / name).stat().st_size)
        for seq, name in enumerate(names)
    ]


@pytest.mark.slow
def test_each_ingest_reads_under_the_memory_cap_it_asks_for(tmp_path):
    folder = tmp_path / "docs"
    small_docs(folder, 1)
    with open(folder / "big.txt", "wb") as handle:
        # 40 MB of text: reading it maps about 420 MB (decoding and normalising copy it).
        handle.write(b"word " * (8 * 2**20))
    note = jobs_for(folder, "note0.txt")

    outcomes, pid = read_with_cap(note, 256)
    assert isinstance(outcomes["note0.txt"], worker.Loaded)
    assert 192 < address_space_headroom_mb(pid) <= 256
    # The same process, kept between ingests, serves the next one under its own cap.
    outcomes, same = read_with_cap(note, 1024)
    assert same == pid
    assert 960 < address_space_headroom_mb(pid) <= 1024

    # A file that needs more than 256 MB fails alone under 256 MB and is read under 1024 MB.
    outcomes, same = read_with_cap(jobs_for(folder, "big.txt", "note0.txt"), 256)
    assert same == pid
    assert outcomes["big.txt"] == ("needs more than 256 MB of memory to read (KBQA_FILE_MEMORY_MB)")
    assert isinstance(outcomes["note0.txt"], worker.Loaded)
    outcomes, same = read_with_cap(jobs_for(folder, "big.txt"), 1024)
    assert same == pid
    loaded = outcomes["big.txt"]
    assert isinstance(loaded, worker.Loaded), loaded
    assert len(loaded.chunks[0][0]) > 39 * 2**20


@pytest.mark.slow  # the real MiniLM embedder (make_kb)
def test_files_that_change_or_vanish_while_ingested_are_reported_and_kept_for_next_run(
    make_kb, tmp_path
):
    kb = make_kb()
    folder = tmp_path / "docs"
    paths = small_docs(folder, 5)

    def meddle(done: int, total: int, source: str) -> None:
        # Files 2 and 3 are already hashed and handed to the reader when file 1 is done.
        if done == 1:
            paths[1].unlink()
            _write(paths[2], "Note 2 was rewritten: the pier is closed for repairs.")

    report = kb.ingest(folder, progress=meddle)
    files = by_source(report)
    assert files["note1.txt"].reason == "vanished while it was being ingested"
    assert files["note2.txt"].reason == (
        "changed while it was being ingested; run ingest again to index it"
    )
    assert {files[f"note{i}.txt"].status for i in (0, 3, 4)} == {"added"}
    assert_consistent(kb)

    again = by_source(kb.ingest(folder))
    assert "note1.txt" not in again  # it was never stored, so there is nothing to remove
    assert again["note2.txt"].status == "added"
    assert "closed for repairs" in kb.retrieve("Is the pier closed?")[0].text
    assert_consistent(kb)


@pytest.mark.slow  # the real MiniLM embedder (make_kb)
def test_special_files_are_not_read(make_kb, tmp_path):
    kb = make_kb()
    folder = tmp_path / "docs"
    small_docs(folder, 1)
    os.mkfifo(folder / "pipe.txt")  # reading a FIFO without a writer blocks forever
    (folder / "zeros.txt").symlink_to("/dev/zero")  # never ends
    files = by_source(kb.ingest(folder))
    assert files["pipe.txt"].reason == files["zeros.txt"].reason == "not a regular file; skipped"
    assert files["note0.txt"].status == "added"


@pytest.mark.slow  # the real MiniLM embedder (make_kb)
def test_one_reader_process_serves_consecutive_ingests(make_kb, tmp_path):
    kb = make_kb()
    folder = tmp_path / "docs"
    paths = small_docs(folder, 2)
    kb.ingest(folder)
    assert worker._idle, "the reader was not kept for the next ingest"
    pid = worker._idle[-1].proc.pid
    _write(paths[0], "Note 0 changed: the warehouse opens at noon.")
    kb.ingest(folder)
    assert worker._idle[-1].proc.pid == pid


@pytest.mark.slow  # the real MiniLM embedder (make_kb)
def test_an_ingest_refused_before_reading_leaves_no_reader_behind(make_kb, tmp_path):
    # The reader starts before the store opens (its imports overlap the store's); an ingest
    # refused there must hand it back, or a long-lived app would gather one per refusal.
    from rag.errors import SplitterMismatchError

    folder = tmp_path / "docs"
    small_docs(folder, 2)
    make_kb().ingest(folder)
    other = make_kb(chunk_size=120, chunk_overlap=10)
    for _ in range(3):
        with pytest.raises(SplitterMismatchError):
            other.ingest(folder)
    assert len(reader_children()) == 1, "refused ingests left reader processes running"
    assert len(worker._idle) == 1


@pytest.mark.slow  # the real MiniLM embedder (make_kb)
def test_in_process_reading_when_the_limit_is_off(make_kb, tmp_path):
    kb = make_kb(file_timeout=0)
    folder = tmp_path / "docs"
    small_docs(folder, 2)
    before = {c.pid for c in reader_children()}
    report = kb.ingest(folder)
    assert report.files_added == 2
    assert {c.pid for c in reader_children()} <= before  # no new reader was started


def test_the_reader_refuses_every_network_call():
    code = (
        "import socket, sys\n"
        "from ingest.worker import _refuse_network\n"
        "sys.addaudithook(_refuse_network)\n"
        "try:\n"
        "    socket.create_connection(('127.0.0.1', 9), timeout=1)\n"
        "except PermissionError as exc:\n"
        "    print(exc)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert "kbqa's file reader never uses the network" in out


def test_the_reader_process_runs_with_the_network_refused(tmp_path):
    # Code running in the reader (a parser, here the splitter) that opens a socket is refused by
    # the audit hook; without it the connection would be tried (and refused by the port instead).
    folder = tmp_path / "docs"
    small_docs(folder, 1)
    reader = worker.FileReader(
        ConnectingSplitter(), timeout=60, max_file_mb=1, pdf_password=None, memory_mb=512
    )
    with reader:
        [(_, outcome)] = list(reader.read(jobs_for(folder, "note0.txt")))
    assert outcome.startswith("PermissionError: kbqa's file reader never uses the network")
