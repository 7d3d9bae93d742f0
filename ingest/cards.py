"""Document cards: one extra chunk per file that says what the file is.

A question about a document as a whole ("who wrote the zoo paper?", "这篇文章讲什么？") names
its title or its authors, words that seldom stand in any one passage of it; page 1's authors
line shares no word with "who wrote". The card gathers them: title, file, what the file says
about itself (author, subject, keywords, description, dates: ``ingest.loaders.DOCUMENT_KEYS``),
its top headings, and the opening of its first page, in the document's language, held to one
chunk's tokens. It is a chunk like the others (``kind: "card"``, page 1 where the format has
pages), so ingest replaces it with its file and removes it with its file.

>>> from langchain_core.documents import Document
>>> doc = Document(page_content="zoo is an R package.", metadata={
...     "source": "zoo.pdf", "page": 1, "title": "zoo", "lang": "en", "mime": "application/pdf",
...     "author": "Achim Zeileis", "created": "2022-09-15"})
>>> card = document_card([doc], contents=[], budget=200, cut=lambda t, n: t,
...                      count_tokens=lambda t: len(t.split()))
>>> print(card.page_content)
Document: zoo
File: zoo.pdf (PDF, 1 page)
Author: Achim Zeileis
Date: 2022-09-15
Opening: zoo is an R package.
>>> card.metadata["kind"], card.metadata["page"]
('card', 1)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import PurePosixPath
from typing import Any

from langchain_core.documents import Document

CARD_KIND = "card"
LABELS = {
    "en": {
        "title": "Document",
        "file": "File",
        "author": "Author",
        "subject": "Subject",
        "keywords": "Keywords",
        "description": "Description",
        "date": "Date",
        "modified": "modified",
        "contents": "Contents",
        "opening": "Opening",
        "page": "page",
        "pages": "pages",
    },
    "zh": {
        "title": "文档",
        "file": "文件",
        "author": "作者",
        "subject": "主题",
        "keywords": "关键词",
        "description": "简介",
        "date": "日期",
        "modified": "修改",
        "contents": "目录",
        "opening": "开头",
        "page": "页",
        "pages": "页",
    },
}
CONTENTS_SHARE = 4  # the headings line takes at most a quarter of the card's tokens
CARD_KEYS = ("source", "page", "title", "lang", "mime")  # what a card keeps of page 1's metadata


def document_card(
    docs: Sequence[Document],
    *,
    contents: Sequence[str],
    budget: int,
    cut: Callable[[str, int], str],
    count_tokens: Callable[[str], int],
) -> Document | None:
    """The card for one file's loaded Documents, at most ``budget`` tokens; None if no Document.

    ``contents`` are the file's top headings, in order; ``cut(text, n)`` keeps
    the start of ``text`` that fits ``n`` tokens; ``count_tokens`` counts them.
    """
    if not docs:
        return None
    first = docs[0].metadata
    lang = "zh" if first.get("lang") == "zh" else "en"
    label = LABELS[lang]
    colon = "：" if lang == "zh" else ": "
    source = str(first.get("source", ""))
    pages = max((int(d.metadata.get("page") or 1) for d in docs), default=1)
    kind = PurePosixPath(source).suffix.lstrip(".").upper() or "text"
    size = f", {pages} {label['page' if pages == 1 else 'pages']}" if "page" in first else ""

    lines = [f"{label['title']}{colon}{first.get('title') or PurePosixPath(source).stem}"]
    lines.append(f"{label['file']}{colon}{source} ({kind}{size})")
    for key in ("author", "subject", "keywords", "description"):
        if first.get(key):
            lines.append(f"{label[key]}{colon}{first[key]}")
    created, modified = first.get("created"), first.get("modified")
    if created or modified:
        date = str(created or modified)
        if created and modified and modified != created:
            date += f" ({label['modified']} {modified})"
        lines.append(f"{label['date']}{colon}{date}")
    title = str(first.get("title") or "")
    contents = [h for h in contents if h.casefold() != title.casefold()]
    if contents:
        line = f"{label['contents']}{colon}{'; '.join(contents)}"
        lines.append(cut(line, max(budget // CONTENTS_SHARE, 1)))
    header = "\n".join(lines)
    opening = " ".join(docs[0].page_content.split())
    room = budget - count_tokens(header) - count_tokens(f"{label['opening']}{colon}") - 1
    text = header
    if room > 0 and opening:
        text += f"\n{label['opening']}{colon}{cut(opening, room)}"
    metadata: dict[str, Any] = {key: first[key] for key in CARD_KEYS if key in first}
    metadata.update(kind=CARD_KIND, start_index=0)
    return Document(page_content=cut(text, budget), metadata=metadata)
