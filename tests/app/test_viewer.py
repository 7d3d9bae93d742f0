"""The source viewer's pure parts on a real PDF: the cited passage's characters are covered by
the highlight rectangles, and nothing else is; other files show the passage in its text."""

from __future__ import annotations

from pathlib import Path

import pypdfium2 as pdfium
import pytest

from app.viewer import line_boxes, matched_indices, render_page, surrounding

PDF = Path(__file__).resolve().parents[1] / "data" / "pdf" / "commented.pdf"
# Two lines of page 1, as ingest would store them (one line, hyphens and spacing its own).
PASSAGE = "The misfits. The rebels. The troublemakers. The round pegs in the square holes."
SCALE = 1.5


def char_centres(phrase: str) -> list[tuple[float, float]]:
    """Pixel centres of ``phrase``'s visible characters, found by PDFium's own search."""
    doc = pdfium.PdfDocument(str(PDF))
    page = doc[0]
    text_page = page.get_textpage()
    found = text_page.search(phrase).get_next()
    assert found, phrase
    start, count = found
    _, _, _, top = page.get_cropbox()
    centres = []
    for i in range(start, start + count):
        x0, y0, x1, y1 = text_page.get_charbox(i)
        if x1 > x0 and y1 > y0:
            centres.append(((x0 + x1) / 2 * SCALE, (top - (y0 + y1) / 2) * SCALE))
    doc.close()
    return centres


def inside(point: tuple[float, float], boxes) -> bool:
    x, y = point
    return any(left <= x <= right and top <= y <= bottom for left, top, right, bottom in boxes)


def test_highlight_covers_every_character_of_the_passage_and_nothing_else():
    view = render_page(PDF, 1, PASSAGE, scale=SCALE)
    assert view.highlighted and view.coverage == 1.0
    assert len(view.boxes) == 2  # the passage runs over two lines
    for phrase in (
        "The misfits. The rebels. The troublemakers.",
        "The round pegs in the square holes.",
    ):
        assert all(inside(c, view.boxes) for c in char_centres(phrase)), phrase
    for outside in ("October 14, 1998", "Heres to the crazy ones", "The ones who see things"):
        assert not any(inside(c, view.boxes) for c in char_centres(outside)), outside


def test_the_highlight_is_drawn_on_the_page_image():
    plain = pdfium.PdfDocument(str(PDF))[0].render(scale=SCALE).to_pil().convert("RGB")
    view = render_page(PDF, 1, PASSAGE, scale=SCALE)
    assert view.image.size == plain.size
    left, top, right, bottom = view.boxes[0]
    x, y = int(left + 2), int((top + bottom) / 2)
    r, g, b = view.image.getpixel((x, y))
    assert (r, g, b) != plain.getpixel((x, y)) and b < r - 40  # yellow over the white page


def test_passage_text_cleaned_by_ingest_is_still_found():
    # Ligature, hyphenation and line breaks as a PDF cleaner leaves them differently.
    cleaned = (
        "the mis-\nfits. THE REBELS.  The trouble\u00admakers. The round pegs in the square holes"
    )
    view = render_page(PDF, 1, cleaned, scale=SCALE)
    assert view.highlighted
    assert all(inside(c, view.boxes) for c in char_centres("The round pegs in the square holes."))


def test_a_passage_from_another_page_is_not_highlighted_but_the_page_is_drawn():
    view = render_page(PDF, 1, "Jupiter is the largest planet in the Solar System.", scale=SCALE)
    assert not view.highlighted and view.boxes == []
    assert view.image.size[0] > 100


def test_a_page_out_of_range_says_so():
    with pytest.raises(IndexError, match="page 5 is not in this PDF"):
        render_page(PDF, 5, PASSAGE)


def test_matched_indices_allow_for_spacing_and_case():
    idx, share = matched_indices("Alpha  beta\r\ngamma delta", "BETA gamma")
    assert share == 1.0 and "".join("Alpha  beta\r\ngamma delta"[i] for i in idx) == "beta\r\ngamma"


def test_line_boxes_merge_a_line_and_split_at_a_new_line():
    chars = [(0, 0, 5, 10), (5, 0, 10, 10), (0, 0, 0, 0), (0, 12, 5, 22)]
    assert line_boxes(chars) == [(0, 0, 10, 10), (0, 12, 5, 22)]


def test_other_files_show_the_passage_in_its_surrounding_text():
    text = "Intro line.\n\n" + "Before words. " * 80 + "The cited\npassage here. " + "After. " * 200
    context = surrounding(text, "The cited passage here.", radius=100)
    assert context.found and context.passage == "The cited passage here."
    assert context.before.startswith("…") and context.before.endswith("Before words. ")
    assert context.after.startswith(" After.") and context.after.endswith("…")
    assert len(context.before) <= 102 and len(context.after) <= 102


def test_a_passage_not_in_the_file_is_shown_alone():
    context = surrounding("Nothing to see here.", "Jupiter is the largest planet.")
    assert not context.found and context.passage == "Jupiter is the largest planet."


def test_a_page_without_a_crop_box_is_highlighted_where_its_text_is():
    from fpdf import FPDF

    pdf = FPDF()  # A4 with no CropBox: PDFium's default crop box would be Letter, 50 pt lower
    pdf.set_font("helvetica", size=12)
    pdf.add_page()
    pdf.multi_cell(0, 10, "Saturn has rings. The rings of Saturn are made mostly of water ice.")
    data = bytes(pdf.output())
    view = render_page(data, 1, "The rings of Saturn are made mostly of water ice.", scale=1.0)
    text_page = pdfium.PdfDocument(data)[0].get_textpage()
    x0, y0, x1, y1 = text_page.get_charbox(0)
    assert view.highlighted and abs(view.boxes[0][1] - (841.89 - y1)) < 3
