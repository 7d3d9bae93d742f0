"""Document loaders: one file in, LangChain ``Document`` objects out, or one ``LoaderError``.

Each format's loader (``text``, ``pdf``, ``html``, ``docx``, ``spreadsheet``, ``slides``,
``ocr`` for images, ``tabular``) only turns the file into text plus a ``title`` (and ``page`` for
PDF pages, slides, sheets and image frames; ``sheet`` for sheets; ``ocr`` for recognised text;
what the file says about itself, ``DOCUMENT_KEYS``, for its document card; ``headings``, the
``(offset, level, text)`` of each section heading, for the chunks' heading paths).
``load_file`` does everything common to all of them:
the extension lookup, the size limit, turning ``OSError`` and parser crashes into ``LoaderError``,
and stamping the metadata contract (``source``, ``page``, ``title``, ``lang``, ``mime``).

>>> import tempfile
>>> root = Path(tempfile.mkdtemp())
>>> _ = (root / "notes.md").write_text("# Setup\\n\\nRun `kbqa ingest`.", encoding="utf-8")
>>> [doc.metadata for doc in load_file(root / "notes.md", root)]
[{'source': 'notes.md', 'title': 'Setup', 'lang': 'en', 'mime': 'text/markdown'}]
"""

from __future__ import annotations

import os
import stat
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langchain_core.documents import Document

from ingest.loaders.docx import load_docx
from ingest.loaders.encoding import EMPTY_REASON, read_text
from ingest.loaders.html import load_html
from ingest.loaders.limits import max_unpacked_bytes
from ingest.loaders.ocr import load_image
from ingest.loaders.pdf import load_pdf
from ingest.loaders.slides import load_pptx
from ingest.loaders.spreadsheet import load_ods, load_xlsx
from ingest.loaders.tabular import load_csv, load_json, load_jsonl
from ingest.loaders.text import load_text
from rag.errors import LoaderError
from rag.text import detect_language  # the one language rule, shared with questions

__all__ = [
    "DOCUMENT_KEYS",
    "LOADERS",
    "MIME_TYPES",
    "SUPPORTED_EXTENSIONS",
    "LoadOptions",
    "Loader",
    "detect_language",
    "load_file",
    "read_text",
]


@dataclass(frozen=True)
class LoadOptions:
    """Per-run knobs a loader may need."""

    pdf_password: str | None = None
    max_unpacked_bytes: int = max_unpacked_bytes(50.0)  # how far a zip or a PDF may inflate


# A loader reads one file and returns Documents whose metadata holds at most ``title`` and
# ``page``; it raises ``LoaderError`` for anything wrong with the file.
Loader = Callable[[Path, LoadOptions], list[Document]]

LOADERS: dict[str, Loader] = {
    ".pdf": load_pdf,
    ".txt": load_text,
    ".text": load_text,
    ".log": load_text,
    ".md": load_text,
    ".markdown": load_text,
    ".rst": load_text,
    ".html": load_html,
    ".htm": load_html,
    ".docx": load_docx,
    ".xlsx": load_xlsx,
    ".ods": load_ods,
    ".pptx": load_pptx,
    ".png": load_image,
    ".jpg": load_image,
    ".jpeg": load_image,
    ".tif": load_image,
    ".tiff": load_image,
    ".csv": load_csv,
    ".json": load_json,
    ".jsonl": load_jsonl,
}

MIME_TYPES: dict[str, str] = {
    ".pdf": "application/pdf",
    ".txt": "text/plain",
    ".text": "text/plain",
    ".log": "text/plain",
    ".md": "text/markdown",
    ".markdown": "text/markdown",
    ".rst": "text/x-rst",
    ".html": "text/html",
    ".htm": "text/html",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".ods": "application/vnd.oasis.opendocument.spreadsheet",
    ".pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".tif": "image/tiff",
    ".tiff": "image/tiff",
    ".csv": "text/csv",
    ".json": "application/json",
    ".jsonl": "application/x-ndjson",
}

SUPPORTED_EXTENSIONS: frozenset[str] = frozenset(LOADERS)

_MB = 1024 * 1024
# Set by some loaders only: the spreadsheet's sheet name, and whether the text was read by OCR.
OPTIONAL_KEYS = ("sheet", "ocr")
# What a file says about itself (PDF info, DOCX/PPTX core properties, HTML <meta>, Markdown front
# matter), one line each: the splitter puts them on the file's document card, not on its chunks.
DOCUMENT_KEYS = ("author", "subject", "keywords", "description", "created", "modified")
MAX_FIELD_CHARS = 300  # like a title: shown on the card, and a hostile file could make it huge
MAX_TITLE_CHARS = 300  # a title is shown beside every citation; a hostile file could make it huge


