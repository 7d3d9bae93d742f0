"""PowerPoint ``.pptx`` via python-pptx: one Document per slide, ``page`` = slide number.

A slide's text is its title (as a Markdown heading), then every text frame and table in reading
order (group shapes opened), then its speaker notes after "Notes:"; tables become Markdown tables
(``tables``). The file's title is the core-properties title, else the first slide's title.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langchain_core.documents import Document

from ingest.loaders.archive import check_zip, core_fields, first_line
from ingest.loaders.tables import markdown_tables
from rag.errors import LoaderError

if TYPE_CHECKING:
    from ingest.loaders import LoadOptions


def load_pptx(path: Path, options: LoadOptions) -> list[Document]:
    """One Document per slide with text; ``LoaderError`` when no slide has any."""
    import pptx

    check_zip(path, options.max_unpacked_bytes, "PPTX")
    try:
        deck = pptx.Presentation(str(path))
        slides = [_slide_text(slide) for slide in deck.slides]
        title = (deck.core_properties.title or "").strip()
        card = core_fields(deck.core_properties)
    except (OSError, LoaderError):
        raise
    except Exception as err:
        raise LoaderError(str(path), f"not a valid PPTX: {first_line(err)}") from None
    title = title or next((heading for heading, _ in slides if heading), "")
    documents = []
    for number, (_, text) in enumerate(slides, start=1):
        if text:
            metadata: dict[str, str | int] = {"page": number, **card}
            if title:
                metadata["title"] = title
            documents.append(Document(page_content=text, metadata=metadata))
    if not documents:
        raise LoaderError(str(path), "no text on any slide")
    return documents


def _slide_text(slide: Any) -> tuple[str, str]:
    """``(title, text)`` of one slide: title heading, frames and tables, then the notes."""
    title_shape = slide.shapes.title
    heading = " ".join(title_shape.text_frame.text.split()) if title_shape is not None else ""
    blocks = [f"# {heading}"] if heading else []
    for shape in _shapes(slide.shapes):
        if title_shape is not None and shape.shape_id == title_shape.shape_id:
            continue
        if getattr(shape, "has_table", False) and shape.has_table:
            rows = [[cell.text for cell in row.cells] for row in shape.table.rows]
            table = markdown_tables(rows)
            if table:
                blocks.append(table)
        elif getattr(shape, "has_text_frame", False) and shape.has_text_frame:
            text = shape.text_frame.text.strip()
            if text:
                blocks.append(text)
    if slide.has_notes_slide:
        notes = slide.notes_slide.notes_text_frame
        text = notes.text.strip() if notes is not None else ""
        if text:
            blocks.append(f"Notes: {text}")
    return heading, "\n\n".join(blocks)


def _shapes(shapes: Iterable[Any]) -> Iterator[Any]:
    """Every shape, group shapes opened (iteratively: a hostile deck may nest them deeply)."""
    from pptx.shapes.group import GroupShape

    stack = [iter(shapes)]
    while stack:
        shape = next(stack[-1], None)
        if shape is None:
            stack.pop()
        elif isinstance(shape, GroupShape):
            stack.append(iter(shape.shapes))
        else:
            yield shape
