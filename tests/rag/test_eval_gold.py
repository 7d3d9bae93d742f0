"""rag.eval.gold: the paragraph rule (SQuAD) and the evidence rule (dev-set folders)."""

from __future__ import annotations

import pytest

from rag.eval.gold import flatten, is_gold, passage_has_evidence, passage_is_gold, same_source
from rag.eval.questions import EvalQuestion
from tests.rag.eval_fakes import ARTICLES, GOLD

# --- the paragraph rule --------------------------------------------------------------------------


def test_chunk_inside_the_gold_paragraph_is_gold() -> None:
    whole = passage_is_gold(GOLD, "Andes.txt", gold_source="Andes.txt", gold_passage=GOLD)
    part = passage_is_gold("Peru, Bolivia,\n Chile and Argentina.", "Andes.txt",
                           gold_source="Andes.txt", gold_passage=GOLD)  # fmt: skip
    assert whole and part


def test_same_text_from_another_file_is_not_gold() -> None:
    assert not passage_is_gold(GOLD, "Jupiter.txt", gold_source="Andes.txt", gold_passage=GOLD)


def test_other_paragraph_of_the_gold_article_is_not_gold() -> None:
    other = ARTICLES["Andes"][0]
    assert not passage_is_gold(other, "Andes.txt", gold_source="Andes.txt", gold_passage=GOLD)


def test_first_line_title_is_ignored() -> None:
    with_title = f"Andes\n\n{GOLD}"
    assert passage_is_gold(with_title, "Andes.txt", gold_source="Andes.txt", gold_passage=GOLD,
                           title="Andes")  # fmt: skip
    # A chunk holding nothing but the title is no paragraph at all.
    assert not passage_is_gold("Andes", "Andes.txt", gold_source="Andes.txt", gold_passage=GOLD,
                               title="Andes")  # fmt: skip
    # Without the title known, a chunk that starts its document loses its first line.
    assert passage_is_gold(f"Some Title\n{GOLD}", "x/Andes.txt", gold_source="Andes.txt",
                           gold_passage=GOLD, starts_document=True)  # fmt: skip


def test_chunk_spanning_two_paragraphs_counts_where_most_of_it_lies() -> None:
    first, second = ARTICLES["Andes"]
    spanning = f"{first[-30:]}\n\n{second}"  # a short tail of one, all of the next
    assert passage_is_gold(spanning, "Andes.txt", gold_source="Andes.txt", gold_passage=second)
    assert not passage_is_gold(spanning, "Andes.txt", gold_source="Andes.txt", gold_passage=first)


def test_gold_by_source_alone_or_not_at_all() -> None:
    assert passage_is_gold("anything", "docs/solar.md", gold_source="solar.md", gold_passage=None)
    assert not passage_is_gold("anything", "solar.md", gold_source=None, gold_passage=None)


# --- the evidence rule ---------------------------------------------------------------------------

EVIDENCE = "Receipts must be uploaded within 45 days of the trip's end, with the booking number."


def has(text: str, source: str = "en/travel.md", evidence: str | None = EVIDENCE) -> bool:
    return passage_has_evidence(text, source, gold_source="en/travel.md", evidence=evidence)


def test_whole_evidence_counts_whatever_the_whitespace() -> None:
    broken = "Policy.\nReceipts must be uploaded\n   within 45 days of the trip's end,\nwith the booking number."
    assert has(broken) and has(broken, source="other/copy.md")


def test_half_the_evidence_in_one_run_counts_from_any_file() -> None:
    assert has(
        "Note: receipts are checked. Receipts must be uploaded within 45 days of the", "x.md"
    )
    # Under half of it, and not from the gold document: not gold.
    assert not has("Receipts must be uploaded", "x.md")


def test_a_chunk_inside_long_evidence_counts_only_from_the_gold_document() -> None:
    inside = "within 45 days of the trip's end"
    assert has(inside) and not has(inside, source="en/other.md")
    # Mostly other text with a little of the evidence is not gold, even from the gold file.
    assert not has("Hotels are booked by the office. Receipts must be kept for audits.")


def test_short_evidence_must_be_held_whole() -> None:
    assert has("You have 45 days.", evidence="45 days")
    assert not has("It took 45 minutes.", evidence="45 days")


def test_chinese_evidence_ignores_line_breaks_and_spaces() -> None:
    ev = "本地部署大模型的好处包括数据不出本地、响应更快"
    assert passage_has_evidence("好处\n本地部署 大模型的好处包括数据不出\n本地、响应更快。", "zh/a.md",
                                gold_source="zh/a.md", evidence=ev)  # fmt: skip
    assert not passage_has_evidence("云端部署的好处是省事。", "zh/a.md", gold_source="zh/a.md",
                                    evidence=ev)  # fmt: skip


def test_ligatures_and_full_width_forms_match_after_nfkc() -> None:
    assert flatten("ﬁnal  ＡＢＣ１２") == "final ABC12"
    assert has("The ﬁnal rule: Receipts must be uploaded within 45 days of the trip\u2019s end",
               evidence="The final rule: Receipts must be uploaded")  # fmt: skip


def test_no_evidence_matches_on_the_document() -> None:
    assert has("anything at all", evidence=None)
    assert not has("anything at all", source="en/other.md", evidence=None)


@pytest.mark.parametrize(
    ("source", "gold", "same"),
    [("en/travel.md", "en/travel.md", True), ("corpus/en/travel.md", "en/travel.md", True),
     ("zh/travel.md", "en/travel.md", False), ("docs/solar.md", "solar.md", True)],
)  # fmt: skip
def test_same_source(source: str, gold: str, same: bool) -> None:
    assert same_source(source, gold) is same


def test_is_gold_picks_the_rule_by_what_the_question_knows() -> None:
    by_evidence = EvalQuestion("e", "When?", ["45 days"], "en/travel.md", evidence="within 45 days")
    assert is_gold(by_evidence, "Upload within 45 days.", "elsewhere.md")
    by_paragraph = EvalQuestion("p", "How many?", ["seven"], "Andes.txt", GOLD, "Andes")
    assert is_gold(by_paragraph, GOLD, "Andes.txt")
    assert not is_gold(by_paragraph, GOLD, "Jupiter.txt")


def test_boilerplate_half_of_the_evidence_needs_the_answer_beside_it() -> None:
    ev = (
        "Enables SSL connections. This parameter can only be set in the postgresql.conf file"
        " or on the server command line. The default is off."
    )
    other = (
        "Sets the port. This parameter can only be set in the postgresql.conf file or on the"
        " server command line. The default is 5432."
    )
    q = EvalQuestion("s", "Is SSL on by default?", ["off"], "pg.html", evidence=ev)
    assert not is_gold(q, other, "pg.html")
    assert is_gold(q, f"ssl (boolean)\n{ev}", "pg.html")
    assert passage_has_evidence(other, "pg.html", gold_source="pg.html", evidence=ev)  # no answers
