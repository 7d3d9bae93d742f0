"""Builders for real test documents, made at test time in ``tmp_path`` (nothing binary is committed).

Each fixture returns a function ``build(path, ...) -> path`` that writes one file of its format.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pytest


def write_pdf(
    path: Path,
    pages: list[str],
    *,
    title: str | None = None,
    user_password: str | None = None,
    owner_password: str | None = None,
) -> Path:
    """A PDF with one page per entry of ``pages`` ("" = a blank page), optionally encrypted."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("helvetica", size=12)
    if title:
        pdf.set_title(title)
    for text in pages:
        pdf.add_page()
        if text:
            pdf.multi_cell(0, 10, text)
    data = bytes(pdf.output())
    if user_password is not None:
        from pypdf import PdfReader, PdfWriter

        writer = PdfWriter(clone_from=PdfReader(io.BytesIO(data)))
        # RC4: pypdf needs the optional 'cryptography' package to write AES.
        writer.encrypt(user_password, owner_password, algorithm="RC4-128")
        buffer = io.BytesIO()
        writer.write(buffer)
        data = buffer.getvalue()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def write_docx(path: Path, *, core_title: str = "") -> Path:
    """A DOCX with a title heading, body text, a sub-heading and a table with a merged cell."""
    import docx

    word = docx.Document()
    word.core_properties.title = core_title
    word.add_heading("Overview", level=1)
    word.add_paragraph("kbqa answers questions from your own documents.")
    word.add_heading("Settings", level=2)
    table = word.add_table(rows=3, cols=2)
    for row, (name, value) in enumerate([("Name", "Value"), ("top_k", "4"), ("merged", "")]):
        table.cell(row, 0).text = name
        table.cell(row, 1).text = value
    merged = table.cell(2, 0).merge(table.cell(2, 1))
    merged.text = "spans both columns"
    word.add_paragraph("Closing remark after the table.")
    path.parent.mkdir(parents=True, exist_ok=True)
    word.save(str(path))
    return path


@pytest.fixture
def kb_root(tmp_path: Path) -> Path:
    """The folder being ingested; ``source`` metadata is relative to it."""
    root = tmp_path / "kb"
    root.mkdir()
    return root


@pytest.fixture
def make_pdf() -> Callable[..., Path]:
    return write_pdf


@pytest.fixture
def make_docx() -> Callable[..., Path]:
    return write_docx
