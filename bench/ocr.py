"""OCR accuracy and speed on scans made from real text PDFs, in English and Chinese.

    flock /tmp/kbqa-cpu.lock python bench/ocr.py [--pages 3] [--noise 12] [--rotate 1.0]

For each language, takes the first ``--pages`` pages of prose (800 characters or more, no
table-of-contents dot leaders, which OCR reads as a varying number of dots) from a real PDF of
the realistic set (the zoo paper; the Debian maintainers' guide in Chinese), renders each at
200 dpi with PDFium, and makes a "scan" of it: rotated by ``--rotate`` degrees, Gaussian
noise of ``--noise`` grey levels, saved as JPEG at quality 75. The scan goes through kbqa's own
OCR (``ingest.loaders.ocr.recognise``). The reference is the page's text layer (pypdf).

Reports the character error rate (edit distance / reference length, whitespace removed from
both, since the text layer's spacing is itself a guess) for the clean render and for the scan,
and pages a second of render + OCR for the scans.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import machine, save  # noqa: E402

CORPUS = Path(__file__).resolve().parent / "data" / "realistic" / "corpus"
SOURCES = {
    "en": CORPUS / "en" / "zoo" / "zoo.pdf",
    "zh": CORPUS / "zh" / "maint-guide" / "maint-guide.zh-cn.pdf",
}
MIN_CHARS = 800


def is_prose(text: str) -> bool:
    """A page of running text: enough characters, and not a table of contents (dot leaders)."""
    return len("".join(text.split())) >= MIN_CHARS and text.count(". . .") < 3


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance, one row at a time."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, char in enumerate(a, start=1):
        current = [i]
        for j, other in enumerate(b, start=1):
            current.append(
                min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char != other))
            )
        previous = current
    return previous[-1]


def cer(reference: str, hypothesis: str) -> float:
    ref, hyp = "".join(reference.split()), "".join(hypothesis.split())
    return edit_distance(ref, hyp) / max(len(ref), 1)


def scan(image, noise: float, degrees: float, seed: int):  # type: ignore[no-untyped-def]
    """A scanner's version of ``image``: slightly rotated, noisy, JPEG-compressed."""
    import numpy as np
    from PIL import Image

    rotated = image.convert("L").rotate(degrees, expand=True, fillcolor=255, resample=Image.BICUBIC)
    pixels = np.asarray(rotated, dtype=np.float32)
    pixels += np.random.default_rng(seed).normal(0, noise, pixels.shape)
    noisy = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    buffer = io.BytesIO()
    noisy.save(buffer, format="JPEG", quality=75)
    return Image.open(io.BytesIO(buffer.getvalue()))


def run(lang: str, pages: int, noise: float, degrees: float) -> dict[str, object]:
    import pypdfium2 as pdfium
    from pypdf import PdfReader

    from ingest.loaders.ocr import RENDER_DPI, recognise

    path = SOURCES[lang]
    texts = [(page.extract_text() or "") for page in PdfReader(path).pages]
    chosen = [n for n, text in enumerate(texts) if is_prose(text)][:pages]
    document = pdfium.PdfDocument(str(path))
    recognise(document[0].render(scale=0.5).to_pil())  # load the models outside the timing
    rows, seconds = [], 0.0
    for n in chosen:
        started = time.perf_counter()
        image = document[n].render(scale=RENDER_DPI / 72).to_pil()
        scanned = scan(image, noise, degrees, seed=n)
        scan_text = recognise(scanned)
        seconds += time.perf_counter() - started
        clean_text = recognise(image)
        rows.append(
            {
                "page": n + 1,
                "chars": len("".join(texts[n].split())),
                "cer_clean": round(cer(texts[n], clean_text), 4),
                "cer_scan": round(cer(texts[n], scan_text), 4),
            }
        )
    total = sum(int(r["chars"]) for r in rows)  # type: ignore[call-overload]
    weighted = {
        key: round(sum(float(r[key]) * int(r["chars"]) for r in rows) / total, 4)  # type: ignore[arg-type, call-overload]
        for key in ("cer_clean", "cer_scan")
    }
    return {
        "lang": lang,
        "source": str(path.relative_to(CORPUS)),
        "pages": rows,
        **weighted,
        "pages_per_second": round(len(rows) / seconds, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, default=3)
    parser.add_argument("--noise", type=float, default=12.0, help="Gaussian noise, grey levels")
    parser.add_argument("--rotate", type=float, default=1.0, help="degrees")
    args = parser.parse_args()
    results = [run(lang, args.pages, args.noise, args.rotate) for lang in SOURCES]
    payload = {"machine": machine(), "noise": args.noise, "rotate": args.rotate, "results": results}
    print(json.dumps(payload, indent=2, ensure_ascii=False))
    print(f"saved {save('ocr', payload)}")


if __name__ == "__main__":
    main()
