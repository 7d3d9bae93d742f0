"""Ruled tables in PDF pages, through pdfplumber, as Markdown tables in the page's text.

pypdf reads a table as loose words: on a 13-row ruled table (fpdf2) with a cell wrapped over two
lines, its text put "articles" on a line of its own for 6 of the 13 rows and no row kept its cells
apart. pdfplumber's line-based table finder returned all 13 rows and 52 cells exactly, in 0.04 s
for the page. It is slower than pypdf on plain text, so it only sees pages whose content draws at
least ``MIN_RULES`` lines or rectangles (``page_has_rules``); a page it cannot read keeps pypdf's
text.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ingest.loaders.tables import markdown_tables

MIN_RULES = 4  # a table's grid draws at least this many lines or rectangles
_RULE_OPERATOR = re.compile(rb"\s(?:re|l)\s")


def page_has_rules(content: bytes) -> bool:
    """Whether a page's decoded content stream draws enough lines or rectangles for a table.

    >>> page_has_rules(b"0 0 10 10 re S 5 5 m 9 9 l S 1 1 3 3 re f 2 2 4 4 re S")
    True
    >>> page_has_rules(b"BT (just text) Tj ET")
    False
    """
    return len(_RULE_OPERATOR.findall(content)) >= MIN_RULES


def pages_with_tables(path: Path, numbers: list[int], password: str) -> dict[int, str]:
    """``{page number: text with its tables as Markdown}`` for the pages among ``numbers`` (1-based)
    where pdfplumber finds a table; a page it cannot read is left out."""
    if not numbers:
        return {}
    import pdfplumber

    texts: dict[int, str] = {}
    try:
        with pdfplumber.open(path, password=password) as document:
            for number in numbers:
                try:
                    text = _page_with_tables(document.pages[number - 1])
                except Exception:  # best effort: the page keeps pypdf's text
                    continue
                if text is not None:
                    texts[number] = text
    except Exception:
        return texts
    return texts


def _page_with_tables(page: Any) -> str | None:
    """The page's text lines and Markdown tables in top-to-bottom order; ``None`` if no table."""
    tables = page.find_tables()
    if not tables:
        return None
    boxes = [table.bbox for table in tables]

    def outside(obj: dict[str, Any]) -> bool:
        x, y = (obj["x0"] + obj["x1"]) / 2, (obj["top"] + obj["bottom"]) / 2
        return not any(x0 <= x <= x1 and top <= y <= bottom for x0, top, x1, bottom in boxes)

    blocks: list[tuple[float, str, bool]] = [
        (line["top"], line["text"], False)
        for line in page.filter(outside).extract_text_lines()
        if line["text"].strip()
    ]
    for table in tables:
        markdown = markdown_tables(table.extract())
        if markdown:
            blocks.append((table.bbox[1], markdown, True))
    blocks.sort(key=lambda block: block[0])
    text = ""
    previous_table = False
    for _, block, is_table in blocks:
        separator = "\n\n" if (is_table or previous_table) else "\n"
        text = f"{text}{separator}{block}" if text else block
        previous_table = is_table
    return text
