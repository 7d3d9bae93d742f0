"""Checked citations: markers only where a passage supports the sentence."""

from rag.citations import attribute, support
from rag.types import Passage


def passage(n: int, text: str, source: str = "a.md", page: int | None = None) -> Passage:
    return Passage(n=n, chunk_id=f"c{n}", source=source, page=page, text=text, score=1.0)


PASSAGES = [
    passage(1, "Jupiter is the largest planet in the Solar System.", "solar.md"),
    passage(2, "明长城的总长度约为八千八百五十公里。", "长城.txt", page=3),
]


def test_supported_sentence_gets_its_passage_marker_and_citation():
    result = attribute("Jupiter is the largest planet.", PASSAGES, threshold=0.5)
    assert result.text == "Jupiter is the largest planet[1]."
    assert [(c.n, c.source) for c in result.citations] == [(1, "solar.md")]
    assert "Jupiter" in result.citations[0].snippet and result.unsupported == []


def test_model_written_markers_are_replaced_by_checked_ones():
    result = attribute(
        "Jupiter is the largest planet [2]. Saturn has rings made of ice [1].", PASSAGES, 0.5
    )
    assert result.text.startswith("Jupiter is the largest planet[1].")
    assert "Saturn has rings made of ice." in result.text and "[2]" not in result.text
    assert result.unsupported == ["Saturn has rings made of ice."]


def test_chinese_sentence_is_cited_with_page():
    result = attribute("明长城的总长度约为八千八百五十公里。", PASSAGES, 0.5)
    assert result.citations[0].n == 2 and result.citations[0].page == 3
    assert result.text.endswith("[2]。")


def test_line_breaks_survive():
    result = attribute("- Jupiter is the largest planet.\n- Saturn has rings.", PASSAGES, 0.5)
    assert result.text.split("\n") == ["- Jupiter is the largest planet[1].", "- Saturn has rings."]


def test_support_is_share_of_content_words():
    assert support("Jupiter largest planet", PASSAGES[0].text) == 1.0
    assert support("Neptune coldest winds", PASSAGES[0].text) == 0.0
    assert support("the of and", PASSAGES[0].text) == 0.0


TRADE = [
    passage(1, "Supplies of grain and weapons of war crossed the trade routes in 1807."),
    passage(2, "Congress outlawed the importation of slaves in 1807."),
    passage(3, "Connecticut factories sent weapons and supplies to the Continental Army."),
]


def test_short_answer_cites_the_passage_that_answers_the_question():
    # "1807" is fully supported by passages 1 and 2; the question names passage 2's subject.
    result = attribute("1807", TRADE, 0.5, question="When did Congress outlaw slave imports?")
    assert result.text == "1807[2]" and [c.n for c in result.citations] == [2]
    assert attribute("1807", TRADE, 0.5).citations[0].n == 1  # without a question: rank


def test_answer_phrase_beats_scattered_words():
    result = attribute("Weapons and supplies", TRADE, 0.5)  # both words in 1 and 3
    assert [c.n for c in result.citations] == [3]


def test_citations_name_the_sheet_the_slide_and_an_ocr_page():
    def cited(source: str, page: int, **metadata) -> str:
        passage = Passage(
            n=1,
            chunk_id="c1",
            source=source,
            page=page,
            text="The travel budget for 2026 is 4,000 euros.",
            score=1.0,
            metadata=metadata,
        )
        result = attribute("The travel budget for 2026 is 4,000 euros.", [passage], 0.45)
        return result.citations[0].location

    assert cited("budget.xlsx", 2, sheet="Totals") == "budget.xlsx, sheet Totals"
    assert cited("plan.pptx", 3) == "plan.pptx, slide 3"
    assert cited("scan.pdf", 1, ocr=True) == "scan.pdf, p. 1 (OCR)"
    assert cited("plan.pdf", 4) == "plan.pdf, p. 4"
