"""A splitter for file-reader tests, in a module of its own: the reader process unpickles it by
this module's name (a test module is imported by pytest under a name the child cannot import)."""

from __future__ import annotations

from langchain_core.documents import Document


class WholeDocument:
    """Keeps each document whole, so a file's memory in the reader is its loader's alone."""

    def split(self, doc: Document) -> list[Document]:
        return [doc]


class ConnectingSplitter:
    """Tries to open a connection to 127.0.0.1 while splitting: the reader must refuse it."""

    def split(self, doc: Document) -> list[Document]:
        import socket

        socket.create_connection(("127.0.0.1", 9), timeout=1).close()
        return [doc]
