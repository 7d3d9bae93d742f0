"""PDF text cleaning, on PDFs typeset like papers (fpdf2) and on the real PDFs in tests/data/pdf."""

from __future__ import annotations

from pathlib import Path

import pytest
from pypdf import PdfReader

from ingest.loaders import load_file
from ingest.loaders.pdf_clean import (
    clean_pages,
    drop_running_lines,
    fix_ligatures,
    join_hyphenated,
)

PDFS = Path(__file__).resolve().parents[1] / "data" / "pdf"
FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")  # has the ﬁ ﬂ ﬀ glyphs

BODY = [
    "Layout analysis is a Uniﬁed ﬁrst step of document understand-\n"
    "ing. We compare easyOCR{11} and Tesseract{12} on scanned pages.",
    "The toolkit oﬀers text recog-\nnition, state-of-the-\nart layout models and a ﬂexible API.",
    "Deep learning based methods need training data; the annota-\n"
    "tion tool exports datasets in COCO format.",
]


def write_paper(path: Path, pages: list[str] = BODY) -> Path:
    """A paper-like PDF: running head with the page number, footer "Page N of M", ligature
    glyphs, words hyphenated at line ends, superscript footnote marks written as ``{11}``."""
    from fpdf import FPDF

    class Paper(FPDF):
        def header(self) -> None:
            self.set_font("dejavu", size=9)
            self.cell(0, 8, f"{self.page_no()} Z. Shen et al.")
            self.ln(12)

        def footer(self) -> None:
            self.set_y(-15)
            self.set_font("dejavu", size=9)
            self.cell(0, 8, f"Page {self.page_no()} of {{nb}}")

    pdf = Paper()
    pdf.add_font("dejavu", fname=str(FONT))
    for text in pages:
        pdf.add_page()
        pdf.set_font("dejavu", size=12)
        for line in text.split("\n"):
            for i, part in enumerate(line.replace("}", "{").split("{")):
                pdf.char_vpos = "SUP" if i % 2 else "LINE"
                pdf.write(7, part)
            pdf.char_vpos = "LINE"
            pdf.ln(7)
    path.parent.mkdir(parents=True, exist_ok=True)
    pdf.output(str(path))
    return path


@pytest.fixture
def paper(kb_root: Path) -> Path:
    return write_paper(kb_root / "paper.pdf")


def test_the_paper_really_has_the_artefacts_before_cleaning(paper: Path) -> None:
    raw = "\n".join(page.extract_text() for page in PdfReader(paper).pages)
    for artefact in ["Uniﬁed", "easyOCR11", "understand-\ning", "2 Z. Shen et al.", "Page 3 of 3"]:
        assert artefact in raw


def test_a_typeset_paper_loads_as_clean_text_with_its_page_numbers(
    paper: Path, kb_root: Path
) -> None:
    docs = load_file(paper, kb_root)
    assert [doc.metadata["page"] for doc in docs] == [1, 2, 3]
    first, second, third = (doc.page_content for doc in docs)
    assert first.startswith("Layout analysis is a Unified first step of document understanding")
    assert "We compare easyOCR and Tesseract on scanned pages." in first
    assert "offers text recognition, state-of-the-art layout models and a flexible API." in second
    assert "the annotation tool exports" in third
    text = "\n".join([first, second, third])
    assert "Shen" not in text and "Page" not in text
    assert not any("\ufb00" <= char <= "\ufb06" for char in text)


def test_a_single_page_keeps_its_head_there_is_nothing_to_compare(kb_root: Path) -> None:
    [doc] = load_file(write_paper(kb_root / "one.pdf", BODY[:1]), kb_root)
    assert "1 Z. Shen et al." in doc.page_content and "Page 1 of 1" in doc.page_content


def test_real_pdf_ligatures_are_spelled_out() -> None:
    [doc] = load_file(PDFS / "commented.pdf", PDFS)
    assert "The misfits." in doc.page_content and "differently" in doc.page_content


@pytest.mark.slow  # imagemagick-images.pdf: its image pages go through RapidOCR
def test_pages_that_are_only_a_repeated_line_keep_it() -> None:
    # imagemagick-images.pdf: "Background" is the whole text of pages 1, 2, 3 and 6
    docs = load_file(PDFS / "imagemagick-images.pdf", PDFS)
    assert [(d.metadata["page"], d.page_content) for d in docs] == [
        (n, "Background") for n in (1, 2, 3, 6)
    ]


WORDS = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi".split()


def body(n: int) -> str:
    """Five lines, all but the middle one differing in words from page to page, as body text."""
    first, last = WORDS[n % len(WORDS)], WORDS[-1 - n % len(WORDS)]
    return f"On {first} we begin.\nOn {last} too.\nSee Table 1 below.\nAs {first}.\nSo {last}."


def test_alternating_even_and_odd_heads_and_bare_page_numbers_are_dropped() -> None:
    pages = [
        f"{n} Z. Shen et al.\n{body(n)}\n{n}"
        if n % 2 == 0
        else f"LayoutParser: A Toolkit {n}\n{body(n)}\n- {n} -"
        for n in range(10, 16)
    ]
    assert drop_running_lines(pages) == [body(n) for n in range(10, 16)]


def test_a_line_repeated_on_few_pages_or_in_the_middle_is_kept() -> None:
    pages = [body(n) for n in range(5)]
    pages[0] = "Note\n" + pages[0]  # at the edge of one page of five: not running
    assert drop_running_lines(pages) == pages
    # the same pages with a running head lose only the head
    headed = [f"Manual\n{page}" for page in pages]
    assert drop_running_lines(headed) == pages


def test_hyphen_joining_keeps_real_hyphens_and_chinese() -> None:
    assert join_hyphenated("COVID-\n19 cases") == "COVID-\n19 cases"
    assert join_hyphenated("Anti-\nFraud unit") == "Anti-\nFraud unit"
    assert join_hyphenated("recog-\nnition-based") == "recognition-based"
    assert join_hyphenated("检索-\n增强生成") == "检索-\n增强生成"


def test_only_ligatures_are_normalised_not_full_width_or_superscripts() -> None:
    assert fix_ligatures("检索，生成：（一）") == "检索，生成：（一）"
    assert fix_ligatures("easyOCR¹ x²") == "easyOCR¹ x²"
    assert clean_pages(["ﬁne-\ntuning"]) == ["finetuning"]
