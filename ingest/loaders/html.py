"""HTML: the visible text, one Document, paragraphs kept apart by blank lines.

Scripts, styles, ``<head>`` and hidden elements are dropped; ``<title>`` (else the first heading)
becomes the ``title``, ``<meta>`` author, description, keywords and date go to the document card,
and each ``<h1>``-``<h6>`` is recorded with its offset in the text (``headings``), so every chunk
knows its section. The tree is walked with an explicit stack, never recursively, so deeply
nested markup (generated pages, hostile files) cannot hit Python's recursion limit.

>>> html_to_text("<p>One <b>two</b></p><script>x()</script><ul><li>three</li></ul>")
('One two\\n\\nthree', None)
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
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


# <meta name=...> (or property=...) that fill a document card field, first found wins.
_META_FIELDS = {
    "author": "author",
    "dc.creator": "author",
    "dcterms.creator": "author",
    "article:author": "author",
    "description": "description",
    "dc.description": "description",
    "og:description": "description",
    "keywords": "keywords",
    "date": "created",
    "dc.date": "created",
    "dcterms.date": "created",
    "dcterms.created": "created",
    "article:published_time": "created",
    "dcterms.modified": "modified",
    "article:modified_time": "modified",
}


def load_html(path: Path, options: LoadOptions) -> list[Document]:
    """One Document with the page's visible text; ``title`` from ``<title>`` or a heading."""
    markup = read_text(path)
    try:
        page = html_document(markup)
    except RecursionError:
        raise LoaderError(str(path), "HTML is nested too deeply to parse") from None
    if not page.text:
        raise LoaderError(str(path), "no visible text in HTML")
    metadata: dict[str, object] = dict(page.meta)
    if page.title:
        metadata["title"] = page.title
    if page.headings:
        metadata["headings"] = page.headings
    return [Document(page_content=page.text, metadata=metadata)]


@dataclass
class HtmlPage:
    """An HTML page's visible text, title, ``(offset, level, heading)`` list and card fields."""

    text: str
    title: str | None
    headings: list[tuple[int, int, str]] = field(default_factory=list)
    meta: dict[str, str] = field(default_factory=dict)


def html_to_text(markup: str) -> tuple[str, str | None]:
    """``(visible text, title or None)`` of an HTML string."""
    page = html_document(markup)
    return page.text, page.title


def html_document(markup: str) -> HtmlPage:
    """The page's visible text, with its title, headings (offsets into the text) and meta fields.

    >>> page = html_document("<h1>Guide</h1><p>Hi.</p><h2>Install ¶</h2><p>Run it.</p>")
    >>> page.text, page.headings
    ('Guide\\n\\nHi.\\n\\nInstall ¶\\n\\nRun it.', [(0, 1, 'Guide'), (12, 2, 'Install')])
    """
    with warnings.catch_warnings():
        # XHTML files start with <?xml and short pages can look like a file name; both are fine.
        warnings.simplefilter("ignore", XMLParsedAsHTMLWarning)
        warnings.simplefilter("ignore", MarkupResemblesLocatorWarning)
        soup = BeautifulSoup(markup, "html.parser")
    title = _title(soup)
    meta = _meta(soup)
    blocks: list[str] = []
    line: list[str] = []
    heading_blocks: list[tuple[int, int]] = []  # (index of the heading's block, level)

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
        elif isinstance(node, _HeadingEnd):
            flush()
            if len(blocks) > node.block:
                heading_blocks.append((node.block, node.level))
        elif isinstance(node, Tag):
            if node.name in _DROPPED or _hidden(node):
                continue
            if node.name in _HEADINGS:
                flush()
                stack.append(_HeadingEnd(len(blocks), int(node.name[1])))
                stack.extend(reversed(node.contents))
            elif node.name == "pre":
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
    offsets = [0]
    for block in blocks:
        offsets.append(offsets[-1] + len(block) + 2)  # blocks are joined by a blank line
    headings = [
        (offsets[index], level, blocks[index].removesuffix("¶").strip())  # Sphinx's anchor mark
        for index, level in heading_blocks
    ]
    return HtmlPage("\n\n".join(blocks), title, [h for h in headings if h[2]], meta)


@dataclass(frozen=True)
class _HeadingEnd:
    """Stack marker: the walk has left a heading whose text starts block ``block``."""

    block: int
    level: int


def _meta(soup: BeautifulSoup) -> dict[str, str]:
    """Document card fields from ``<meta name|property=... content=...>``; dates as given."""
    found: dict[str, str] = {}
    for tag in soup.find_all("meta"):
        if not isinstance(tag, Tag):
            continue
        name = str(tag.get("name") or tag.get("property") or "").strip().lower()
        key = _META_FIELDS.get(name)
        content = _SPACES.sub(" ", str(tag.get("content") or "")).strip()
        if key and content and key not in found:
            found[key] = content
    return found


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
