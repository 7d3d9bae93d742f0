"""A SQLite ``ByteStore`` for LangChain's ``CacheBackedEmbeddings``.

The cache is keyed by a hash of the chunk text (per embedder namespace), so a renamed or copied
file reuses its vectors instead of being embedded again. Why not langchain-community's SQLStore:
that package is being sunset upstream, and a single-table sqlite3 store is all this needs.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

from langchain_core.stores import ByteStore


class SqliteByteStore(ByteStore):
    """Key → bytes in one SQLite file.

    >>> import tempfile, pathlib
    >>> s = SqliteByteStore(pathlib.Path(tempfile.mkdtemp()) / "c.sqlite")
    >>> s.mset([("k", b"v")]); s.mget(["k", "x"])
    [b'v', None]
    """

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(str(path), check_same_thread=False, timeout=30)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value BLOB)")

    def mget(self, keys: Sequence[str]) -> list[bytes | None]:
        found: dict[str, bytes] = {}
        with self._lock:
            for start in range(0, len(keys), 500):
                batch = list(keys[start : start + 500])
                marks = ",".join("?" * len(batch))
                found.update(
                    self._conn.execute(f"SELECT key, value FROM kv WHERE key IN ({marks})", batch)
                )
        return [found.get(k) for k in keys]

    def mset(self, key_value_pairs: Sequence[tuple[str, bytes]]) -> None:
        with self._lock, self._conn:
            self._conn.executemany("INSERT OR REPLACE INTO kv VALUES (?, ?)", key_value_pairs)

    def mdelete(self, keys: Sequence[str]) -> None:
        with self._lock, self._conn:
            self._conn.executemany("DELETE FROM kv WHERE key = ?", [(k,) for k in keys])

    def yield_keys(self, *, prefix: str | None = None) -> Iterator[str]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT key FROM kv WHERE key LIKE ?", ((prefix or "") + "%",)
            ).fetchall()
        yield from (row[0] for row in rows)
