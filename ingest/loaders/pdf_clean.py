"""Clean the text pypdf extracts from PDF pages before it is split.

PDF text carries typesetting artefacts that cost retrieval: ligature characters ("Uniﬁed" is not
the keyword "unified"), words hyphenated across lines ("recog-\\nnition"), footnote markers glued
to words ("easyOCR11"), and running headers, footers and page numbers repeated on every page
("10 Z. Shen et al."), which land in every chunk and match every question a little.

>>> join_hyphenated("text recog-\\nnition and state-of-the-\\nart models")
'text recognition and state-of-the-art models'
>>> drop_running_lines(["Guide 1\\nalpha", "Guide 2\\nbeta", "Guide 3\\ngamma"])
['alpha', 'beta', 'gamma']
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Sequence

# Only the Latin ligatures (U+FB00-FB06) go through NFKC: NFKC of the whole text would also turn
# Chinese full-width punctuation (，：（) into ASCII and superscript digits (¹) into plain ones
# glued to their word, the very artefact cleaned below.
_LIGATURES = {code: unicodedata.normalize("NFKC", chr(code)) for code in range(0xFB00, 0xFB07)}
_LIGATURES[0x00AD] = ""  # a soft hyphen is a line-break hint, never text

# A word broken at a line end: letters, "-", newline, a lower-case letter. A word that already
# holds a hyphen before the break ("state-of-the-") keeps it: the break fell on a real hyphen.
_HYPHEN_BREAK = re.compile(r"(?<![\w-])([^\W\d_]+(-[^\W\d_]+)*)-[ \t]*\n[ \t]*([a-z\u00df-\u00ff])")
_FOOTNOTE_MARK = re.compile(r"^(\d{1,3}(,\d{1,3})*|[*\u2020\u2021\u00a7]+)$")
FOOTNOTE_SIZE_RATIO = 0.8  # LaTeX and Word set footnote marks at 0.7 of the body size
EDGE_LINES = 2  # lines at the top and at the bottom of a page that may be running heads
RUNNING_SHARE = 0.4  # on this share of pages (alternating even/odd heads are each on half)
MAX_RUNNING_CHARS = 120
_DIGITS = re.compile(r"\d+")
_ROMAN_PAGE = re.compile(r"^(?=[ivxlc]{1,7}$)(xc|xl|l?x{0,3})(ix|iv|v?i{0,3})$")  # front matter


def fix_ligatures(text: str) -> str:
    """``ﬁ`` -> ``fi`` and the other Latin ligatures; soft hyphens removed.

    >>> fix_ligatures("Uniﬁed ﬂow, e\\u00adﬀort")
    'Unified flow, effort'
    """
    return text.translate(_LIGATURES)


def join_hyphenated(text: str) -> str:
    """Join words hyphenated across a line end, and with them the two lines.

    >>> join_hyphenated("recog-\\nnition-based and state-of-the-\\nart")
    'recognition-based and state-of-the-art'
    """

    def join(match: re.Match[str]) -> str:
        hyphen = "-" if match.group(2) else ""  # "state-of-the-" + "art": part of the word
        return f"{match.group(1)}{hyphen}{match.group(3)}"

    return _HYPHEN_BREAK.sub(join, text)


class PageTextCollector:
    """pypdf ``visitor_text`` callback: the page's text without footnote marks.

    pypdf's ``extract_text`` output is the concatenation of the pieces it passes to its visitor,
    each with its font size and text matrix; a piece of digits (or ``*``, ``†``) set smaller than
    the text it is glued to is a footnote or reference mark and is left out ("easyOCR11" ->
    "easyOCR"). Dropped rather than spaced off ("easyOCR 11"): on six paper sentences with marks,
    all-MiniLM-L6-v2's cosine to the question was 0.564 dropped, 0.524 spaced, 0.537 glued
    (dropped best on five of six); a stray number also reads as part of the sentence in answers,
    and the footnote itself still begins with it.
    """

    def __init__(self) -> None:
        self.pieces: list[str] = []
        self._last_size = 0.0

    def __call__(
        self, text: str, cm: Sequence[float], tm: Sequence[float], font: object, size: float
    ) -> None:
        if not text:
            return
        effective = size * _scale(cm) * _scale(tm)
        glued = bool(self.pieces) and self.pieces[-1][-1:] not in ("", " ", "\n")
        if (
            glued
            and _FOOTNOTE_MARK.match(text)
            and 0 < effective <= FOOTNOTE_SIZE_RATIO * self._last_size
        ):
            return
        if text.strip():
            self._last_size = effective
        self.pieces.append(text)

    def text(self) -> str:
        return "".join(self.pieces)


def drop_running_lines(pages: list[str]) -> list[str]:
    """Pages without the headers, footers and page numbers that repeat across pages.

    A line within ``EDGE_LINES`` of a page's top or bottom is running when the same line, with
    its digits ignored ("10 Z. Shen et al." = "11 Z. Shen et al."), sits at the edge of at least
    ``RUNNING_SHARE`` of the pages (and of two pages at least). Bare page numbers ("3", "- 3 -",
    "iv", "Page 3 of 9") are one such line too.
    """
    if len(pages) < 2:
        return pages
    lines = [page.split("\n") for page in pages]
    counts: Counter[str] = Counter()
    for page_lines in lines:
        counts.update({_line_key(line) for line in _edges(page_lines)} - {""})
    need = max(2, math.ceil(RUNNING_SHARE * len(pages)))
    running = {key for key, count in counts.items() if count >= need}
    if not running:
        return pages
    cleaned = []
    for page, page_lines in zip(pages, lines, strict=True):
        edge = set(_edge_positions(page_lines))
        kept = "\n".join(
            line
            for i, line in enumerate(page_lines)
            if not (i in edge and _line_key(line) in running)
        ).strip()
        # A page of nothing but such lines ("Background" on every slide) keeps them: they are
        # its text, not a frame around it.
        cleaned.append(kept or page)
    return cleaned


def clean_pages(pages: list[str]) -> list[str]:
    """Every cleaning step, in order, over the text of all pages of one PDF."""
    pages = drop_running_lines([fix_ligatures(page) for page in pages])
    return [join_hyphenated(page) for page in pages]


def _edge_positions(page_lines: list[str]) -> list[int]:
    filled = [i for i, line in enumerate(page_lines) if line.strip()]
    return filled[:EDGE_LINES] + filled[-EDGE_LINES:]


def _edges(page_lines: list[str]) -> list[str]:
    return [page_lines[i] for i in _edge_positions(page_lines)]


def _line_key(line: str) -> str:
    """The line with digits as ``#`` and spaces squeezed; "" for lines too long to be heads."""
    words = " ".join(line.split())
    if not words or len(words) > MAX_RUNNING_CHARS or words.startswith("|"):
        return ""  # a table's header row repeated on each page stays with its table
    if _ROMAN_PAGE.match(words):
        return "#"
    return _DIGITS.sub("#", words).lower()


def _scale(matrix: Sequence[float]) -> float:
    """How much a PDF matrix enlarges text (the square root of its area factor)."""
    if len(matrix) < 4:
        return 1.0
    return math.sqrt(abs(matrix[0] * matrix[3] - matrix[1] * matrix[2])) or 1.0
