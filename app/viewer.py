"""The source viewer's pure parts: a PDF page drawn with the cited passage highlighted, and a
passage found in its file's text. No Streamlit here, so each piece is tested alone.

PDF pages are drawn offline by pypdfium2 (PDFium). The passage's characters are found in the
page's text layer and their boxes painted over with translucent rectangles. The indexed passage
and the page's text differ in spacing, hyphenation and ligatures (ingest cleans PDF text), so
both are compared as letters and digits only; the stretches that match (``difflib``'s blocks of
``MIN_BLOCK`` or more characters) are the passage.

>>> c = surrounding("aaa. The cited part. bbb.", "The  cited part.")
>>> (c.before, c.passage, c.after, c.found)
('aaa. ', 'The cited part.', ' bbb.', True)
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, ImageDraw

# 8 letters or digits in a row are rarely shared by chance; 4 would match "the " words.
MIN_BLOCK = 8
# Half the passage found on the page: enough to say "this is the place" with highlights.
MIN_COVERAGE = 0.5
HIGHLIGHT = (255, 200, 0, 96)
OUTLINE = (230, 140, 0, 200)

Box = tuple[float, float, float, float]  # left, top, right, bottom in image pixels


@dataclass
class PageView:
    """A rendered page: the image, the highlight boxes drawn on it, and how much of the passage
    they cover (``highlighted`` when enough of it was found)."""

    image: Image.Image
    highlighted: bool
    boxes: list[Box] = field(default_factory=list)
    coverage: float = 0.0
    page: int = 1
    pages: int = 1


def _letters(text: str) -> tuple[str, list[int]]:
    """``text`` as lower-case letters and digits only, with each one's index in ``text``."""
    out: list[str] = []
    where: list[int] = []
    for i, ch in enumerate(text):
        for c in unicodedata.normalize("NFKC", ch).casefold():
            if c.isalnum():
                out.append(c)
                where.append(i)
    return "".join(out), where


def matched_indices(page_text: str, passage: str) -> tuple[list[int], float]:
    """Indices into ``page_text`` of the characters that match ``passage``, and the share of
    the passage's letters and digits found.

    >>> idx, share = matched_indices("Intro. The rebels, the mis-\\nfits. End", "the misfits")
    >>> "".join("Intro. The rebels, the mis-\\nfits. End"[i] for i in idx), share
    ('the mis-\\nfits.', 1.0)
    """
    page, where = _letters(page_text)
    wanted, _ = _letters(passage)
    if not page or not wanted:
        return [], 0.0
    start = page.find(wanted)
    if start >= 0:
        return _span(page_text, where[start], where[start + len(wanted) - 1]), 1.0
    matcher = difflib.SequenceMatcher(None, page, wanted, autojunk=False)
    hits: set[int] = set()
    found = 0
    for block in matcher.get_matching_blocks():
        if block.size >= MIN_BLOCK:
            hits.update(_span(page_text, where[block.a], where[block.a + block.size - 1]))
            found += block.size
    return sorted(hits), found / len(wanted)


_CLOSING = set(".,;:!?)]}\"'”’」』。，、；：！？）")


def _span(text: str, first: int, last: int) -> list[int]:
    """``first``..``last`` with the punctuation between and right after (a sentence's ".")."""
    while last + 1 < len(text) and text[last + 1] in _CLOSING:
        last += 1
    return list(range(first, last + 1))


def line_boxes(char_boxes: list[Box]) -> list[Box]:
    """Character boxes (in reading order) merged into one box per run on a line."""
    lines: list[list[float]] = []
    for left, top, right, bottom in char_boxes:
        if right <= left or bottom <= top:
            continue  # spaces and generated line breaks have no area
        if lines:
            cur = lines[-1]
            overlap = min(cur[3], bottom) - max(cur[1], top)
            same_line = overlap > 0.5 * min(cur[3] - cur[1], bottom - top)
            if same_line and left >= cur[0] - 2:
                cur[0], cur[1] = min(cur[0], left), min(cur[1], top)
                cur[2], cur[3] = max(cur[2], right), max(cur[3], bottom)
                continue
        lines.append([left, top, right, bottom])
    return [(a, b, c, d) for a, b, c, d in lines]


