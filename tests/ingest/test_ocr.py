"""Offline OCR: images and PDF pages without a text layer, English and Chinese.

Images are drawn at test time (DejaVu Sans for English; Chinese from multilang.pdf's embedded
fonts, rendered by PDFium), so every expected string is known.
"""

from __future__ import annotations

import io
import time
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont

import ingest.worker as worker
from ingest.loaders import load_file
from ingest.loaders.ocr import MAX_IMAGE_PIXELS
from rag.errors import LoaderError
from tests.ingest.whole_document import WholeDocument

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
PDFS = Path(__file__).resolve().parents[1] / "data" / "pdf"
LINES = ["Invoice 2041 is due on 12 March.", "Pay the warehouse in Rotterdam."]


def text_image(lines: list[str] = LINES, size: int = 28) -> Image.Image:
    font = ImageFont.truetype(FONT, size)
    image = Image.new("RGB", (900, 60 + 50 * len(lines)), "white")
    draw = ImageDraw.Draw(image)
    for i, line in enumerate(lines):
        draw.text((30, 30 + 50 * i), line, fill="black", font=font)
    return image


def reason_of(path: Path, root: Path) -> str:
    with pytest.raises(LoaderError) as caught:
        load_file(path, root)
    assert "\n" not in caught.value.reason
    return caught.value.reason


def scanned_pdf(path: Path, pages: list[str | Image.Image]) -> Path:
    """A PDF whose pages are text (a text layer) or images (a scan, no text layer)."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("helvetica", size=12)
    for page in pages:
        pdf.add_page()
        if isinstance(page, str):
            pdf.multi_cell(0, 10, page)
        else:
            buffer = io.BytesIO()
            page.save(buffer, format="PNG")
            pdf.image(buffer, x=10, y=10, w=190)
    pdf.output(str(path))
    return path


# --- no model needed ------------------------------------------------------------------------------


@pytest.mark.slow  # a decodable image reaches RapidOCR's models
def test_files_that_are_not_images_fail_with_one_line_reasons(kb_root: Path) -> None:
    (kb_root / "text.png").write_text("just text, not a PNG")
    assert (
        reason_of(kb_root / "text.png", kb_root) == "not a valid image: cannot identify its format"
    )
    buffer = io.BytesIO()
    text_image().save(buffer, format="PNG")
    (kb_root / "cut.png").write_bytes(buffer.getvalue()[:400])
    assert reason_of(kb_root / "cut.png", kb_root).startswith("not a valid image: ")


def test_an_image_of_too_many_pixels_is_refused_before_it_is_decoded(kb_root: Path) -> None:
    path = kb_root / "huge.png"
    Image.new("1", (8000, 8000)).save(path)  # 64 MP, 8 KB on disk
    assert path.stat().st_size < 100_000 and 8000 * 8000 > MAX_IMAGE_PIXELS
    started = time.monotonic()
    reason = reason_of(path, kb_root)
    assert reason == (
        "image is 8000 x 8000 pixels, over the limit of 50 megapixels;"
        " refused as a possible decompression bomb"
    )
    assert time.monotonic() - started < 1


def test_the_models_ship_inside_the_wheel() -> None:
    import rapidocr_onnxruntime

    models = Path(rapidocr_onnxruntime.__file__).parent / "models"
    names = sorted(p.name for p in models.glob("*.onnx"))
    assert names == [
        "ch_PP-OCRv4_det_infer.onnx",
        "ch_PP-OCRv4_rec_infer.onnx",
        "ch_ppocr_mobile_v2.0_cls_infer.onnx",
    ]


def test_textless_pages_without_images_are_not_ocrd(kb_root: Path) -> None:
    from fpdf import FPDF

    from ingest.loaders.ocr import _engine

    drawing = FPDF()
    drawing.add_page()
    drawing.rect(20, 20, 100, 60)
    drawing.line(20, 20, 120, 80)
    drawing.output(str(kb_root / "drawing.pdf"))
    calls = _engine.cache_info()
    for path in [scanned_pdf(kb_root / "blank.pdf", ["", ""]), kb_root / "drawing.pdf"]:
        assert reason_of(path, kb_root) == "no text found: no text layer, and OCR read none"
    after = _engine.cache_info()
    assert after.hits + after.misses == calls.hits + calls.misses  # the engine was never asked


# --- with the OCR models --------------------------------------------------------------------------


@pytest.mark.slow
def test_png_jpeg_and_tiff_images_are_read_and_marked_ocr(kb_root: Path) -> None:
    text_image().save(kb_root / "invoice.png")
    text_image().save(kb_root / "invoice.jpg", quality=80)
    second = text_image(["Second page: ship by truck."])
    text_image().save(kb_root / "scan.tiff", save_all=True, append_images=[second])
    for name in ["invoice.png", "invoice.jpg"]:
        [doc] = load_file(kb_root / name, kb_root)
        assert "Invoice" in doc.page_content and "Rotterdam" in doc.page_content
        assert doc.page_content.count("\n") == 1  # one line per drawn line
        assert doc.metadata["ocr"] is True and doc.metadata["page"] == 1
    pages = load_file(kb_root / "scan.tiff", kb_root)
    assert [(d.metadata["page"], d.metadata["ocr"]) for d in pages] == [(1, True), (2, True)]
    assert "truck" in pages[1].page_content
    assert pages[0].metadata["mime"] == "image/tiff"


@pytest.mark.slow
def test_chinese_is_read_from_a_rendered_page(kb_root: Path) -> None:
    import pypdfium2 as pdfium

    document = pdfium.PdfDocument(str(PDFS / "multilang.pdf"))
    document[0].render(scale=3).to_pil().save(kb_root / "multilang.png")
    [doc] = load_file(kb_root / "multilang.png", kb_root)
    assert "你好世界" in doc.page_content


@pytest.mark.slow
def test_only_pages_without_a_text_layer_are_ocrd_and_keep_their_numbers(kb_root: Path) -> None:
    path = scanned_pdf(
        kb_root / "mixed.pdf",
        ["Page one has a text layer.", text_image(), "", "Page four has one too."],
    )
    docs = load_file(path, kb_root)
    assert [(d.metadata["page"], d.metadata.get("ocr", False)) for d in docs] == [
        (1, False),
        (2, True),
        (4, False),
    ]
    assert "warehouse in Rotterdam" in docs[1].page_content


@pytest.mark.slow
def test_ocr_runs_in_the_file_reader_offline_and_a_long_scan_fails_whole_past_the_limit(
    kb_root: Path,
) -> None:
    short = scanned_pdf(kb_root / "short.pdf", [text_image()])
    long = scanned_pdf(kb_root / "long.pdf", [text_image()] * 40)
    note = kb_root / "note.txt"
    note.write_text("A note after the scan.", encoding="utf-8")
    jobs = [
        worker.Job(n, path, kb_root, path.name, path.stat().st_size)
        for n, path in enumerate([short, long, note])
    ]
    # The child refuses every socket call: OCR that tried to download would fail here.
    reader = worker.FileReader(
        WholeDocument(), timeout=8, max_file_mb=50, pdf_password=None, memory_mb=2048
    )
    with reader:
        outcomes = {job.source: outcome for job, outcome in reader.read(jobs)}
    loaded = outcomes["short.pdf"]
    assert isinstance(loaded, worker.Loaded), loaded
    [(text, metadata)] = loaded.chunks
    assert "Rotterdam" in text and metadata["ocr"] is True
    assert outcomes["long.pdf"] == "took longer than 8 s to read (KBQA_FILE_TIMEOUT); skipped"
    assert isinstance(outcomes["note.txt"], worker.Loaded)
