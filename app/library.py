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
import shutil
import tempfile
import unicodedata
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from rag.kb import KnowledgeBase
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
    saved: list[Path] = []
    refused: list[Refused] = []
    for upload in files:
        raw = str(getattr(upload, "name", "") or "")
        data = upload.getvalue()
        problem = check_upload(raw, len(data), settings)
        if problem is not None:
            refused.append(problem)
            continue
        target = folder / check_name(raw, settings.extensions)
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


# -- what the uploader says about a file kbqa does not read -------------------------------------
# Families of the extensions kbqa reads, in the order a reader looks for them; the i18n key of
# each family is ``fmt_<family>``.
FORMAT_FAMILIES: tuple[tuple[str, frozenset[str]], ...] = (
    ("pdf", frozenset({".pdf"})),
    ("word", frozenset({".docx"})),
    ("spreadsheet", frozenset({".xlsx", ".ods", ".csv"})),
    ("slides", frozenset({".pptx"})),
    ("text", frozenset({".txt", ".text", ".md", ".markdown", ".rst", ".log"})),
    ("web", frozenset({".html", ".htm"})),
    ("json", frozenset({".json", ".jsonl"})),
    ("image", frozenset({".png", ".jpg", ".jpeg", ".tif", ".tiff"})),
)
# What a refused file most likely is, so the message can say "this one is an executable".
_KINDS: dict[str, frozenset[str]] = {
    "executable": frozenset(
        ".exe .msi .dll .bat .cmd .com .sh .ps1 .app .apk .bin .jar .deb .rpm .dmg .appimage .so".split()
    ),
    "archive": frozenset(".zip .tar .gz .tgz .bz2 .xz .7z .rar .zst".split()),
    "old_office": frozenset(".doc .xls .ppt .rtf .wps .odt .odp .pages .key .numbers".split()),
    "audio": frozenset(".mp3 .wav .flac .m4a .ogg .aac .wma".split()),
    "video": frozenset(".mp4 .mov .avi .mkv .webm .wmv .flv".split()),
    "picture": frozenset(".gif .bmp .webp .heic .svg .ico .psd".split()),
    "ebook": frozenset(".epub .mobi .azw3 .djvu".split()),
}


def format_families(extensions: Sequence[str]) -> list[str]:
    """The families of formats ``extensions`` cover (``fmt_<family>`` in i18n), then any
    extension outside them as it is.

    >>> format_families([".pdf", ".md", ".txt", ".xyz"])
    ['pdf', 'text', '.xyz']
    """
    wanted = {e.lower() for e in extensions}
    families = [name for name, exts in FORMAT_FAMILIES if exts & wanted]
    known = frozenset().union(*(exts for _, exts in FORMAT_FAMILIES))
    return families + sorted(wanted - known)


def file_kind(name: str) -> str:
    """What a file kbqa does not read most likely is, from its extension: ``executable``,
    ``archive``, ``old_office``, ``audio``, ``video``, ``picture``, ``ebook``, ``none`` (no
    extension) or ``other`` (``kind_<kind>`` in i18n).

    >>> file_kind("setup.exe"), file_kind("notes"), file_kind("a.xyz")
    ('executable', 'none', 'other')
    """
    suffix = Path(name).suffix.lower()
    if not suffix:
        return "none"
    return next((kind for kind, exts in _KINDS.items() if suffix in exts), "other")


def check_upload(raw: str, size: int, settings: Settings) -> Refused | None:
    """Why an upload cannot be saved (name, type or size), or None when it can. The uploader
    accepts any file so that kbqa, not the browser, says why one is refused."""
    try:
        check_name(raw, settings.extensions)
    except UnsafeName as exc:
        return Refused(raw, exc.code, exc.reason)
    limit = int(settings.max_file_mb * 1024 * 1024)
    if size > limit:
        return Refused(
            raw,
            "too_large",
            f"{size / 1024 / 1024:.1f} MB is over the {settings.max_file_mb:g} MB limit",
        )
    return None


# -- knowledge bases: name, rename, delete -------------------------------------------------------
_KB_CHARS = re.compile(r"[A-Za-z0-9._-]+")
KB_NAME_MIN, KB_NAME_MAX = 3, 63


def kb_name_problem(name: str, existing: Iterable[str]) -> str | None:
    """Why ``name`` cannot name a new knowledge base, as a code (``kb_name_<code>`` in i18n):
    ``empty``, ``length``, ``chars``, ``edge`` or ``exists``; None when it can. Chroma's own
    rule (``Settings.kb``), in words a user acts on.

    >>> kb_name_problem("notes", ["default"]), kb_name_problem("my notes", [])
    (None, 'chars')
    >>> kb_name_problem("default", ["default"]), kb_name_problem("-x-", [])
    ('exists', 'edge')
    """
    if not name.strip():
        return "empty"
    if not KB_NAME_MIN <= len(name) <= KB_NAME_MAX:
        return "length"
    if not _KB_CHARS.fullmatch(name):
        return "chars"
    if not (name[0].isalnum() and name[-1].isalnum()):
        return "edge"
    if name in set(existing):
        return "exists"
    return None


def _move(source: Path, target: Path) -> None:
    if source.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        source.rename(target)


