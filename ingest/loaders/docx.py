"""Word ``.docx`` via python-docx: paragraphs and tables in document order, one Document.

Headings become Markdown ``#`` lines (``Heading 2`` -> ``## ...``) so a header-aware splitter keeps
each chunk's section; tables become Markdown tables (``tables``), cut by rows into pieces that
each repeat the header row, a merged cell written once.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import docx
from docx.document import Document as WordDocument
from docx.table import Table
from docx.text.paragraph import Paragraph
from langchain_core.documents import Document

from ingest.loaders.archive import check_zip, core_fields
from ingest.loaders.tables import markdown_tables
from rag.errors import LoaderError

if TYPE_CHECKING:
    from ingest.loaders import LoadOptions

_HEADING_STYLE = re.compile(r"heading\s*([1-9])", re.IGNORECASE)


def load_docx(path: Path, options: LoadOptions) -> list[Document]:
    """One Document with the text; ``title`` from the core properties or the first heading."""
    check_zip(path, options.max_unpacked_bytes, "DOCX")
    try:
        word = docx.Document(str(path))
        text, first_heading = docx_to_text(word)
        title = (word.core_properties.title or "").strip() or first_heading
        card = core_fields(word.core_properties)
    except (OSError, LoaderError):
        raise  # load_file reports unreadable files the same way for every format
    except Exception as err:
        message = str(err).strip().splitlines()[0][:120] if str(err).strip() else ""
        raise LoaderError(str(path), f"not a valid DOCX: {message or type(err).__name__}") from None
    if not text.strip():
        raise LoaderError(str(path), "no text in DOCX")
    metadata: dict[str, str] = {**card, "title": title} if title else card
    return [Document(page_content=text, metadata=metadata)]


def docx_to_text(word: WordDocument) -> tuple[str, str | None]:
    """``(text, first heading or None)``: paragraphs, ``#`` headings and table rows in order."""
    blocks: list[str] = []
    first_heading: str | None = None
    for item in word.iter_inner_content():
        if isinstance(item, Paragraph):
            text = item.text.strip()
            if not text:
                continue
            level = _heading_level(item)
            if level:
                first_heading = first_heading or text
                text = f"{'#' * level} {text}"
            blocks.append(text)
        elif isinstance(item, Table):
            table = markdown_tables(_table_rows(item))
            if table:
                blocks.append(table)
    return "\n\n".join(blocks), first_heading


def _heading_level(paragraph: Paragraph) -> int:
    """1-9 for ``Heading N`` (``Title`` counts as 1), 0 for body text."""
    name = paragraph.style.name if paragraph.style is not None else ""
    if name == "Title":
        return 1
    found = _HEADING_STYLE.fullmatch(name or "")
    return int(found.group(1)) if found else 0


def _table_rows(table: Table) -> list[list[str]]:
    """The table's rows of cell texts; a merged cell once, the columns it spans left empty."""
    rows = []
    for row in table.rows:
        seen: set[int] = set()
        cells = []
        for cell in row.cells:
            if id(cell._tc) in seen:  # python-docx repeats a merged cell for each column it spans
                cells.append("")
                continue
            seen.add(id(cell._tc))
            cells.append(" ".join(cell.text.split()))
        rows.append(cells)
    return rows
