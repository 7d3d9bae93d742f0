"""Which retrieved passages count as gold: the paragraph rule (SQuAD) and the evidence rule (dev set).

Paragraph rule (``passage_is_gold``), for datasets that know the gold paragraph: a retrieved
chunk *is* the gold paragraph when its source is the gold article's file AND its text overlaps
the gold paragraph, meaning the chunk text (minus a first-line title) is a substring of the
paragraph or holds all of it (short paragraphs share a chunk; whitespace collapsed), or has at
least half of its normalised tokens (SQuAD normalisation, counted as a multiset) in the
paragraph. A chunk that spans the end of one paragraph and the start of the next counts for the
paragraph holding most of it (both, when split evenly). Questions without a known gold paragraph
match on the source alone; questions without a gold source get no retrieval scores.

Evidence rule (``passage_has_evidence``), for datasets that quote the sentence stating the answer:
after NFKC and whitespace normalisation (runs of whitespace become one space, whitespace next to
a CJK character is dropped), a passage is gold when it holds all of the evidence, or a run of
at least half of it (and at least 30 characters of it) together with a gold answer, from any
file; or when it comes from the gold document and lies wholly inside the evidence (at least 15
characters), or at least half of it is one run of the evidence and it holds a gold answer.

>>> passage_is_gold("Andes\\nThe Andes are long.", "Andes.txt", gold_source="Andes.txt",
...                 gold_passage="The Andes are long. They run through Peru.", title="Andes")
True
>>> passage_is_gold("Lima is big.", "Peru.txt", gold_source="Andes.txt", gold_passage="Lima is big.")
False
>>> passage_has_evidence("Policy.\\nReceipts must be uploaded\\n within 45 days.", "p.pdf",
...                      gold_source="p.pdf", evidence="Receipts must be uploaded within 45 days")
True
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from pathlib import PurePosixPath

from rag.eval.datasets import article_display_title
from rag.eval.metrics import answer_tokens, contains_answer
from rag.eval.questions import EvalQuestion

__all__ = [
    "EVIDENCE_MIN_CHARS",
    "EVIDENCE_SHARE",
    "EVIDENCE_RULE",
    "GOLD_RULE",
    "GOLD_TOKEN_SHARE",
    "flatten",
    "is_gold",
    "passage_has_evidence",
    "passage_is_gold",
    "same_source",
]

GOLD_TOKEN_SHARE = 0.5
EVIDENCE_SHARE = 0.5
EVIDENCE_MIN_CHARS = 30  # a 7-character evidence ("45 days") must be held whole, not "45 d"
GOLD_RULE = (
    "A retrieved chunk is the gold paragraph when its source is the gold article's file and its"
    " text (minus a first-line title) is a substring of the gold paragraph or holds all of it"
    f" (whitespace collapsed) or at least {GOLD_TOKEN_SHARE:.0%} of its SQuAD-normalised tokens"
    " (as a multiset) occur in the gold paragraph. Questions without a gold paragraph match on"
    " the source alone."
)
EVIDENCE_RULE = (
    "A retrieved passage is gold when, after NFKC and whitespace normalisation (whitespace runs"
    " become one space; whitespace next to a CJK character is dropped), it holds one unbroken run"
    f" of at least {EVIDENCE_SHARE:.0%} of the question's evidence text (and at least"
    f" {EVIDENCE_MIN_CHARS} characters of it, or all of a shorter evidence) and, unless it holds"
    " all of it, a gold answer (as in 'answer contains gold'), whatever its file;"
    " or it comes from the gold document and either lies wholly inside the evidence (at least"
    f" {EVIDENCE_MIN_CHARS // 2} characters: a chunk inside a long evidence) or at least"
    f" {EVIDENCE_SHARE:.0%} of it is one run of the evidence and it holds a gold answer."
    " Questions with a gold document but no evidence match on the document alone."
)

_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\u3000-\u303f\uff00-\uffef"
_CJK_SPACE_RE = re.compile(f"\\s+(?=[{_CJK}])|(?<=[{_CJK}])\\s+")


def same_source(source: str, gold_source: str) -> bool:
    """Whether a passage's source is the gold document.

    A gold source may be a bare file name, or a path relative to the corpus root, while the
    knowledge base stores a path relative to the folder it ingested.

    >>> same_source("docs/solar.md", "solar.md"), same_source("a/b.pdf", "b/b.pdf")
    (True, False)
    """
    if source == gold_source:
        return True
    if "/" in gold_source:
        return source.endswith("/" + gold_source)
    return PurePosixPath(source).name == gold_source


def flatten(text: str) -> str:
    """Text for the evidence rule: NFKC, one space for each whitespace run, none next to CJK.

    >>> flatten("ﬁle  names\\n are  short"), flatten("本地 部署\\n大模型 ")
    ('file names are short', '本地部署大模型')
    """
    text = " ".join(unicodedata.normalize("NFKC", text).split())
    return _CJK_SPACE_RE.sub("", text)


def _drop_title_line(text: str, title: str | None, starts_document: bool) -> str:
    first, _, rest = text.strip().partition("\n")
    if title is not None and first.strip() == article_display_title(title):
        return rest
    if starts_document and rest.strip():
        return rest  # the first line of a document is its title line in a corpus
    return text


def passage_is_gold(
    text: str,
    source: str,
    *,
    gold_source: str | None,
    gold_passage: str | None,
    title: str | None = None,
    starts_document: bool = False,
) -> bool:
    """Whether a retrieved chunk is the gold paragraph (the paragraph rule above).

    ``title`` is the gold article's title (its display form is dropped from the chunk's first
    line); ``starts_document`` says the chunk begins its file, so its first line is a title.

    >>> gold = "The Andes are the longest range. They run through seven countries."
    >>> passage_is_gold("They run through seven countries.\\n\\nPeru is one.", "A.txt",
    ...                 gold_source="A.txt", gold_passage=gold)
    True
    >>> passage_is_gold("Andes", "A.txt", gold_source="A.txt", gold_passage=gold, title="Andes")
    False
    >>> passage_is_gold("长城很长。\\n\\n熊猫吃竹子,一天吃十几个小时。", "B.txt", gold_source="B.txt",
    ...                 gold_passage="长城很长。")  # short paragraphs share a chunk
    True
    """
    if gold_source is None or not same_source(source, gold_source):
        return False
    if gold_passage is None:
        return True
    chunk = _drop_title_line(text, title, starts_document)
    chunk_flat = " ".join(chunk.split())
    if not chunk_flat:
        return False
    gold_flat = " ".join(gold_passage.split())
    if chunk_flat in gold_flat or gold_flat in chunk_flat:  # part of it, or all of it and more
        return True
    chunk_tokens = Counter(answer_tokens(chunk))
    total = sum(chunk_tokens.values())
    if total == 0:
        return False
    shared = sum((chunk_tokens & Counter(answer_tokens(gold_passage))).values())
    return shared / total >= GOLD_TOKEN_SHARE


def _shares_run(haystack: str, needle: str, length: int) -> bool:
    """Whether some ``length`` characters of ``needle`` in a row occur in ``haystack``."""
    if length <= 0 or length > len(needle):
        return length <= 0
    # One C-speed substring search per window: far faster than difflib on 1,000-character chunks.
    return any(needle[i : i + length] in haystack for i in range(len(needle) - length + 1))


def passage_has_evidence(
    text: str,
    source: str,
    *,
    gold_source: str | None,
    evidence: str | None,
    answers: Sequence[str] = (),
) -> bool:
    """Whether a retrieved passage holds the answer's evidence (the evidence rule above).

    >>> ev = "Receipts must be uploaded within 45 days of the trip's end."
    >>> passage_has_evidence("Receipts must be uploaded within 45 days", "x.md",
    ...                      gold_source="p.md", evidence=ev)  # most of it, from any file
    True
    >>> passage_has_evidence("Receipts must be uploaded within 45 days", "x.md",
    ...                      gold_source="p.md", evidence=ev, answers=["trip's end"])
    False
    >>> passage_has_evidence("Receipts must be", "p.md", gold_source="p.md", evidence=ev)
    True
    >>> passage_has_evidence("Hotels need receipts too.", "p.md", gold_source="p.md", evidence=ev)
    False
    >>> passage_has_evidence("任何一页", "a.pdf", gold_source="a.pdf", evidence=None)
    True
    """
    from_gold = gold_source is not None and same_source(source, gold_source)
    if not evidence or not evidence.strip():
        return from_gold
    passage, wanted = flatten(text), flatten(evidence)
    if not passage or not wanted:
        return False
    if wanted in passage:
        return True
    needed = max(math.ceil(EVIDENCE_SHARE * len(wanted)), min(len(wanted), EVIDENCE_MIN_CHARS))
    # Boilerplate shared by many sections ("This parameter can only be set in postgresql.conf")
    # can be half an evidence: part of it counts only with a gold answer beside it.
    if _shares_run(passage, wanted, needed) and (not answers or contains_answer(text, answers)):
        return True
    inside = max(
        math.ceil(EVIDENCE_SHARE * len(passage)), min(len(wanted), EVIDENCE_MIN_CHARS // 2)
    )
    if not from_gold:
        return False
    if passage in wanted:  # a chunk lying wholly inside a long evidence
        return len(passage) >= EVIDENCE_MIN_CHARS // 2
    return _shares_run(wanted, passage, inside) and (not answers or contains_answer(text, answers))


def is_gold(
    question: EvalQuestion, text: str, source: str, *, starts_document: bool = False
) -> bool:
    """A passage is gold for ``question`` by the evidence rule when it quotes evidence, else by
    the paragraph rule.

    >>> q = EvalQuestion("q", "When?", ["45 days"], gold_source="p.md", evidence="within 45 days")
    >>> is_gold(q, "Upload receipts within 45 days.", "other.md")
    True
    """
    if question.evidence is not None:
        return passage_has_evidence(
            text,
            source,
            gold_source=question.gold_source,
            evidence=question.evidence,
            answers=question.answers,
        )
    return passage_is_gold(
        text,
        source,
        gold_source=question.gold_source,
        gold_passage=question.gold_passage,
        title=question.article,
        starts_document=starts_document,
    )
