"""Plain text, Markdown and reStructuredText: the whole file as one Document.

Markdown stays raw markdown, so a header-aware splitter can still see the ``#`` lines. The title is
the first heading (Markdown front matter ``title:`` first), or none, and ``load_file`` uses the
file stem.

>>> markdown_title("---\\ntitle: Guide\\n---\\n# Intro")
'Guide'
>>> rst_title("=====\\nSetup\\n=====\\n\\nText")
'Setup'
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from langchain_core.documents import Document

from ingest.loaders.encoding import read_text

if TYPE_CHECKING:
    from ingest.loaders import LoadOptions

MARKDOWN_EXTENSIONS = frozenset({".md", ".markdown"})

_ATX_HEADING = re.compile(r"^ {0,3}#{1,6}[ \t]+(.+?)(?:[ \t]+#+)?[ \t]*$")
_SETEXT_UNDERLINE = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(```|~~~)")
_FRONT_MATTER_TITLE = re.compile(r"^title:[ \t]*(.+?)[ \t]*$", re.MULTILINE)
_RST_ADORNMENT = re.compile(r"^([=\-`:'\"~^_*+#<>.])\1{2,}[ \t]*$")


def load_text(path: Path, options: LoadOptions) -> list[Document]:
    """One Document holding the file's text; ``title`` from its first heading, if any."""
    text = read_text(path)
    extension = path.suffix.lower()
    metadata: dict[str, str] = {}
    if extension in MARKDOWN_EXTENSIONS:
        title = markdown_title(text)
        metadata.update(front_matter(text))
    elif extension == ".rst":
        title = rst_title(text)
    else:
        title = None
    if title:
        metadata["title"] = title
    return [Document(page_content=text, metadata=metadata)]


# Front-matter keys that fill a document card field (``ingest.loaders.DOCUMENT_KEYS``).
_FRONT_MATTER_FIELDS = {
    "author": "author",
    "authors": "author",
    "description": "description",
    "summary": "description",
    "keywords": "keywords",
    "tags": "keywords",
    "date": "created",
    "created": "created",
    "updated": "modified",
    "lastmod": "modified",
}
_FRONT_MATTER_LINE = re.compile(r"^([A-Za-z_]+):[ \t]*(.*?)[ \t]*$")


def front_matter(text: str) -> dict[str, str]:
    """Card fields from YAML front matter (one-line ``key: value`` and ``[a, b]`` lists only).

    >>> front_matter("---\\nauthor: Ann Lee\\ntags: [rag, cli]\\n---\\n# Guide")
    {'author': 'Ann Lee', 'keywords': 'rag, cli'}
    """
    lines = text.split("\n")
    if not lines or lines[0].strip() != "---":
        return {}
    found: dict[str, str] = {}
    for line in lines[1:200]:
        if line.strip() == "---":
            return found
        match = _FRONT_MATTER_LINE.match(line)
        key = _FRONT_MATTER_FIELDS.get(match.group(1).lower()) if match else None
        if match and key and key not in found:
            value = match.group(2).strip().strip("[]").strip("'\"")
            if value:
                found[key] = value
    return {}  # no closing line: not front matter


def markdown_title(text: str) -> str | None:
    """Front-matter ``title:``, else the first ATX (``# T``) or setext (``T`` / ``===``) heading."""
    lines = text.split("\n")
    if lines and lines[0].strip() == "---":
        end = next((i for i, line in enumerate(lines[1:], 1) if line.strip() == "---"), None)
        if end is not None:
            found = _FRONT_MATTER_TITLE.search("\n".join(lines[1:end]))
            if found:
                return found.group(1).strip("'\"") or None
            lines = lines[end + 1 :]
    in_fence = False
    for i, line in enumerate(lines):
        if _FENCE.match(line):
            in_fence = not in_fence  # a "# comment" in a code block is not a heading
            continue
        if in_fence:
            continue
        atx = _ATX_HEADING.match(line)
        if atx:
            return atx.group(1).strip()
        if line.strip() and i + 1 < len(lines) and _SETEXT_UNDERLINE.match(lines[i + 1]):
            return line.strip()
    return None


def rst_title(text: str) -> str | None:
    """The first section title: a line underlined (and maybe overlined) by punctuation."""
    lines = text.split("\n")
    for i in range(len(lines) - 1):
        title, underline = lines[i].strip(), lines[i + 1].strip()
        if (
            title
            and not _RST_ADORNMENT.match(title)
            and _RST_ADORNMENT.match(underline)
            and len(underline) >= len(title)
        ):
            return title
    return None