def load_file(
    path: Path,
    root: Path,
    *,
    max_file_mb: float = 50.0,
    pdf_password: str | None = None,
) -> list[Document]:
    """Read ``path`` into Documents whose ``source`` is ``path`` relative to ``root``.

    Raises ``LoaderError(path, reason)`` for every problem with the file: unsupported type, too
    big, unreadable, empty, binary, corrupt, encrypted, no text.
    """
    path = Path(path)
    extension = path.suffix.lower()
    loader = LOADERS.get(extension)
    if loader is None:
        raise LoaderError(str(path), f"unsupported file type {extension or '(no extension)'}")
    _check_file(path, max_file_mb)

    try:
        options = LoadOptions(
            pdf_password=pdf_password, max_unpacked_bytes=max_unpacked_bytes(max_file_mb)
        )
        documents = loader(path, options)
    except LoaderError:
        raise
    except OSError as err:
        raise LoaderError(str(path), f"cannot read file ({err.strerror or err})") from None
    except RecursionError:
        raise LoaderError(str(path), "nested too deeply to parse") from None
    except Exception as err:  # a parser bug must cost one file, not the whole ingest
        raise LoaderError(str(path), f"could not be read ({_short(err)})") from None

    source = source_path(path, root)
    stamped = [
        _stamp(doc, source, path.stem, MIME_TYPES[extension])
        for doc in documents
        if doc.page_content.strip()
    ]
    if not stamped:
        raise LoaderError(str(path), "no text found")
    return stamped


def source_path(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` with ``/`` separators; the absolute path if outside ``root``.

    Neither path is resolved, so a symlink inside ``root`` keeps its own name.
    """
    absolute, base = Path(os.path.abspath(path)), Path(os.path.abspath(root))
    if absolute == base:  # root is the file itself
        return absolute.name
    try:
        return absolute.relative_to(base).as_posix()
    except ValueError:
        return absolute.as_posix()


def _check_file(path: Path, max_file_mb: float) -> None:
    """Refuse what cannot or should not be read before any parser sees it."""
    try:
        info = path.stat()
    except OSError as err:
        raise LoaderError(str(path), f"cannot read file ({err.strerror or err})") from None
    if not stat.S_ISREG(info.st_mode):
        kind = "a directory" if stat.S_ISDIR(info.st_mode) else "not a regular file"
        raise LoaderError(str(path), f"cannot read file ({kind})")
    if info.st_size > max_file_mb * _MB:
        raise LoaderError(
            str(path),
            f"file is {_megabytes(info.st_size)} MB, over the limit of {max_file_mb:g} MB"
            " (max_file_mb)",
        )
    if info.st_size == 0:
        raise LoaderError(str(path), EMPTY_REASON)


def _stamp(doc: Document, source: str, stem: str, mime: str) -> Document:
    """The contract's metadata, in its order; ``page`` only when the loader set one."""
    metadata: dict[str, Any] = {"source": source}
    if "page" in doc.metadata:
        metadata["page"] = int(doc.metadata["page"])
    metadata["title"] = _clean_title(str(doc.metadata.get("title") or "")) or stem
    metadata["lang"] = detect_language(doc.page_content)
    metadata["mime"] = mime
    for key in OPTIONAL_KEYS:
        if key in doc.metadata:
            metadata[key] = doc.metadata[key]
    for key in DOCUMENT_KEYS:
        value = _clean_title(str(doc.metadata.get(key) or ""))[:MAX_FIELD_CHARS]
        if value:
            metadata[key] = value
    headings = doc.metadata.get("headings")
    if headings:  # consumed by the splitter (ingest.split.sections), never stored on a chunk
        metadata["headings"] = [
            (int(offset), int(level), _clean_title(str(text))[:MAX_FIELD_CHARS])
            for offset, level, text in headings
        ]
    return Document(page_content=doc.page_content, metadata=metadata)


def _clean_title(title: str) -> str:
    """``title`` on one line without control characters (PDF info strings often end in NUL)."""
    printable = "".join(" " if unicodedata.category(char) == "Cc" else char for char in title)
    return " ".join(printable.split())[:MAX_TITLE_CHARS]


def _megabytes(size: int) -> str:
    megabytes = size / _MB
    return f"{megabytes:.1f}" if megabytes >= 1 else f"{megabytes:.3g}"


def _short(err: Exception) -> str:
    message = " ".join(str(err).split())[:160]
    return f"{type(err).__name__}: {message}" if message else type(err).__name__
