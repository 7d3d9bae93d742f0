"""HTML: the visible text, one Document, paragraphs kept apart by blank lines.

Scripts, styles, ``<head>`` and hidden elements are dropped; ``<title>`` (else the first heading)
becomes the ``title``. The tree is walked with an explicit stack, never recursively, so deeply
nested markup (generated pages, hostile files) cannot hit Python's recursion limit.

>>> html_to_text("<p>One <b>two</b></p><script>x()</script><ul><li>three</li></ul>")
('One two\\n\\nthree', None)
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from bs4 import (
    BeautifulSoup,
    MarkupResemblesLocatorWarning,
    NavigableString,
    Tag,
    XMLParsedAsHTMLWarning,
)
from langchain_core.documents import Document

from ingest.loaders.encoding import read_text
from rag.errors import LoaderError

if TYPE_CHECKING:
    from ingest.loaders import LoadOptions

_DROPPED = frozenset(
    {"script", "style", "noscript", "template", "head", "title", "iframe", "object", "embed"}
)
_BLOCKS = frozenset(
    """address article aside blockquote body br caption dd details dialog div dl dt fieldset
    figcaption figure footer form h1 h2 h3 h4 h5 h6 header hgroup hr html li main nav ol p pre
    section summary table tbody tfoot thead tr ul""".split()
)
_CELLS = frozenset({"td", "th"})
_HEADINGS = ("h1", "h2", "h3", "h4", "h5", "h6")
_HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.IGNORECASE)
_SPACES = re.compile(r"\s+")
_EXIT = object()  # stack marker: the walk has left a block element


def load_html(path: Path, options: LoadOptions) -> list[Document]:
    """One Document with the page's visible text; ``title`` from ``<title>`` or a heading."""
    markup = read_text(path)
    try:
        text, title = html_to_text(markup)
    except RecursionError:
        raise LoaderError(str(path), "HTML is nested too deeply to parse") from None
    if not text:
        raise LoaderError(str(path), "no visible text in HTML")
    return [Document(page_content=text, metadata={"title": title} if title else {})]


def html_to_text(markup: str) -> tuple[str, str | None]:
    """``(visible text, title or None)`` of an HTML string."""
    with warnings.catch_warnings():
        # XHTML files start with <?xml and short pages can look like a file name; both are fine.
        warnings.simplefilter("ignore", XMLParsedAsHTMLWarning)
        warnings.simplefilter("ignore", MarkupResemblesLocatorWarning)
        soup = BeautifulSoup(markup, "html.parser")
    title = _title(soup)
    blocks: list[str] = []
    line: list[str] = []

    def flush() -> None:
        joined = _SPACES.sub(" ", "".join(line)).strip()
        if joined:
            blocks.append(joined)
        line.clear()

    stack: list[object] = list(reversed(soup.contents))
    while stack:
        node = stack.pop()
        if node is _EXIT:
            flush()
        elif isinstance(node, Tag):
            if node.name in _DROPPED or _hidden(node):
                continue
            if node.name == "pre":
                flush()
                blocks.append(node.get_text().strip("\n"))  # whitespace is the content here
            elif node.name in _BLOCKS:
                flush()
                stack.append(_EXIT)
                stack.extend(reversed(node.contents))
            else:
                if node.name in _CELLS:
                    line.append(" ")
                stack.extend(reversed(node.contents))
        elif type(node) is NavigableString:  # not Comment, Doctype, CData, ...
            line.append(str(node))
    flush()
    return "\n\n".join(blocks), title


def _title(soup: BeautifulSoup) -> str | None:
    for found in (soup.find("title"), soup.find(_HEADINGS)):
        if isinstance(found, Tag):
            text = _SPACES.sub(" ", found.get_text()).strip()
            if text:
                return text
    return None


def _hidden(tag: Tag) -> bool:
    style = tag.get("style")
    return (
        tag.has_attr("hidden")
        or tag.get("aria-hidden") == "true"
        or (isinstance(style, str) and bool(_HIDDEN_STYLE.search(style)))
    )
