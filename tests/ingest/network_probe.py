"""A splitter that tries the network from wherever it runs (``test_reader_offline.py``).

It lives in its own module, importable as ``tests.ingest.network_probe``, because the file
reader's child process unpickles it.
"""

from __future__ import annotations

import socket

from langchain_core.documents import Document


class NetworkProbe:
    """A splitter that tries the network from wherever it runs and reports each attempt."""

    def __init__(self, port: int) -> None:
        self.port = port

    def split(self, doc: Document) -> list[Document]:
        attempts = {
            "connect": lambda: socket.create_connection(("127.0.0.1", self.port), timeout=5),
            "getaddrinfo": lambda: socket.getaddrinfo("localhost", self.port),
            "sendto": lambda: socket.socket(type=socket.SOCK_DGRAM).sendto(
                b"x", ("127.0.0.1", self.port)
            ),
            "bind": lambda: socket.socket().bind(("127.0.0.1", 0)),
        }
        outcomes = []
        for name, attempt in attempts.items():
            try:
                attempt()
            except OSError as exc:
                outcomes.append(f"{name}: refused: {exc}")
            else:
                outcomes.append(f"{name}: got through")
        return [Document(page_content=line, metadata=dict(doc.metadata)) for line in outcomes]
