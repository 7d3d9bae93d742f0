"""The file reader's child process refuses every network call, even to 127.0.0.1.

The code that runs in the child is what the reader is given: a splitter (pickled across) and
the parsers. Here the splitter is a probe that tries each way out while it "splits" a file and
writes what happened into its chunks; a listener on loopback shows whether a connection got
through. Without the child's audit hook (``ingest/worker.py``) the probe connects and this fails.
"""

from __future__ import annotations

import socket
from pathlib import Path

from ingest.worker import FileReader, Job
from tests.ingest.network_probe import NetworkProbe  # importable in the child, which unpickles it


def test_code_in_the_file_reader_cannot_reach_the_network(tmp_path: Path) -> None:
    (tmp_path / "note.txt").write_text("A file to read.\n", encoding="utf-8")
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        listener.settimeout(0.5)
        port = listener.getsockname()[1]
        reader = FileReader(
            NetworkProbe(port), timeout=60, max_file_mb=10, pdf_password=None, memory_mb=2048
        )
        with reader:
            [(_, outcome)] = list(
                reader.read([Job(1, tmp_path / "note.txt", tmp_path, "note.txt", 16)])
            )
        try:
            connection, _ = listener.accept()
        except TimeoutError:
            reached = False
        else:
            connection.close()
            reached = True
    assert not isinstance(outcome, str), f"the probe did not run: {outcome}"
    lines = [text for text, _ in outcome.chunks]
    assert [line.split(":")[0] for line in lines] == ["connect", "getaddrinfo", "sendto", "bind"]
    for line in lines:
        assert "refused: kbqa's file reader never uses the network" in line, lines
    assert not reached, "a connection from the file reader reached the loopback listener"