def draw_boxes(image: Image.Image, boxes: list[Box], pad: float = 1.5) -> Image.Image:
    """``image`` with translucent rectangles over ``boxes``."""
    base = image.convert("RGBA")
    overlay = Image.new("RGBA", base.size, (0, 0, 0, 0))
    pen = ImageDraw.Draw(overlay)
    for left, top, right, bottom in boxes:
        pen.rectangle(
            (left - pad, top - pad, right + pad, bottom + pad), fill=HIGHLIGHT, outline=OUTLINE
        )
    return Image.alpha_composite(base, overlay).convert("RGB")


def render_page(pdf: Path | bytes, page: int, passage: str, scale: float = 1.5) -> PageView:
    """Page ``page`` (1-based) of ``pdf`` as an image, the passage's characters highlighted.

    ``highlighted`` is False when the passage is not on the page (too little of it matched) or
    the page is rotated; the page is still drawn. Raises ``IndexError`` for a page out of range.
    """
    import pypdfium2 as pdfium
    import pypdfium2.raw as pdfium_c

    doc = pdfium.PdfDocument(pdf if isinstance(pdf, bytes) else str(pdf))
    try:
        pages = len(doc)
        if not 1 <= page <= pages:
            raise IndexError(f"page {page} is not in this PDF (it has {pages})")
        pdf_page = doc[page - 1]
        image = pdf_page.render(scale=scale).to_pil()
        text_page = pdf_page.get_textpage()
        count = text_page.count_chars()
        # One character per index, as PDFium numbers them for the boxes.
        text = "".join(
            chr(pdfium_c.FPDFText_GetUnicode(text_page.raw, i) or 32) for i in range(count)
        )
        indices, coverage = matched_indices(text, passage)
        left, _, _, top = pdf_page.get_bbox()  # the visible box (a missing CropBox is not Letter)
        rotated = pdf_page.get_rotation() % 360 != 0
        chars: list[Box] = []
        for i in indices:
            x0, y0, x1, y1 = text_page.get_charbox(i)  # PDF points, y upwards
            chars.append(
                ((x0 - left) * scale, (top - y1) * scale, (x1 - left) * scale, (top - y0) * scale)
            )
    finally:
        doc.close()
    highlighted = coverage >= MIN_COVERAGE and not rotated and bool(chars)
    boxes = line_boxes(chars) if highlighted else []
    if boxes:
        image = draw_boxes(image, boxes)
    return PageView(image.convert("RGB"), highlighted, boxes, coverage, page, pages)


@dataclass
class Context:
    """A passage in its surrounding text; ``found`` is False when only the passage is known."""

    before: str
    passage: str
    after: str
    found: bool


_SPACE = re.compile(r"\s+")


def surrounding(text: str, passage: str, radius: int = 700) -> Context:
    """``passage`` located in ``text`` (spacing aside) with up to ``radius`` characters of the
    text on each side, cut at a space."""
    flat = _SPACE.sub(" ", text)
    wanted = _SPACE.sub(" ", passage).strip()
    start = flat.find(wanted) if wanted else -1
    if start < 0:
        # The stored chunk may carry a heading prefix or cleaned text: find its letters.
        indices, coverage = matched_indices(flat, wanted)
        if coverage < MIN_COVERAGE or not indices:
            return Context("", wanted, "", False)
        start, end = indices[0], indices[-1] + 1
    else:
        end = start + len(wanted)
    before = flat[max(0, start - radius) : start]
    after = flat[end : end + radius]
    if start - radius > 0 and " " in before:
        before = "…" + before[before.index(" ") + 1 :]
    if end + radius < len(flat) and " " in after:
        after = after[: after.rindex(" ")] + "…"
    return Context(before, flat[start:end], after, True)
