"""CSV, JSON and JSON Lines: records rendered as text a retriever can match.

CSV rows are grouped into Documents of about ``CSV_GROUP_CHARS`` characters, each starting with the
header row, so a chunk never loses its column names. JSON records become ``key: value`` lines with
nested keys dotted (``author.name: Ada``), one Document per top-level array element or JSONL line.

>>> render_json({"id": 7, "author": {"name": "Ada"}, "tags": ["a", "b"]})
'id: 7\\nauthor.name: Ada\\ntags: a, b'
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langchain_core.documents import Document

from ingest.loaders.encoding import read_text
from rag.errors import LoaderError

if TYPE_CHECKING:
    from ingest.loaders import LoadOptions

CSV_GROUP_CHARS = 1500  # header + rows per Document; a few chunks' worth, split further later
_SNIFF_CHARS = 64 * 1024
_DELIMITERS = ",;\t|"


def load_csv(path: Path, options: LoadOptions) -> list[Document]:
    """Documents of header line + rows, each at most ~``CSV_GROUP_CHARS`` (one long row alone)."""
    text = read_text(path)
    dialect = _dialect(text)
    try:
        rows = [row for row in csv.reader(io.StringIO(text), dialect) if any(row)]
    except csv.Error as err:
        raise LoaderError(str(path), f"not a valid CSV: {err}") from None
    if not rows:
        raise LoaderError(str(path), "CSV has no rows")
    header, *body = (_csv_line(row, dialect.delimiter) for row in rows)
    return [Document(page_content=content) for content in group_rows(header, body)]


def group_rows(header: str, rows: list[str], limit: int = CSV_GROUP_CHARS) -> list[str]:
    """``header`` plus consecutive ``rows``, as many as fit in ``limit`` characters per group.

    >>> group_rows("h", ["aaaa", "bbbb", "cccc"], limit=12)
    ['h\\naaaa\\nbbbb', 'h\\ncccc']
    """
    groups: list[str] = []
    current: list[str] = []
    size = len(header)
    for row in rows:
        if current and size + 1 + len(row) > limit:
            groups.append("\n".join([header, *current]))
            current, size = [], len(header)
        current.append(row)
        size += 1 + len(row)
    if current or not groups:
        groups.append("\n".join([header, *current]))
    return groups


def load_json(path: Path, options: LoadOptions) -> list[Document]:
    """One Document per element of a top-level array, else one for the whole value."""
    text = read_text(path)
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise LoaderError(
            str(path), f"not valid JSON: {err.msg} (line {err.lineno}, column {err.colno})"
        ) from None
    except RecursionError:
        raise LoaderError(str(path), "JSON is nested too deeply to parse") from None
    records = value if isinstance(value, list) else [value]
    return [Document(page_content=render_json(record)) for record in records]


def load_jsonl(path: Path, options: LoadOptions) -> list[Document]:
    """One Document per non-blank line; a line that is not JSON fails the file, naming it."""
    documents = []
    for number, line in enumerate(read_text(path).split("\n"), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise LoaderError(str(path), f"line {number} is not valid JSON ({err.msg})") from None
        except RecursionError:
            raise LoaderError(str(path), f"line {number} is nested too deeply to parse") from None
        documents.append(Document(page_content=render_json(record)))
    return documents


def render_json(value: Any) -> str:
    """``key: value`` lines, nested keys dotted, lists of scalars joined with ``, ``.

    Iterative, so any depth ``json.loads`` accepted renders without hitting the recursion limit.
    """
    lines: list[str] = []
    stack: list[tuple[str, Any]] = [("", value)]
    while stack:
        key, item = stack.pop()
        if isinstance(item, dict):
            children = [(f"{key}.{k}" if key else str(k), v) for k, v in item.items()]
            stack.extend(reversed(children))
        elif isinstance(item, list) and not all(_is_scalar(v) for v in item):
            children = [(f"{key}.{i}" if key else str(i), v) for i, v in enumerate(item)]
            stack.extend(reversed(children))
        else:
            text = ", ".join(map(_scalar, item)) if isinstance(item, list) else _scalar(item)
            if text:
                lines.append(f"{key}: {text}" if key else text)
    return "\n".join(lines)


def _dialect(text: str) -> type[csv.Dialect] | csv.Dialect:
    """The sniffed dialect, or plain comma-separated when sniffing cannot tell."""
    try:
        return csv.Sniffer().sniff(text[:_SNIFF_CHARS], delimiters=_DELIMITERS)
    except csv.Error:
        return csv.excel


def _csv_line(row: list[str], delimiter: str) -> str:
    """``row`` written back as one CSV line (quoting kept where a field needs it)."""
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter, lineterminator="").writerow(row)
    return buffer.getvalue()


def _is_scalar(value: Any) -> bool:
    return not isinstance(value, dict | list)


def _scalar(value: Any) -> str:
    return value.strip() if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
