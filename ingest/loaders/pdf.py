"""PDF via pypdf: one Document per page that has text, ``page`` 1-based.

Scanned PDFs (no text layer) and encrypted PDFs without the right password are refused with a
reason that says what to do; pypdf's own warnings about sloppy files are kept out of the log, since
a real-world folder of PDFs would otherwise flood the ingest output.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from langchain_core.documents import Document
from pypdf import PageObject, PdfReader
from pypdf.errors import DependencyError, FileNotDecryptedError

from rag.errors import LoaderError

if TYPE_CHECKING:
    from ingest.loaders import LoadOptions

SCANNED_REASON = "no extractable text; scanned?"
_AES_REASON = (
    "encrypted with AES, which needs the 'cryptography' package (pip install cryptography)"
)


def load_pdf(path: Path, options: LoadOptions) -> list[Document]:
    """One Document per page with text; ``LoaderError`` if encrypted, corrupt or textless."""
    with _quiet_pypdf():
        try:
            reader = PdfReader(path, strict=False)
            if reader.is_encrypted:
                _decrypt(reader, path, options.pdf_password)
            title = _title(reader)
            documents = []
            unreadable = 0
            for number, page in enumerate(reader.pages, start=1):
                text = _page_text(page)
                unreadable += text is None
                if text:
                    metadata: dict[str, str | int] = {"page": number}
                    if title:
                        metadata["title"] = title
                    documents.append(Document(page_content=text, metadata=metadata))
        except LoaderError:
            raise
        except DependencyError:
            raise LoaderError(str(path), _AES_REASON) from None
        except FileNotDecryptedError:
            raise LoaderError(str(path), _password_reason(options.pdf_password)) from None
        except OSError:
            raise  # load_file reports unreadable files the same way for every format
        except Exception as err:
            raise LoaderError(str(path), f"not a valid PDF: {_first_line(err)}") from None
    if not documents and unreadable:
        raise LoaderError(str(path), "not a valid PDF: no page's content could be read")
    if not documents:
        raise LoaderError(str(path), SCANNED_REASON)
    return documents


def _decrypt(reader: PdfReader, path: Path, password: str | None) -> None:
    """Open with ``password``, else the empty user password many "protected" PDFs have."""
    for candidate in ([password] if password else []) + [""]:
        if reader.decrypt(candidate):  # PasswordType.NOT_DECRYPTED is 0
            return
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


def _page_text(page: PageObject) -> str | None:
    """The page's text; ``None`` when its content cannot be read (one bad page is dropped)."""
    try:
        text = page.extract_text()
    except (DependencyError, FileNotDecryptedError):
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
