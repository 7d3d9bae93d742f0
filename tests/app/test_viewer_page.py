"""The sources under an answer and the viewer dialog, drawn by Streamlit with a made-up answer
(no model): numbering in order of use, no blanket score, a refusal said once with its passages
folded, and a citation that opens its PDF page as an image."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

PDF = str(Path(__file__).resolve().parents[1] / "data" / "pdf" / "commented.pdf")


def page(pdf: str, abstained: bool) -> None:
    from pathlib import Path

    import streamlit as st

    from app.chat import show_viewer
    from app.ui import VIEWING, render_answer
    from rag.types import Answer, Citation, Passage

    text = "The misfits. The rebels. The troublemakers. The round pegs in the square holes."
    passages = [
        Passage(1, "c1", "notes.md", None, "Heres to the crazy ones.", 0.9, 0.61),
        Passage(2, "c2", "crazy.pdf", 1, text, 0.8, 0.55, metadata={"page": 1}),
    ]
    answer = Answer(
        "Who are the crazy ones?",
        "They are the rebels[2]. And the misfits[1].",
        [
            Citation(1, "notes.md", None, "Heres to the crazy ones.", 0.5),
            Citation(2, "crazy.pdf", 1, "The rebels.", 1.0),
        ],
        passages,
        abstained=abstained,
        raw_answer="They are the rebels. And the misfits.",
    )
    if abstained:
        answer.answer, answer.citations = "The documents do not contain the answer.", []
    render_answer(answer, {"crazy.pdf": Path(pdf), "notes.md": None}, "k", "en")
    if st.session_state.get(VIEWING) is not None:
        show_viewer(st.session_state[VIEWING], None, {"crazy.pdf": Path(pdf)}, "en")


def run(abstained: bool) -> AppTest:
    at = AppTest.from_function(page, args=(PDF, abstained), default_timeout=30).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_citations_are_numbered_in_order_of_use_and_scored_only_when_partial():
    at = run(abstained=False)
    texts = [str(m.value) for m in at.markdown]
    assert texts[0].startswith("They are the rebels:blue[**\\[1\\]**]")  # was [2]: used first
    headings = [t for t in texts if t.startswith(":blue[") and "`" in t]
    assert headings[0] == ":blue[**\\[1\\]**] `crazy.pdf, p. 1`"  # full support: no number
    assert headings[1].startswith(":blue[**\\[2\\]**] `notes.md` · 50% of the sentence")


def test_a_refusal_is_said_once_and_its_passages_are_folded():
    at = run(abstained=True)
    assert [i.value for i in at.info] == ["The documents do not contain the answer."]
    assert not [m for m in at.markdown if "do not contain" in str(m.value)]
    (folded,) = at.expander
    assert folded.label == "Closest passages (2): not close enough to answer from"
    assert not folded.proto.expanded
    assert any("similarity 0.61" in str(m.value) for m in folded.markdown)


def test_show_passage_opens_the_pdf_page_with_the_passage_highlighted():
    at = run(abstained=False)
    view = next(b for b in at.button if b.key == "k-c1-view")
    view.click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.session_state["viewing"].source == "crazy.pdf"
    (image,) = at.image
    assert image.proto.imgs[0].caption == "The cited page, the passage highlighted"
    shown = " ".join(str(m.value) for m in at.markdown)
    assert "round pegs" in shown and "The whole passage" in shown
