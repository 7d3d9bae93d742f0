"""Checked citations: each answer sentence is attributed to the passage sentence that states it.

The small model does not write ``[n]`` markers reliably, so kbqa removes whatever markers it
wrote and adds its own: a sentence gets ``[n]`` only when one sentence of passage n holds enough
of its content words (support = the best share of the answer sentence's content words found in a
single passage sentence). Word overlap with the passage as a whole is not support: a sentence
stitched from words spread over several passage sentences ("The company's parental leave policy
is required for flights under six hours" against a travel policy) finds no one sentence that
says it. On tests/data/citation_support (42 supported, 40 stitched sentences over real passages)
whole-passage overlap at 0.45 accepted every stitched sentence; one-sentence support at 0.8
rejects most of them and keeps the supported ones (docs/evaluation.md, "Sentences, lists and
checked citations").

A sentence in another language than every passage (a Chinese answer over an English manual)
shares no words with them: it is judged by its names, numbers and code instead
(``cross_language_support``), and one with none of those counts neither way
(``Attribution.unjudged``, ``Attribution.supported_share``).

Citations are numbered 1, 2, 3 in the order the answer first uses them; ``Citation.passage`` keeps
the passage's own number. Markers go before a sentence's closing punctuation and, in a list, at
the end of the item's text, never after the list number.

Short answers ("1807", "weapons and supplies") are fully supported by every passage that
happens to hold their words, so ties are broken by what makes a passage *the* source: first the
answer as one unbroken phrase, then the passage's overlap with the question, then rank.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rag.text import cjk_ratio, join_sentences, split_sentences, tokenize
from rag.types import Citation, Passage

_MARKER = re.compile(r"\s*\[(\d+)\]")
_PHRASE_WORD = re.compile(r"[^\W_]+")
# Passage sentences: closing punctuation or a blank line; single line breaks are PDF wrapping.
_PASSAGE_SENTENCE = re.compile(r"(?<=[.!?])\s+|(?<=[。！？])|\n\s*\n|\n(?=\s*(?:[-*•]|\d+[.)])\s)")
# A Markdown list item's opening: "- ", "* ", "1. ", "2) ".
_LIST_ITEM = re.compile(r"^(\s*(?:[-*•]|\d+[.)])\s+)")
# Words with which an answer frames what it reports; they are no claim about the passage.
# Pronouns and modals say nothing about what a passage states either.
FRAMING = frozenset(
    "according context documentation documents document docs passage passages says say states"
    " you your yours i me my we us our he she him his her they them can could will would should"
    " 根据 文档 上下文 资料 提到 你 您 我 我们 可以".split()
)
# Least support for a sentence to count as stated by a passage (Settings.citation_threshold).
SUPPORTED = 0.8


@dataclass
class Attribution:
    text: str
    citations: list[Citation]
    unsupported: list[str]
    supported: int = 0  # sentences that found a passage
    # Unsupported sentences that could not be judged: in another language than every passage,
    # with no name, number or code to check (``cross_language_support``).
    unjudged: int = 0

    @property
    def supported_share(self) -> float | None:
        """The share of the judged sentences that found a passage; ``None``: none judged."""
        judged = self.supported + len(self.unsupported) - self.unjudged
        return self.supported / judged if judged > 0 else None


def _content(sentence: str) -> list[str]:
    return [t for t in tokenize(sentence, drop_stopwords=True) if t not in FRAMING]


def _coverage(words: list[str], text: str) -> float:
    present = set(tokenize(text))
    stems = {t[:5] for t in present if len(t) > 4}
    return sum(1 for w in words if w in present or (len(w) > 4 and w[:5] in stems)) / len(words)


def passage_sentences(text: str) -> list[str]:
    """A passage cut into sentences (line wrapping inside a sentence is not a break)."""
    return [s.strip() for s in _PASSAGE_SENTENCE.split(text) if s and s.strip()] or [text]


def word_overlap(sentence: str, passage_text: str) -> float:
    """Share of the sentence's content words found anywhere in the passage (the old check).

    >>> word_overlap("Paris lies in France.", "Berlin lies in Germany.")
    0.3333333333333333
    """
    words = tokenize(sentence, drop_stopwords=True)
    return _coverage(words, passage_text) if words else 0.0


# Names, numbers and code: what a sentence and a passage in different languages share.
_ANCHOR = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-=/+]*[A-Za-z0-9=]|[A-Za-z0-9]")
_NUMBER = re.compile(r"\d+(?:\.\d+)*")
_CODE = re.compile(r"\d|[A-Z].*[A-Z]|[_.=/+\-]|^[a-z]+[A-Z]")


def _chinese(text: str) -> bool:
    return cjk_ratio(text) >= 0.3


def cross_language(sentence: str, passage_text: str) -> bool:
    """Whether one is Chinese and the other is not (word overlap cannot judge the sentence)."""
    return _chinese(sentence) != _chinese(passage_text)


def anchors(sentence: str) -> list[str]:
    """The names, numbers and code of a sentence, lower-cased: every Latin or digit run of a
    Chinese sentence; in an English one, runs with a digit, inner capitals or code punctuation
    (not ordinary words, which a Chinese passage would not hold).

    >>> anchors("客户端认证的超时时间为1分钟（1m）。")
    ['1', '1m']
    >>> anchors("Timeout sends the TERM signal to python3 when time runs out.")
    ['term', 'python3']
    """
    runs = _ANCHOR.findall(sentence)
    if _chinese(sentence):
        return [r.lower() for r in runs]
    return [r.lower() for r in runs if len(r) > 1 and _CODE.search(r)]


def cross_language_support(
    sentence: str, passage_text: str, question: str | None = None
) -> float | None:
    """Support across languages: the share of the sentence's new anchors (not in the question)
    that two consecutive passage sentences hold; ``None`` when it has none (nothing to check).

    >>> cross_language_support("客户端认证超时默认是 1m。",
    ...     "Maximum time to complete client authentication. The default is one minute (1m).")
    1.0
    >>> cross_language_support("最多能嵌套 2 层。", "jsonb stores nested objects.") is None
    False
    """
    asked = {a for a in anchors(question or "")} | set(tokenize(question or ""))
    new = [a for a in anchors(sentence) if a not in asked]
    if not new:
        return None
    best = 0.0
    parts = passage_sentences(passage_text)
    # Two consecutive passage sentences: a translation need not keep the sentence boundaries.
    for part in (" ".join(parts[i : i + 2]) for i in range(len(parts))):
        held = {t.lower() for t in _ANCHOR.findall(part)}
        low = part.lower()
        found = sum(1 for a in new if _holds(a, held, low))
        best = max(best, found / len(new))
    return best


def _holds(anchor: str, held: set[str], text: str) -> bool:
    """A name as a token (or inside a longer run, from 4 characters); a number as a number,
    also when a unit is glued to it ("1" in "(1m)", never in "10")."""
    if anchor in held or (len(anchor) >= 4 and anchor in text):
        return True
    return _NUMBER.fullmatch(anchor) is not None and (
        re.search(rf"(?<![\d.]){re.escape(anchor)}(?![\d.]\d|\d)", text) is not None
    )


def judge(
    sentence: str, passage_text: str, question: str | None = None, *, across: bool = True
) -> float | None:
    """``support``, or across languages ``cross_language_support`` (``None``: cannot tell).

    ``across=False``: a passage in another language counts 0 (used when some passage is in
    the sentence's language: names and numbers alone then match unrelated passages).
    """
    if cross_language(sentence, passage_text):
        return cross_language_support(sentence, passage_text, question) if across else 0.0
    return support(sentence, passage_text, question)


def _across(sentence: str, passages: list[Passage]) -> bool:
    """Whether every passage is in another language than the sentence."""
    return all(cross_language(sentence, p.text) for p in passages)


def support(sentence: str, passage_text: str, question: str | None = None) -> float:
    """How well one sentence of the passage states ``sentence`` (0..1).

    The best share of the sentence's content words found in a single passage sentence. Words
    the answer takes from the question that the passage never uses ("You submit your travel
    receipts within 45 days" for "When do I submit my travel receipts?") count half: restating
    the question is no claim, but a question's topic grafted onto a passage's predicate ("The
    parental leave policy is required for flights under six hours") still falls short.

    >>> support("Chroma stores vectors.", "Chroma is a store of vectors and documents")
    1.0
    >>> support("Paris lies in France.", "Berlin lies in Germany.")
    0.3333333333333333
    >>> policy = "Economy class is required for flights under six hours. Parental leave is 16 weeks."
    >>> support("Parental leave is required for flights under six hours.", policy) < 0.8
    True
    """
    words = _content(sentence)
    if not words:
        return 0.0
    echoed = 0.0
    if question:
        asked = set(_content(question))
        present = set(tokenize(passage_text))
        echo = [w for w in words if w in asked and w not in present]
        words = [w for w in words if w not in echo]
        if not words:
            return 0.0
        echoed = len(echo) / 2
    best = max(_coverage(words, s) for s in passage_sentences(passage_text))
    return best * len(words) / (len(words) + echoed)


# A figure the answer states: a number or version, not a list item's number.
_FIGURE = re.compile(r"(?<![\w.])\d+(?:\.\d+)*")
_LIST_NUMBER = re.compile(r"^\s*\d+[.)]\s", re.MULTILINE)


def unstated_numbers(answer: str, passages: list[Passage], question: str = "") -> list[str]:
    """The numbers in ``answer`` that no passage (text or location) and not the question holds.

    An invented figure is the 0.5B model's typical answer to a question the documents do not
    answer ("The tzdata package is updated on PyPI every 6 months."; "Debian 的安装镜像 ISO
    文件大概有大约 10GB。"): on 84 realistic questions 7 of 42 unanswerable answers held one,
    and none of the 25 correct ones (bench/refusals.py).

    >>> ps = [Passage(1, "a", "a.md", None, "Receipts must be uploaded within 45 days.", 1.0)]
    >>> unstated_numbers("Upload them within 30 days.", ps), unstated_numbers("Within 45 days.", ps)
    (['30'], [])
    >>> unstated_numbers("1. Keep receipts for 45 days.", ps)
    []
    """
    said = _LIST_NUMBER.sub(" ", _MARKER.sub("", answer))
    known = " ".join([question, *(f"{p.location} {p.text}" for p in passages)])
    out: list[str] = []
    for number in _FIGURE.findall(said):
        stated = re.search(rf"(?<![\d.]){re.escape(number)}(?!\d|\.\d)", known)
        if stated is None and number not in out:
            out.append(number)
    return out


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
    across = _across(sentence, passages)
    for rank, passage in enumerate(passages):
        key = (
            judge(sentence, passage.text, question, across=across) or 0.0,
            contains_phrase(passage.text, sentence),
            word_overlap(question, passage.text) if question else 0.0,
            -rank,
        )
        if best is None or key > best[0]:
            best = (key, passage)
    return (best[0][0], best[1]) if best else (0.0, None)


def best_snippet(passage_text: str, sentence: str, width: int = 240) -> str:
    """The passage sentence that shares most words with ``sentence``, cut to ``width``."""
    candidates = split_sentences(passage_text) or [passage_text]
    best = max(candidates, key=lambda s: word_overlap(sentence, s))
    return best if len(best) <= width else best[: width - 1] + "…"


def attribute(
    answer: str, passages: list[Passage], threshold: float, question: str | None = None
) -> Attribution:
    """Mark each supported sentence with a citation number; list the unsupported sentences.

    Citations are numbered 1, 2, … in the order the answer first uses their passage
    (``Citation.passage`` is the passage's own number). ``question`` breaks ties between equally
    supporting passages (``source_passage``). Line breaks survive (lists stay lists); a list
    item's marker goes at the end of its text.

    >>> ps = [Passage(1, "a", "a.md", None, "Mars is red.", 1.0),
    ...       Passage(2, "b", "b.md", None, "Jupiter is the largest planet.", 1.0)]
    >>> result = attribute("1. Jupiter is the largest planet.\\n2. Mars is red.", ps, 0.8)
    >>> print(result.text)
    1. Jupiter is the largest planet[1].
    2. Mars is red[2].
    >>> [(c.n, c.passage) for c in result.citations]
    [(1, 2), (2, 1)]
    """
    clean = _MARKER.sub("", answer).strip()
    cited: dict[int, Citation] = {}  # by passage number, in order of first use
    unsupported: list[str] = []
    supported = unjudged = 0
    lines: list[str] = []
    for line in clean.split("\n"):
        item = _LIST_ITEM.match(line)
        head, body = (item.group(1), line[item.end() :]) if item else ("", line)
        out: list[str] = []
        for sentence in split_sentences(body):
            content = _content(sentence)
            score, passage = source_passage(sentence, passages, question)
            if passage is None or score < threshold or not content:
                out.append(sentence)
                if content:
                    unsupported.append(sentence)
                    if _across(sentence, passages) and all(
                        judge(sentence, p.text, question) is None for p in passages
                    ):
                        unjudged += 1
                continue
            supported += 1
            if passage.n not in cited:
                cited[passage.n] = Citation(
                    n=len(cited) + 1,
                    source=passage.source,
                    page=passage.page,
                    snippet=best_snippet(passage.text, sentence),
                    score=round(score, 3),
                    location=passage.location,
                    passage=passage.n,
                )
            elif cited[passage.n].score < score:
                cited[passage.n].score = round(score, 3)
                cited[passage.n].snippet = best_snippet(passage.text, sentence)
            out.append(_place_marker(sentence, f"[{cited[passage.n].n}]"))
        lines.append(head + join_sentences(out, body))
    return Attribution(
        "\n".join(lines).strip(), list(cited.values()), unsupported, supported, unjudged
    )


def _place_marker(sentence: str, marker: str) -> str:
    """Put the marker before the closing punctuation: "It is red[1]."."""
    match = re.search(r"[.!?。！？；;:：]+$", sentence)
    if match:
        return sentence[: match.start()] + marker + sentence[match.start() :]
    return sentence + marker
