"""The app's file handling: where uploads go, which names are safe, and the document table.

Plain functions without Streamlit, so they are tested directly.

>>> from rag.settings import Settings
>>> documents_dir(Settings(persist_dir="/tmp/store", kb="notes")).as_posix()
'/tmp/store/documents/notes'
>>> check_name("report.pdf", [".pdf"])
'report.pdf'
"""

from __future__ import annotations

import os
import re
import tempfile
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from rag.settings import Settings
    from rag.store import FileRecord

MAX_NAME_BYTES = 200
# Characters Windows forbids in names, plus the ones shells and Markdown make awkward.
_AWKWARD = re.compile(r'[<>:"|?*\\]')
_DRIVE = re.compile(r"^[A-Za-z]:")


class Upload(Protocol):
    """What ``st.file_uploader`` returns per file (and what the tests fake)."""

    name: str

    def getvalue(self) -> bytes: ...


@dataclass(frozen=True)
class Refused:
    """An upload that was not saved. ``code`` picks the translated message; ``reason`` is English."""

    name: str
    code: str
    reason: str


class UnsafeName(ValueError):
    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def documents_dir(settings: Settings) -> Path:
    """The folder the app keeps a knowledge base's uploaded originals in."""
    return settings.persist_dir / "documents" / settings.kb


def check_name(raw: str, extensions: Sequence[str]) -> str:
    """A safe plain file name for ``raw``, or ``UnsafeName`` saying why there is none.

    Directories are stripped; absolute paths, ``..``, control characters, hidden names, names
    over 200 bytes and extensions kbqa does not read are refused.

    >>> check_name("docs/notes.md", [".md"])
    'notes.md'
    >>> check_name("../../x.pdf", [".pdf"])
    Traceback (most recent call last):
    ...
    app.library.UnsafeName: the name climbs out of its folder ('..')
    """
    if not isinstance(raw, str) or not raw.strip():
        raise UnsafeName("empty", "the file has no name")
    if "\x00" in raw:
        raise UnsafeName("control", "the name contains a NUL character")
    if any(unicodedata.category(ch) == "Cc" for ch in raw):
        raise UnsafeName("control", "the name contains control characters")
    name = unicodedata.normalize("NFC", raw.strip())
    if name.startswith(("/", "\\")) or _DRIVE.match(name):
        raise UnsafeName("absolute", "the name is an absolute path")
    parts = re.split(r"[/\\]", name)
    if any(part.strip() == ".." for part in parts):
        raise UnsafeName("traversal", "the name climbs out of its folder ('..')")
    name = _AWKWARD.sub("_", parts[-1]).strip()
    if not name or name in (".", ".."):
        raise UnsafeName("empty", "the file has no name")
    if name.startswith("."):
        raise UnsafeName("hidden", "hidden files (names starting with '.') are not ingested")
    if len(name.encode("utf-8")) > MAX_NAME_BYTES:
        raise UnsafeName("too_long", f"the name is longer than {MAX_NAME_BYTES} bytes")
    suffix = Path(name).suffix.lower()
    if suffix not in extensions:
        raise UnsafeName(
            "extension",
            f"{suffix or 'no extension'} is not a type kbqa reads ({' '.join(extensions)})",
        )
    return name


def _inside(path: Path, folder: Path) -> bool:
    return path.resolve().is_relative_to(folder.resolve())


def save_uploads(
    files: Iterable[Upload], folder: Path, settings: Settings
) -> tuple[list[Path], list[Refused]]:
    """Write uploads into ``folder`` under safe names; return the saved paths and the refusals.

    A file replaces an existing one of the same name (that is how a document is updated). Each
    file is written to a temporary name first and then renamed, so a symlink planted at the
    target is replaced, never followed.
    """
    folder.mkdir(parents=True, exist_ok=True)
    limit = int(settings.max_file_mb * 1024 * 1024)
    saved: list[Path] = []
    refused: list[Refused] = []
    for upload in files:
        raw = str(getattr(upload, "name", "") or "")
        try:
            name = check_name(raw, settings.extensions)
        except UnsafeName as exc:
            refused.append(Refused(raw, exc.code, exc.reason))
            continue
        data = upload.getvalue()
        if len(data) > limit:
            refused.append(
                Refused(
                    raw,
                    "too_large",
                    f"{len(data) / 1024 / 1024:.1f} MB is over the {settings.max_file_mb:g} MB limit",
                )
            )
            continue
        target = folder / name
        if not _inside(target.parent, folder) or target.is_dir():
            refused.append(Refused(raw, "traversal", "the name does not stay inside the folder"))
            continue
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            os.replace(tmp, target)
        except OSError as exc:
            Path(tmp).unlink(missing_ok=True)
            refused.append(Refused(raw, "write", f"could not be written: {exc.strerror or exc}"))
            continue
        saved.append(target)
    return saved, refused


def original_file(record: FileRecord, fallback_root: Path) -> Path | None:
    """The file a document was ingested from, when it still exists inside its ingest root."""
    root = Path(record.root) if record.root else fallback_root
    path = root / record.source
    if not path.is_file() or not _inside(path, root):
        return None
    return path


def delete_saved(folder: Path, source: str) -> bool:
    """Delete an uploaded original kept in ``folder``; files elsewhere are never touched."""
    path = folder / source
    if not path.is_file() or not _inside(path, folder):
        return False
    path.unlink()
    return True


@dataclass(frozen=True)
class DocumentRow:
    source: str
    pages: int
    chunks: int
    ingested: str


def document_rows(records: Iterable[FileRecord]) -> list[DocumentRow]:
    """The library table: one row per document, the ingest time as a date."""
    return [
        DocumentRow(
            source=r.source,
            pages=r.pages,
            chunks=r.chunks,
            ingested=datetime.fromtimestamp(r.ingested_at).strftime("%Y-%m-%d")
            if r.ingested_at
            else "",
        )
        for r in records
    ]
