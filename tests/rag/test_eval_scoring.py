"""rag.eval.scoring and rag.eval.aggregate: one question's row, and metrics over many."""

from __future__ import annotations

from rag.eval.aggregate import group_rows, summarize
from rag.eval.questions import EvalQuestion
from rag.eval.scoring import clean_prediction, score_row
from tests.rag.eval_fakes import ARTICLES, GOLD, make_answer, passage, question


def test_clean_prediction_strips_prefill_and_markers() -> None:
    assert clean_prediction("Answer: Lima [1].") == "Lima."
    assert clean_prediction("根据文档，北京 [2]", "zh") == "北京"
    assert clean_prediction("") == ""


def test_score_row_ranks_answer_and_citations() -> None:
    ranked = [passage(1, ARTICLES["Andes"][0], "Andes.txt"), passage(2, GOLD, "Andes.txt"),
              passage(3, "Jupiter is big.", "Jupiter.txt")]  # fmt: skip
    answer = make_answer("seven [2]", ranked, cite=(1, 2))
    row = score_row(question("q", "seven"), answerable=True, ranked=ranked, top_k=2,
                    relevance_threshold=0.25, answer=answer)  # fmt: skip
    assert (row.hit_rank, row.doc_rank) == (2, 1)
    assert [r["gold"] for r in row.retrieved] == [False, True, False]
    assert (row.prediction, row.em, row.f1) == ("seven", 1.0, 1.0)
    assert row.citation_precision == 0.5 and row.citation_recall == 1.0
    assert row.timings["first_token"] == 0.2


def test_abstention_accounting() -> None:
    hit = [passage(1, GOLD, "Andes.txt", dense=0.7)]
    far = [passage(1, "Quito is high.", "Ecuador.txt", dense=0.1)]
    rows = [
        # answerable: one answered right, one wrongly refused by the model
        score_row(question("a1", "seven"), answerable=True, ranked=hit, top_k=4,
                  relevance_threshold=0.25, answer=make_answer("seven [1]", hit, cite=(1,))),
        score_row(question("a2", "seven"), answerable=True, ranked=hit, top_k=4,
                  relevance_threshold=0.25, answer=make_answer("I don't know.", hit, abstained=True)),
        # unanswerable: one refused at the similarity gate, one answered anyway
        score_row(question("u1", "x", "Gone.txt"), answerable=False, ranked=far, top_k=4,
                  relevance_threshold=0.25, answer=make_answer("", far, abstained=True)),
        score_row(question("u2", "x", "Gone.txt"), answerable=False, ranked=hit, top_k=4,
                  relevance_threshold=0.25, answer=make_answer("seven", hit)),
    ]  # fmt: skip
    summary = summarize(rows, depth=5, generate=True)
    m = summary["metrics"]
    assert m["refused_unanswerable"] == 0.5 and m["refused_answerable"] == 0.5
    assert m["gate_refused_unanswerable"] == 0.5 and m["gate_refused_answerable"] == 0.0
    assert m["em"] == 0.5 and m["f1_answered"] == 1.0  # a refusal scores 0, answered ones count
    assert m["hit@1"] == m["hit@5"] == m["mrr"] == 1.0
    assert m["citation_precision"] == 1.0 and m["cited_answers"] == 1.0
    assert summary["counts"] == {"questions": 4, "answerable": 2, "unanswerable": 2,
                                 "with_gold": 2, "answered": 1, "errors": 0}  # fmt: skip
    assert summary["hit_curve"] == [1.0] * 5
    assert summary["latency"]["total"]["n"] == 4 and summary["latency"]["first_token"]["n"] == 3


def test_retrieval_only_summary_leaves_answer_metrics_empty() -> None:
    ranked = [passage(i, "Other text entirely.", "Andes.txt") for i in (1, 2, 3)]
    ranked.append(passage(4, GOLD, "Andes.txt"))
    row = score_row(question("q", "seven"), answerable=True, ranked=ranked, top_k=4,
                    relevance_threshold=0.25, retrieve_seconds=0.02)  # fmt: skip
    m = summarize([row], depth=5, generate=False)["metrics"]
    assert (m["hit@1"], m["hit@5"], m["mrr"]) == (0.0, 1.0, 0.25)
    assert m["f1"] is None and m["refused_unanswerable"] is None
    assert row.timings == {"retrieve": 0.02}


# --- dev-set questions: evidence, answer contains gold, per-language rows -----------------------

TRAVEL = "Receipts must be uploaded within 45 days of the trip's end."


def travel_question(
    qid: str = "t",
    answers: tuple[str, ...] = ("45 days",),
    lang: str = "en",
    doc_lang: str | None = "en",
) -> EvalQuestion:
    return EvalQuestion(qid, "When are receipts due?", list(answers), "en/travel.md",
                        evidence=TRAVEL, lang=lang, doc_lang=doc_lang)  # fmt: skip


def test_a_sentence_answer_contains_the_gold_phrase() -> None:
    read = [passage(1, TRAVEL, "en/travel.md")]
    answer = make_answer("You must upload them within 45 days [1].", read, cite=(1,))
    row = score_row(travel_question(), answerable=True, ranked=read, top_k=4,
                    relevance_threshold=0.2, answer=answer)  # fmt: skip
    assert row.answer_contains_gold == 1.0 and row.f1 is not None and row.f1 < 0.5
    wrong = make_answer("Within 30 days [1].", read, cite=(1,))
    row = score_row(travel_question(), answerable=True, ranked=read, top_k=4,
                    relevance_threshold=0.2, answer=wrong)  # fmt: skip
    assert row.answer_contains_gold == 0.0


