"""Document text reaches the page as literal text; model output cannot link, embed or run HTML."""

from __future__ import annotations

import re

import pytest

from app.chat import Message, history
from app.i18n import STRINGS, t
from app.markup import answer_markdown, escape_markdown, highlight, marker, query_terms

HOSTILE = [
    "<script>alert(1)</script>",
    '<img src=x onerror="alert(1)">',
    "[click](javascript:alert(1))",
    "![img](http://example.com/x.png)",
    ":red[styled] :material/home: $x^2$",
    "`code` *em* _em_ # heading",
    "&lt;b&gt; entity",
    "| a | b |",
]


def unescaped(markdown: str, chars: str) -> list[str]:
    """Characters from ``chars`` that appear without a backslash before them."""
    return re.findall(rf"(?<!\\)[{re.escape(chars)}]", markdown.replace("\\\\", ""))


@pytest.mark.parametrize("text", HOSTILE)
def test_document_text_is_fully_escaped(text):
    out = escape_markdown(text)
    assert unescaped(out, "<>[]()`*_#$:&|!") == []
    assert re.sub(r"\\(.)", r"\1", out) == text  # renders back to exactly what was typed


@pytest.mark.parametrize("text", HOSTILE)
def test_highlighting_adds_only_bold(text):
    out = highlight(text, "alert script img click styled code heading entity")
    assert unescaped(out.replace("**", ""), "<>[]()`*_#$:&|!") == []
    assert re.sub(r"\\(.)", r"\1", out.replace("**", "")) == text


def test_highlight_marks_question_words_whole_and_case_insensitively():
    out = highlight("Jupiter is the largest planet; planetary rings.", "Which PLANET is largest?")
    assert out == "Jupiter is the **largest** **planet**; planetary rings\\."


def test_highlight_marks_chinese_words_without_spaces():
    out = highlight("明长城的总长度约为八千八百五十公里。", "明长城的总长度是多少？")
    assert "**明长城**" in out and "**总长度**" in out


def test_highlight_merges_adjacent_matches_and_cuts_long_text():
    assert "****" not in highlight("长城长城", "长城")
    long = highlight("word " * 500, "nothing")
    assert long.endswith("…") and len(long) < 700


def test_query_terms_drop_stop_words():
    assert query_terms("What is the largest planet?") == ["largest", "planet"]


def test_answer_markdown_keeps_emphasis_but_no_links_html_or_directives():
    out = answer_markdown("**Jupiter** is big[1].\n<b>x</b> [a](javascript:x) :red[y] $z$")
    assert out.startswith("**Jupiter** is big" + marker(1))
    assert unescaped(out.replace(marker(1), ""), "<>[]$:") == []
    assert "  \n" in out  # line breaks survive


def test_marker_matches_source_headings():
    assert marker(2) == ":blue[**\\[2\\]**]"


def test_history_leaves_out_failed_turns_and_uses_checked_answers():
    from rag.types import Answer

    checked = Answer("q", "Checked[1].", [], [], abstained=False, raw_answer="raw")
    msgs = [
        Message("user", "first"),
        Message("assistant", "oops", error=True),
        Message("user", "second"),
        Message("assistant", "raw", answer=checked),
    ]
    assert history(msgs) == [("user", "second"), ("assistant", "Checked[1].")]


def test_every_interface_string_exists_in_both_languages():
    assert set(STRINGS["en"]) == set(STRINGS["zh"])
    for key in STRINGS["en"]:
        placeholders = set(re.findall(r"{(\w+)", STRINGS["en"][key]))
        assert placeholders == set(re.findall(r"{(\w+)", STRINGS["zh"][key])), key
    assert t("fr", "chat") == "Chat"  # unknown language falls back to English


def test_a_marker_never_lands_after_a_list_number():
    out = answer_markdown("优点：\n1[4].效率和灵活性[4]。\n2[1]. 成本低")
    assert "1\\[4\\]" not in out and ":blue[**\\[4\\]**].效率" not in out
    lines = out.split("\n")
    assert lines[1].startswith("1. 效率和灵活性") and lines[2].startswith("2. 成本低")
    assert lines[2].endswith(marker(1))  # moved to the item's end, not lost
    assert lines[1].count(marker(4)) == 1  # already at the end: not doubled


def test_lists_and_tables_keep_their_markdown():
    text = "Planets\n- Jupiter[1]\n- Mars[2]\n\n| planet | colour |\n|:---|---:|\n| Mars | red |[2]\nDone."
    out = answer_markdown(text)
    lines = out.split("\n")
    assert lines[0] == "Planets"  # no hard break before a list
    assert lines[1] == f"- Jupiter{marker(1)}" and lines[2] == f"- Mars{marker(2)}"
    assert lines[3] == ""  # the blank line before the table stays
    assert lines[4] == "| planet | colour |" and lines[5] == "|:---|---:|"
    assert lines[6] == f"| Mars | red {marker(2)} |"
    assert lines[7:] == ["", "Done."]  # a line after the table does not become a row
    assert answer_markdown("Intro\n| a |\n|---|")[:7] == "Intro\n\n"  # nor before it


def test_prose_lines_keep_their_line_breaks():
    assert answer_markdown("One.\nTwo.") == "One.  \nTwo."


def test_renumber_follows_the_order_of_use():
    from app.markup import renumber

    assert renumber("B[4]. A[2]. C[4].", [2, 4]) == ("B[1]. A[2]. C[1].", {4: 1, 2: 2})
