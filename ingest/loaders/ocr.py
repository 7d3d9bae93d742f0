"""Offline OCR on the CPU, Chinese and English: RapidOCR (PP-OCRv4 ONNX models in its wheel).

``rapidocr-onnxruntime`` ships its detection, direction and recognition models (16 MB) inside the
package and never downloads anything; the file reader's network refusal would stop it if it
tried (``tests/ingest/test_ocr.py``). It reads images (PNG, JPEG, TIFF, one Document per frame)
and the PDF pages that have no text layer but draw an image (rendered by pypdfium2); every
Document it makes says ``ocr: True`` so a citation can tell the reader the text was recognised,
not extracted.

A file is read whole or not at all. OCR takes seconds a page on this CPU (docs/benchmarks.md,
OCR), so a long scan can run past ``file_timeout``: the reader is then killed and the file is
reported "took longer than … (KBQA_FILE_TIMEOUT); skipped", with nothing stored. Keeping the
pages done so far would record the file as ingested and never finish it; raise KBQA_FILE_TIMEOUT
for large scans instead.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langchain_core.documents import Document

from rag.errors import LoaderError

if TYPE_CHECKING:
    from PIL.Image import Image

    from ingest.loaders import LoadOptions

log = logging.getLogger(__name__)

MAX_IMAGE_PIXELS = 50_000_000  # a 600-dpi A3 scan is 35 MP; beyond this is a decompression bomb
RENDER_DPI = 200  # PP-OCRv4 reads 10-point text well from 150 dpi up; the longest side is capped
MAX_RENDER_SIDE = 2400  # pixels; RapidOCR scales larger images down to 2000 anyway
_LINE_OVERLAP = 0.5  # boxes whose vertical extents overlap this much are one line


@lru_cache(maxsize=1)
def _engine() -> Any:
    """The OCR engine, loaded once per process (0.6 s): the file reader lives for many files."""
    from rapidocr_onnxruntime import RapidOCR  # type: ignore[import-untyped]

    return RapidOCR()


def recognise(image: Image) -> str:
    """The text in ``image``: lines top to bottom, boxes on one line left to right."""
    import numpy as np

    result, _ = _engine()(np.asarray(image.convert("RGB")))
    return boxes_to_text([(box, text) for box, text, _score in result or []])


def boxes_to_text(found: list[tuple[Any, str]]) -> str:
    """Join recognised boxes ``(four corner points, text)`` into lines.

    >>> boxes_to_text([([[50, 0], [90, 0], [90, 10], [50, 10]], "world"),
    ...                ([[0, 1], [40, 1], [40, 11], [0, 11]], "hello"),
    ...                ([[0, 20], [40, 20], [40, 30], [0, 30]], "next")])
    'hello world\\nnext'
    """
    boxes = sorted(
        (min(p[1] for p in box), max(p[1] for p in box), min(p[0] for p in box), text.strip())
        for box, text in found
        if text.strip()
    )
    lines: list[list[tuple[float, str]]] = []
    bottom = top = 0.0
    for box_top, box_bottom, left, text in boxes:
        overlap = min(bottom, box_bottom) - max(top, box_top)
        if lines and overlap >= _LINE_OVERLAP * min(box_bottom - box_top, bottom - top):
            lines[-1].append((left, text))
            bottom = max(bottom, box_bottom)
        else:
            lines.append([(left, text)])
            top, bottom = box_top, box_bottom
    return "\n".join(" ".join(text for _, text in sorted(line)) for line in lines)


def load_image(path: Path, options: LoadOptions) -> list[Document]:
    """One Document per frame with text (TIFF may hold many), ``page`` = frame number."""
    from PIL import Image, ImageSequence, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            documents = []
            for number, frame in enumerate(ImageSequence.Iterator(image), start=1):
                _check_pixels(path, frame.size)
                text = recognise(frame)
                if text:
                    documents.append(
                        Document(page_content=text, metadata={"page": number, "ocr": True})
                    )
    except (OSError, LoaderError) as err:
        if isinstance(err, UnidentifiedImageError):
            raise LoaderError(str(path), "not a valid image: cannot identify its format") from None
        if isinstance(err, LoaderError) or not _is_decode_error(err):
            raise
        raise LoaderError(str(path), f"not a valid image: {_first_line(err)}") from None
    except Image.DecompressionBombError:
        raise LoaderError(str(path), _pixels_reason(None)) from None
    except Exception as err:
        raise LoaderError(str(path), f"not a valid image: {_first_line(err)}") from None
    if not documents:
        raise LoaderError(str(path), "no text found in the image by OCR")
    return documents


def ocr_pdf_pages(path: Path, numbers: list[int], password: str) -> Iterator[tuple[int, str]]:
    """``(page number, text)`` for each page among ``numbers`` (1-based), rendered and read."""
    if not numbers:
        return
    import pypdfium2 as pdfium  # type: ignore[import-untyped]

    document = pdfium.PdfDocument(str(path), password=password or None)
    try:
        for done, number in enumerate(numbers, start=1):
            # progress: OCR takes seconds a page (the reader process logs warnings only)
            log.info(
                "%s: OCR of page %d (%d of %d without text)", path.name, number, done, len(numbers)
            )
            page = document[number - 1]
            try:
                width, height = page.get_size()
                scale = min(RENDER_DPI / 72, MAX_RENDER_SIDE / max(width, height, 1))
                bitmap = page.render(scale=scale)
                try:
                    image = bitmap.to_pil()
                    yield number, recognise(image)
                finally:
                    bitmap.close()
            finally:
                page.close()
    finally:
        document.close()


def _check_pixels(path: Path, size: tuple[int, int]) -> None:
    if size[0] * size[1] > MAX_IMAGE_PIXELS:
        raise LoaderError(str(path), _pixels_reason(size))


def _pixels_reason(size: tuple[int, int] | None) -> str:
    dims = f"is {size[0]} x {size[1]} pixels, " if size else ""
    return (
        f"image {dims}over the limit of {MAX_IMAGE_PIXELS // 1_000_000} megapixels;"
        " refused as a possible decompression bomb"
    )


def _is_decode_error(err: OSError) -> bool:
    """PIL raises OSError for truncated or corrupt image data, not only for I/O failures."""
    return err.errno is None


def _first_line(err: Exception) -> str:
    message = str(err).strip().splitlines()[0][:120] if str(err).strip() else ""
    return message or type(err).__name__
