"""Zip-based formats (DOCX, XLSX, PPTX, ODS): refuse a decompression bomb before a parser reads it.

>>> import io, zipfile
>>> buffer = io.BytesIO()
>>> with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
...     archive.writestr("big.xml", b"<a/>" * 1000)
>>> _ = buffer.seek(0)
>>> unpacked_size(buffer, limit=10_000)
4000
"""

from __future__ import annotations

import datetime
import zipfile
from pathlib import Path
from typing import IO, Any

from ingest.loaders.limits import bomb_reason
from rag.errors import LoaderError

_STEP = 1024 * 1024  # bytes inflated at a time while measuring the archive


def check_zip(path: Path, limit: int, kind: str) -> None:
    """Raise ``LoaderError`` unless ``path`` is a zip inflating to at most ``limit`` bytes.

    The declared sizes are checked first (free); then every member is inflated in 1 MB steps,
    which also checks its CRC: parsers read each member whole, and zipfile inflates a member
    fully before trimming it to the size it declares, so one that lies about its size would
    otherwise take all the memory it inflates to.
    """
    if not zipfile.is_zipfile(path):
        raise LoaderError(str(path), f"not a valid {kind}: not a zip archive")
    with open(path, "rb") as file:
        try:
            size = unpacked_size(file, limit)
        except OSError:
            raise  # load_file reports unreadable files the same way for every format
        except Exception as err:  # bad CRC, truncated member, encrypted member, bad header
            raise LoaderError(str(path), f"not a valid {kind}: {first_line(err)}") from None
    if size > limit:
        raise LoaderError(str(path), bomb_reason(limit))


def unpacked_size(file: IO[bytes], limit: int) -> int:
    """Bytes the zip in ``file`` inflates to, counting stops once past ``limit``."""
    with zipfile.ZipFile(file) as archive:
        members = archive.infolist()
        declared = sum(info.file_size for info in members)
        if declared > limit:
            return declared
        unpacked = 0
        for info in members:
            with archive.open(info) as member:
                while step := member.read(_STEP):
                    unpacked += len(step)
                    if unpacked > limit:
                        return unpacked
        return unpacked


def first_line(err: Exception) -> str:
    """The first line of the error's message (at most 120 characters), or its type's name."""
    message = str(err).strip().splitlines()[0][:120] if str(err).strip() else ""
    return message or type(err).__name__


def core_fields(properties: Any) -> dict[str, str]:
    """Document card fields from an Office file's core properties (python-docx, python-pptx).

    Dates become ``YYYY-MM-DD``; an unreadable property is left out, never fatal.
    """
    found: dict[str, str] = {}
    for key, attribute in (
        ("author", "author"),
        ("subject", "subject"),
        ("keywords", "keywords"),
        ("description", "comments"),
        ("created", "created"),
        ("modified", "modified"),
    ):
        try:
            value = getattr(properties, attribute, None)
        except Exception:  # noqa: BLE001 - a malformed core.xml costs the field, not the file
            continue
        if isinstance(value, datetime.date):
            value = value.strftime("%Y-%m-%d")
        text = " ".join(str(value or "").split())
        if text:
            found[key] = text
    return found