def rename_kb(kb: KnowledgeBase, new_name: str) -> Settings:
    """Rename a knowledge base: its Chroma collection, its kbqa files and its uploads folder;
    return the settings that open it under the new name. Refuses (``KbqaError``) a name that
    is taken or invalid, and waits for an ingest that is writing to it."""
    from rag.errors import KbqaError
    from rag.kb import KnowledgeBase
    from rag.locks import ingest_lock
    from rag.store import FileRegistry

    old = kb.settings
    names = KnowledgeBase.list(old)
    problem = kb_name_problem(new_name, [*names, old.kb])
    if problem is not None:
        raise KbqaError(f"knowledge base name {new_name!r} cannot be used ({problem})")
    new = type(old)(**{**old.model_dump(), "kb": new_name})
    if new.kb_dir.exists() or documents_dir(new).exists():
        raise KbqaError(
            f"files of a knowledge base {new_name!r} already exist in {new.persist_dir}"
        )
    old_docs = documents_dir(old).resolve()
    with ingest_lock(old.kb_dir / "ingest.lock", wait_seconds=10.0):
        kb.close()
        if old.kb in names:
            kb.client.get_collection(old.kb).modify(name=new_name)
        _move(old.kb_dir, new.kb_dir)
        _move(documents_dir(old), documents_dir(new))
    # Documents uploaded through the app were ingested from the old uploads folder.
    registry = FileRegistry(new.kb_dir / "files.sqlite")
    try:
        new_docs = str(documents_dir(new).resolve())
        for record in registry.all():
            if record.root == str(old_docs):
                registry.put(replace(record, root=new_docs))
    finally:
        registry.close()
    return new


def delete_kb(kb: KnowledgeBase) -> None:
    """Delete a knowledge base: its collection, its kbqa files and the uploads the app kept."""
    kb.drop()
    folder = documents_dir(kb.settings)
    if folder.is_dir() and _inside(folder, kb.settings.persist_dir / "documents"):
        shutil.rmtree(folder)


# -- the landing page: what is loaded, and questions to start with -----------------------------
@dataclass(frozen=True)
class ExampleQuestion:
    text: str
    source: str


_QUESTION_ABOUT = {
    "en": "What is “{title}” about?",
    "zh": "《{title}》主要讲了什么？",
}
_QUESTION_ON = {
    "en": "What does “{title}” say about {heading}?",
    "zh": "《{title}》中关于“{heading}”说了什么？",
}
_PAGE = re.compile(r"^(p\.|pp\.|slide|sheet|第)\s*", re.IGNORECASE)


def document_title(record: FileRecord) -> str:
    """The title a document was ingested with, else its file name without the extension.

    >>> from rag.types import FileRecord
    >>> document_title(FileRecord("notes/travel_policy.md", "", 0, 1, 1, "", "en", 0.0))
    'travel policy'
    """
    title = " ".join((record.title or "").split())
    stem = Path(record.source).stem
    if title and title not in (stem, Path(record.source).name):
        return title[:80]
    return re.sub(r"[_\s]+", " ", stem).strip()[:80] or record.source


def headings_from_metadata(metadatas: Iterable[dict | None]) -> dict[str, list[str]]:
    """Each source's section headings, in order, from its chunks' ``context`` line
    (``title › heading › … › p. N``); the title and the page are left out.

    >>> headings_from_metadata([{"source": "a.md", "context": "Solar › Planets › p. 2"},
    ...                         {"source": "a.md", "context": "Solar › Planets"}, None])
    {'a.md': ['Planets']}
    """
    found: dict[str, list[str]] = {}
    for meta in metadatas:
        if not meta or not isinstance(meta.get("context"), str):
            continue
        parts = [p.strip() for p in meta["context"].split("›") if p.strip()]
        parts = [p for p in parts[1:] if not _PAGE.match(p)]
        if parts:
            heading = parts[-1][:80]
            names = found.setdefault(str(meta.get("source", "")), [])
            if heading not in names:
                names.append(heading)
    return found


def example_questions(
    records: Sequence[FileRecord],
    headings: dict[str, list[str]] | None = None,
    limit: int = 4,
) -> list[ExampleQuestion]:
    """A few questions a new user can click, drawn from the documents' titles and headings, in
    each document's own language; one per document before a second from any.

    >>> from rag.types import FileRecord
    >>> docs = [FileRecord("solar.md", "", 0, 2, 1, "The Solar System", "en", 0.0),
    ...         FileRecord("长城.txt", "", 0, 1, 1, "", "zh", 0.0)]
    >>> [q.text for q in example_questions(docs, {"solar.md": ["Planets"]})]
    ['What does “The Solar System” say about Planets?', '《长城》主要讲了什么？', 'What is “The Solar System” about?']
    """
    headings = headings or {}
    rounds: list[list[ExampleQuestion]] = [[], []]
    for record in records:
        lang = "zh" if record.lang == "zh" else "en"
        title = document_title(record)
        own = [h for h in headings.get(record.source, []) if h.casefold() != title.casefold()]
        asks = [_QUESTION_ON[lang].format(title=title, heading=h) for h in own[:1]]
        asks.append(_QUESTION_ABOUT[lang].format(title=title))
        for i, text in enumerate(asks):
            rounds[i].append(ExampleQuestion(text, record.source))
    return [q for r in rounds for q in r][:limit]
