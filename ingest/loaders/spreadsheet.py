"""Spreadsheets (XLSX via openpyxl, ODS via pandas' odf reader): one Document per sheet.

A sheet becomes a Markdown table whose first non-empty row is the header, cut by rows into
pieces that each repeat it (``tables``); the sheet's name is in ``sheet`` and its position in
``page``, so a citation can say where the figure came from. Formulas are read as the values the
spreadsheet application last computed (openpyxl ``data_only``), not as ``=SUM(B2:B9)``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from langchain_core.documents import Document

from ingest.loaders.archive import check_zip, first_line
from ingest.loaders.tables import markdown_tables
from rag.errors import LoaderError

if TYPE_CHECKING:
    from ingest.loaders import LoadOptions

MAX_COLUMNS = 256  # wider rows are cut: a table that wide is not read by anyone, and a hostile
# file can declare 16,384 columns on every row


def load_xlsx(path: Path, options: LoadOptions) -> list[Document]:
    """One Document per sheet with values; ``LoaderError`` when none has any."""
    import openpyxl  # type: ignore[import-untyped]

    check_zip(path, options.max_unpacked_bytes, "XLSX")
    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
        try:
            sheets = []
            for sheet in book.worksheets:
                sheet.reset_dimensions()  # trust the cells, not a declared A1:XFD1048576
                sheets.append((sheet.title, list(_rows(sheet.iter_rows(values_only=True)))))
            title = (book.properties.title or "").strip()
        finally:
            book.close()
    except (OSError, LoaderError):
        raise
    except Exception as err:
        raise LoaderError(str(path), f"not a valid XLSX: {first_line(err)}") from None
    return _documents(path, sheets, title)


def load_ods(path: Path, options: LoadOptions) -> list[Document]:
    """One Document per sheet with values (pandas' odf reader gives the computed values)."""
    import pandas as pd  # type: ignore[import-untyped]

    check_zip(path, options.max_unpacked_bytes, "ODS")
    try:
        frames = pd.read_excel(path, sheet_name=None, header=None, engine="odf", dtype=object)
        sheets = [
            (str(name), list(_rows(frame.astype(object).where(frame.notna(), None).values)))
            for name, frame in frames.items()
        ]
    except (OSError, LoaderError):
        raise
    except Exception as err:
        raise LoaderError(str(path), f"not a valid ODS: {first_line(err)}") from None
    return _documents(path, sheets, "")


def _documents(path: Path, sheets: list[tuple[str, list[list[str]]]], title: str) -> list[Document]:
    documents = []
    for number, (name, rows) in enumerate(sheets, start=1):
        text = markdown_tables(rows)
        if text:
            metadata: dict[str, str | int] = {"page": number, "sheet": name}
            if title:
                metadata["title"] = title
            documents.append(Document(page_content=text, metadata=metadata))
    if not documents:
        raise LoaderError(str(path), "no values in any sheet")
    return documents


def _rows(rows: Iterable[Sequence[object]]) -> Iterable[list[str]]:
    """Non-empty rows as cell texts, trailing empty cells dropped, at most ``MAX_COLUMNS`` wide."""
    for row in rows:
        cells = [_text(value) for value in list(row)[:MAX_COLUMNS]]
        while cells and not cells[-1]:
            cells.pop()
        if cells:
            yield cells


def _text(value: object) -> str:
    """A cell value as people read it: 3 not 3.0, dates without a midnight time."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime) and value.time() == dt.time(0):
        return value.date().isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value).strip()