def test_chinese_answer_contains_gold_without_spaces_or_punctuation() -> None:
    q = EvalQuestion("z", "年假几天？", ["十五天"], "zh/leave.txt", evidence="员工每年享有十五天带薪年假",
                     lang="zh", doc_lang="zh")  # fmt: skip
    read = [passage(1, "员工每年享有十五天带薪年假。", "zh/leave.txt")]
    answer = make_answer("员工每年有 十五 天带薪年假 [1]。", read, cite=(1,))
    row = score_row(
        q, answerable=True, ranked=read, top_k=4, relevance_threshold=0.2, answer=answer
    )
    assert row.answer_contains_gold == 1.0 and row.citation_precision == 1.0


def test_given_gold_is_what_the_chain_read_not_what_the_harness_ranked() -> None:
    ranked = [passage(1, TRAVEL, "en/travel.md")]
    read = [passage(1, "Economy class is required.", "en/travel.md")]
    answer = make_answer("I don't know", read, abstained=True)
    row = score_row(travel_question(), answerable=True, ranked=ranked, top_k=4,
                    relevance_threshold=0.2, answer=answer)  # fmt: skip
    assert row.hit_rank == 1 and row.given_gold is False
    assert row.answer_contains_gold == 0.0  # a refusal contains nothing
    no_answer = score_row(travel_question(), answerable=True, ranked=ranked, top_k=4,
                          relevance_threshold=0.2)  # fmt: skip
    assert no_answer.given_gold is True  # without generation: the first top_k ranked


def test_citing_the_evidence_passage_is_precise_even_when_the_answer_paraphrases() -> None:
    read = [passage(1, TRAVEL, "en/travel.md"), passage(2, "Hotels: 3 stars.", "en/travel.md")]
    answer = make_answer("Six and a half weeks [1][2].", read, cite=(1, 2))
    row = score_row(travel_question(answers=("six weeks",)), answerable=True, ranked=read,
                    top_k=4, relevance_threshold=0.2, answer=answer)  # fmt: skip
    assert row.citation_precision == 0.5 and row.citation_recall == 1.0


def test_rows_group_by_language_and_conversation() -> None:
    read = [passage(1, TRAVEL, "en/travel.md")]

    def row(qid, answerable, answer, lang="en", doc_lang="en", conversation=None):
        q = travel_question(qid, ("45 days",) if answerable else (), lang, doc_lang)
        r = score_row(q, answerable=answerable, ranked=read, top_k=4, relevance_threshold=0.2,
                      answer=answer)  # fmt: skip
        r.conversation = conversation
        return r

    right = make_answer("Within 45 days [1].", read, cite=(1,))
    refused = make_answer("", read, abstained=True)
    rows = [
        row("en-right", True, right), row("en-refused", True, refused),
        row("en-must-refuse", False, refused, doc_lang=None),
        row("zh-right", True, right, lang="zh", doc_lang="zh"),
        row("cross", True, refused, lang="zh", doc_lang="en"),
        row("turn", True, right, conversation="c1"),
    ]  # fmt: skip
    groups = group_rows(rows, generate=True)
    assert list(groups) == ["all questions", "en", "zh", "cross-language", "conversations"]
    en = groups["en"]
    assert (en["n"], en["answerable"], en["unanswerable"]) == (3, 2, 1)
    assert en["answer_contains_gold"] == 0.5 and en["refused_answerable"] == 0.5
    assert en["refused_unanswerable"] == 1.0 and en["given_gold"] == 1.0
    assert groups["cross-language"]["refused_answerable"] == 1.0
    assert groups["conversations"]["n"] == 1 and groups["all questions"]["n"] == 5
    summary = summarize(rows, depth=5, generate=True)
    assert summary["counts"]["questions"] == 5 and summary["counts"]["conversation_turns"] == 1
    assert summary["metrics"]["answer_contains_gold"] == 0.5  # single questions only: 2 of 4


def test_a_list_answer_is_complete_only_with_every_part() -> None:
    q = EvalQuestion("l", "Which databases?", ["FAISS", "Chroma"], "zh/a.txt",
                     evidence="FAISS、Chroma、Milvus", answers_all=[["FAISS"], ["Chroma"], ["Milvus"]])  # fmt: skip
    read = [passage(1, "无缝对接 FAISS、Chroma、Milvus 等向量数据库", "zh/a.txt")]

    def scored(text: str):
        answer = make_answer(text, read, cite=(1,))
        return score_row(q, answerable=True, ranked=read, top_k=4, relevance_threshold=0.2,
                         answer=answer)  # fmt: skip

    partial, full = scored("FAISS and Chroma [1]."), scored("FAISS, Chroma and Milvus [1].")
    assert (partial.answer_contains_gold, partial.answer_complete) == (1.0, 0.0)
    assert (full.answer_contains_gold, full.answer_complete) == (1.0, 1.0)
    summary = summarize([partial, full], depth=5, generate=True)
    assert summary["metrics"]["answer_complete"] == 0.5 and summary["counts"]["with_parts"] == 2
