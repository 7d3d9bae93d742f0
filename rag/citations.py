"""Checked citations: each answer sentence is attributed to the passage that supports it.

The small model does not write ``[n]`` markers reliably, so kbqa removes whatever markers it
wrote and adds its own: a sentence gets ``[n]`` only when enough of its content words occur in
passage n (support = share of the sentence's content tokens found in the passage). Sentences
with no supporting passage are reported, not cited.

Short answers ("1807", "weapons and supplies") are fully supported by every passage that
happens to hold their words, so ties are broken by what makes a passage *the* source: first the
answer as one unbroken phrase, then the passage's overlap with the question, then rank
(measured in docs/evaluation.md, "Answers and citations").
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rag.text import cjk_ratio, split_sentences, tokenize
from rag.types import Citation, Passage

_MARKER = re.compile(r"\s*\[(\d+)\]")
_PHRASE_WORD = re.compile(r"[^\W_]+")


@dataclass
class Attribution:
    text: str
    citations: list[Citation]
    unsupported: list[str]


def support(sentence: str, passage_text: str) -> float:
    """Share of the sentence's content tokens that occur in the passage (0..1).

    >>> support("Chroma stores vectors.", "Chroma is a store of vectors and documents")
    1.0
    >>> support("Paris lies in France.", "Berlin lies in Germany.")
    0.3333333333333333
    """
    words = [t for t in tokenize(sentence, drop_stopwords=True)]
    if not words:
        return 0.0
    present = set(tokenize(passage_text))
    stems = {t[:5] for t in present}
    hits = sum(1 for w in words if w in present or (len(w) > 4 and w[:5] in stems))
    return hits / len(words)


def contains_phrase(passage_text: str, sentence: str) -> bool:
    """Whether the sentence's words occur in the passage as one run (case and punctuation aside).

    >>> contains_phrase("It sold weapons and supplies to the army.", "Weapons and supplies.")
    True
    >>> contains_phrase("Supplies of food; weapons of war.", "weapons and supplies")
    False
    """
    words = _PHRASE_WORD.findall(sentence.lower())
    if not words:
        return False
    haystack = _PHRASE_WORD.findall(passage_text.lower())
    if cjk_ratio(sentence) > 0:  # Chinese is written without spaces: compare the characters
        return "".join(words) in "".join(haystack)
    return f" {' '.join(words)} " in f" {' '.join(haystack)} "


def source_passage(
    sentence: str, passages: list[Passage], question: str | None = None
) -> tuple[float, Passage | None]:
    """The passage that best supports the sentence, with its support score.

    Highest support wins; among equals, the passage holding the sentence as one phrase, then
    the one sharing most of the question's words, then the higher-ranked one.

    >>> ps = [Passage(1, "a", "a.txt", None, "Trade grew in 1807 and 1820.", 1.0),
    ...       Passage(2, "b", "b.txt", None, "Congress banned the slave trade in 1807.", 0.9)]
    >>> score, p = source_passage("1807", ps, "When did Congress ban the slave trade?")
    >>> score, p.n
    (1.0, 2)
    """
    best: tuple[tuple[float, bool, float, int], Passage] | None = None
    for rank, passage in enumerate(passages):
        key = (
            support(sentence, passage.text),
            contains_phrase(passage.text, sentence),
            support(question, passage.text) if question else 0.0,
            -rank,
        )
        if best is None or key > best[0]:
            best = (key, passage)
    return (best[0][0], best[1]) if best else (0.0, None)


def best_snippet(passage_text: str, sentence: str, width: int = 240) -> str:
    """The passage sentence that shares most words with ``sentence``, cut to ``width``."""
    candidates = split_sentences(passage_text) or [passage_text]
    best = max(candidates, key=lambda s: support(sentence, s))
    return best if len(best) <= width else best[: width - 1] + "…"


def attribute(
    answer: str, passages: list[Passage], threshold: float, question: str | None = None
) -> Attribution:
    """Mark each supported sentence with its passage's number; list the unsupported ones.

    ``question`` breaks ties between equally supporting passages (``source_passage``).
    Line breaks survive (lists stay lists); sentences within a line are re-joined.
    """
    clean = _MARKER.sub("", answer).strip()
    cited: dict[int, Citation] = {}
    unsupported: list[str] = []
    lines: list[str] = []
    for line in clean.split("\n"):
        out: list[str] = []
        for sentence in split_sentences(line):
            content = tokenize(sentence, drop_stopwords=True)
            score, passage = source_passage(sentence, passages, question)
            if passage is None or score < threshold or not content:
                out.append(sentence)
                if content:
                    unsupported.append(sentence)
                continue
            out.append(_place_marker(sentence, f"[{passage.n}]"))
            if passage.n not in cited or cited[passage.n].score < score:
                cited[passage.n] = Citation(
                    n=passage.n,
                    source=passage.source,
                    page=passage.page,
                    snippet=best_snippet(passage.text, sentence),
                    score=round(score, 3),
                    location=passage.location,
                )
        joiner = "" if any("\u4e00" <= ch <= "\u9fff" for ch in line[:50]) else " "
        lines.append(joiner.join(out))
    return Attribution(
        "\n".join(lines).strip(), sorted(cited.values(), key=lambda c: c.n), unsupported
    )


def _place_marker(sentence: str, marker: str) -> str:
    """Put the marker before the closing punctuation: "It is red[1]."."""
    match = re.search(r"[.!?。！？；;]+$", sentence)
    if match:
        return sentence[: match.start()] + marker + sentence[match.start() :]
    return sentence + marker
