"""PDF via pypdf: one Document per page that has text, ``page`` 1-based.

The text is cleaned (``pdf_clean``): ligatures spelled out, hyphenated words joined, footnote
marks dropped, running headers, footers and page numbers removed. Pages that draw ruled tables
are read again by pdfplumber, which keeps a table's rows and cells (``pdf_tables``).

Pages without a text layer (scans) are read by OCR (``ocr``) and marked ``ocr: True``; encrypted
PDFs without the right password are refused with a reason that says what to do; pypdf's own warnings about sloppy files are kept out of the log, since
a real-world folder of PDFs would otherwise flood the ingest output.

Decompression bombs: pypdf caps each stream's decoded size (75 MB by default); kbqa lowers that cap
to its unpack limit when the limit is smaller, and also caps the sum over all pages' content
streams, since pypdf keeps every decoded stream cached for the life of the reader.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langchain_core.documents import Document
from pypdf import (
    Configuration,
    PageObject,
    PdfReader,
    apply_configuration,
    get_configuration,
)
from pypdf.errors import DependencyError, FileNotDecryptedError, LimitReachedError

from ingest.loaders.limits import bomb_reason
from ingest.loaders.ocr import ocr_pdf_pages
from ingest.loaders.pdf_clean import PageTextCollector, clean_pages
from ingest.loaders.pdf_tables import page_has_rules, pages_with_tables
from rag.errors import LoaderError

if TYPE_CHECKING:
    from ingest.loaders import LoadOptions

SCANNED_REASON = "no text found: no text layer, and OCR read none"
_AES_REASON = (
    "encrypted with AES, which needs the 'cryptography' package (pip install cryptography)"
)


def load_pdf(path: Path, options: LoadOptions) -> list[Document]:
    """One Document per page with text; ``LoaderError`` if encrypted, corrupt or textless."""
    limit = options.max_unpacked_bytes
    with _quiet_pypdf(), apply_configuration(_stream_limits(limit)):
        try:
            reader = PdfReader(path, strict=False)
            password = _decrypt(reader, path, options.pdf_password) if reader.is_encrypted else ""
            _check_unpacked_size(reader, path, limit)
            title = _title(reader)
            info = _info(reader)
            outline = _outline(reader)
            texts = [_page_text(page) for page in reader.pages]
            unreadable = sum(text is None for text in texts)
            ruled = [n for n, page in enumerate(reader.pages, start=1) if _has_rules(page)]
            for number, text in pages_with_tables(path, ruled, password).items():
                texts[number - 1] = text
            pictured = {n for n, page in enumerate(reader.pages, start=1) if _has_images(page)}
            scanned = _ocr_textless(path, texts, pictured, password)
            documents = []
            cleaned = clean_pages([text or "" for text in texts])
            for number, (text, headings) in enumerate(
                zip(cleaned, page_headings(cleaned, outline), strict=True), start=1
            ):
                if text:
                    metadata: dict[str, Any] = {"page": number, **info}
                    if title:
                        metadata["title"] = title
                    if number in scanned:
                        metadata["ocr"] = True
                    if headings:
                        metadata["headings"] = headings
                    documents.append(Document(page_content=text, metadata=metadata))
        except LoaderError:
            raise
        except DependencyError:
            raise LoaderError(str(path), _AES_REASON) from None
        except FileNotDecryptedError:
            raise LoaderError(str(path), _password_reason(options.pdf_password)) from None
        except LimitReachedError as err:
            raise LoaderError(str(path), _limit_reason(err, limit)) from None
        except OSError:
            raise  # load_file reports unreadable files the same way for every format
        except Exception as err:
            raise LoaderError(str(path), f"not a valid PDF: {_first_line(err)}") from None
    if not documents and unreadable:
        raise LoaderError(str(path), "not a valid PDF: no page's content could be read")
    if not documents:
        raise LoaderError(str(path), SCANNED_REASON)
    return documents


def _decrypt(reader: PdfReader, path: Path, password: str | None) -> str:
    """Open with ``password``, else the empty user password many "protected" PDFs have; the one
    that opened it."""
    for candidate in ([password] if password else []) + [""]:
        if reader.decrypt(candidate):  # PasswordType.NOT_DECRYPTED is 0
            return candidate
    raise LoaderError(str(path), _password_reason(password))


def _password_reason(password: str | None) -> str:
    if password:
        return "encrypted, and the password given with --pdf-password does not open it"
    return "encrypted; give its password with --pdf-password (or the pdf_password setting)"


def _title(reader: PdfReader) -> str | None:
    """The document-info ``/Title``, when there is one and it is readable."""
    try:
        title = reader.metadata.title if reader.metadata else None
    except Exception:  # broken info dictionaries are common and must not cost the text
        return None
    return (str(title).strip() or None) if title else None


# Document-info keys for the document card (``ingest.loaders.DOCUMENT_KEYS``).
_INFO_KEYS = {
    "/Author": "author",
    "/Subject": "subject",
    "/Keywords": "keywords",
    "/CreationDate": "created",
    "/ModDate": "modified",
}
MAX_OUTLINE_ENTRIES = 2000  # a hostile outline could hold millions; headings beyond are dropped


def _info(reader: PdfReader) -> dict[str, str]:
    """Author, subject, keywords and dates (``YYYY-MM-DD``) from the document-info dictionary."""
    try:
        raw: Any = reader.metadata or {}
        found = {key: str(raw.get(name) or "").strip() for name, key in _INFO_KEYS.items()}
    except Exception:  # broken info dictionaries are common and must not cost the text
        return {}
    for key in ("created", "modified"):  # "D:20220915172012+02'00'" -> "2022-09-15"
        date = found[key].removeprefix("D:")
        found[key] = f"{date[:4]}-{date[4:6]}-{date[6:8]}" if date[:8].isdigit() else ""
    return {key: value for key, value in found.items() if value}


def _outline(reader: PdfReader) -> list[tuple[int, int, str]]:
    """The bookmarks as ``(page index, level, title)`` in reading order; none when unreadable."""
    entries: list[tuple[int, int, str]] = []
    try:
        stack: list[tuple[list[Any], int]] = [(list(reader.outline), 1)]
        while stack and len(entries) < MAX_OUTLINE_ENTRIES:
            items, level = stack.pop()
            for i, item in enumerate(items):
                if isinstance(item, list):  # the children of the entry before it
                    stack.append((items[i + 1 :], level))
                    stack.append((item, level + 1))
                    break
                page = reader.get_destination_page_number(item)
                title = " ".join(str(item.title or "").split())
                if page is not None and page >= 0 and title:
                    entries.append((page, level, title))
    except Exception:  # a broken outline costs the heading paths, not the text
        return []
    return entries


def page_headings(
    pages: list[str], outline: list[tuple[int, int, str]]
) -> list[list[tuple[int, int, str]]]:
    """Each page's ``(offset, level, heading)``: the path in force where the page starts (at 0),
    then each bookmark pointing at the page, where its title is found in the text (else at 0).

    >>> page_headings(["Intro text", "More\\n2 Usage\\nRun it"], [(0, 1, "1 Intro"), (1, 1, "2 Usage")])
    [[(0, 1, '1 Intro')], [(0, 1, '1 Intro'), (5, 1, '2 Usage')]]
    """
    result: list[list[tuple[int, int, str]]] = []
    trail: list[tuple[int, str]] = []
    by_page: dict[int, list[tuple[int, str]]] = {}
    for page, level, title in outline:
        by_page.setdefault(page, []).append((level, title))
    for index, text in enumerate(pages):
        headings = [(0, level, title) for level, title in trail]
        folded = text.casefold()
        for level, title in by_page.get(index, []):
            found = folded.find(title.casefold())
            headings.append((max(found, 0), level, title))
            trail = [(lvl, t) for lvl, t in trail if lvl < level] + [(level, title)]
        result.append(sorted(headings, key=lambda h: h[0]))
    return result


# pypdf's limits on decoded output; kbqa lowers each to its own unpack limit when that is smaller.
_OUTPUT_LIMITS = (
    "maximum_declared_stream_length",
    "array_based_stream_maximum_output_length",
    "zlib_maximum_output_length",
    "lzw_maximum_output_length",
    "run_length_maximum_output_length",
    "brotli_maximum_output_length",
    "jbig2_maximum_output_length",
)


def _stream_limits(limit: int) -> Configuration:
    current = get_configuration()
    return current.with_overwrites(
        **{name: min(getattr(current, name), limit) for name in _OUTPUT_LIMITS}
    )


def _limit_reason(err: LimitReachedError, limit: int) -> str:
    """A pypdf safety limit tripped: a bomb when it was about decoded size, else say which."""
    message = _first_line(err)
    if "decompress" in message.lower() or "output bytes" in message:
        per_stream = get_configuration().zlib_maximum_output_length
        if per_stream < limit:  # pypdf's own cap was the lower one
            return bomb_reason(per_stream, "the PDF reader's cap per stream")
        return bomb_reason(limit)
    return f"refused by a safety limit of the PDF reader ({message})"


def _check_unpacked_size(reader: PdfReader, path: Path, limit: int) -> None:
    """Refuse a PDF whose pages' content streams decode to more than ``limit`` bytes in all.

    Runs before any text is extracted, so a bomb costs its decoding time, not its parsing time.
    """
    unpacked = 0
    for page in reader.pages:
        unpacked += _content_size(page)
        if unpacked > limit:
            raise LoaderError(str(path), bomb_reason(limit))


def _content_size(page: PageObject) -> int:
    """Decoded bytes of the page's content streams (pypdf caches them, so this costs no re-decode).

    A page whose content cannot be decoded counts 0 here; ``_page_text`` then drops it.
    """
    try:
        contents = page.get_contents()
    except (DependencyError, FileNotDecryptedError, LimitReachedError):
        raise
    except Exception:
        return 0
    return len(contents.get_data()) if contents is not None else 0


def _ocr_textless(
    path: Path, texts: list[str | None], pictured: set[int], password: str
) -> set[int]:
    """OCR the readable pages without text that show an image, in place; the numbers of the pages
    it read.

    A page pypdf could not read (``None``) is not rendered: its content is broken, not missing.
    A page without images is blank or a drawing, not a scan: rendering and reading it would cost
    a fraction of a second for nothing (text drawn as outlines is the rare loss).
    """
    textless = [n for n, text in enumerate(texts, start=1) if text == "" and n in pictured]
    scanned: set[int] = set()
    try:
        for number, text in ocr_pdf_pages(path, textless, password):
            if text:
                texts[number - 1] = text
                scanned.add(number)
    except LoaderError:
        raise
    except Exception:  # PDFium cannot render it: the pages stay without text
        pass
    return scanned


def _has_images(page: PageObject) -> bool:
    """Whether the page draws an image: an image XObject, one inside a form XObject (three levels
    deep at most), or an inline image; ``True`` when that cannot be told, so no scan is skipped."""
    try:
        contents = page.get_contents()
        if contents is not None and b"BI" in contents.get_data():
            return True
        return _resources_hold_image(page.get("/Resources"), depth=3)
    except Exception:
        return True


def _resources_hold_image(resources: Any, depth: int) -> bool:
    resources = resources.get_object() if resources is not None else None
    xobjects = resources.get("/XObject") if resources is not None else None
    if xobjects is None:
        return False
    for reference in xobjects.get_object().values():
        xobject = reference.get_object()
        subtype = xobject.get("/Subtype")
        if subtype == "/Image":
            return True
        if subtype == "/Form" and (
            depth <= 0
            or b"BI" in xobject.get_data()
            or _resources_hold_image(xobject.get("/Resources"), depth - 1)
        ):
            return True
    return False


def _has_rules(page: PageObject) -> bool:
    """Whether the page draws lines enough for a ruled table (its content is cached by now)."""
    try:
        contents = page.get_contents()
        return contents is not None and page_has_rules(contents.get_data())
    except Exception:
        return False


def _page_text(page: PageObject) -> str | None:
    """The page's text; ``None`` when its content cannot be read (one bad page is dropped)."""
    collector = PageTextCollector()
    try:
        page.extract_text(visitor_text=collector)
        text = collector.text()
    except (DependencyError, FileNotDecryptedError, LimitReachedError):
        raise
    except Exception:
        return None
    return (text or "").replace("\x00", "").strip()


@contextmanager
def _quiet_pypdf() -> Iterator[None]:
    """Silence pypdf's warnings (logging and ``warnings``) while one file is read.

    The level is process-wide, so concurrent loads may restore it early; that only lets some
    warnings through, it never hides errors.
    """
    logger = logging.getLogger("pypdf")
    previous = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(previous)


def _first_line(err: Exception) -> str:
    message = str(err).strip().splitlines()[0][:120] if str(err).strip() else ""
    return message or type(err).__name__
