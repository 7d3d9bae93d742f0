"""Evaluation metrics: answer EM/F1 (SQuAD v1.1), retrieval hit@k/MRR, citations, summaries.

Pure functions, no I/O. English text is scored exactly as the official SQuAD v1.1 script does;
text containing CJK characters is scored per character, as CMRC 2018 and DuReader do.

>>> exact_match("The Eiffel Tower!", ["eiffel tower"])
1.0
>>> round(token_f1("the Eiffel Tower", ["Eiffel tower in Paris"]), 4)
0.6667
>>> hit_at_k(["c3", "c7", "c1"], {"c7"}, k=2), reciprocal_rank(["c3", "c7", "c1"], "c7")
(1.0, 0.5)
"""

from __future__ import annotations

import math
import re
import string
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence

from rag.errors import ConfigError

__all__ = [
    "QUESTION_TYPES",
    "answer_contains_gold",
    "answer_tokens",
    "citation_precision",
    "citation_recall",
    "contains_answer",
    "exact_match",
    "hit_at_k",
    "mean",
    "normalize_answer",
    "percentile",
    "question_type",
    "reciprocal_rank",
    "token_f1",
]

# Scripts written without spaces between words (Han, kana) plus Hangul: one token per character.
_CJK_CHARS = (
    "\u3040-\u30ff"  # Hiragana, Katakana
    "\u3400-\u4dbf"  # CJK Extension A
    "\u4e00-\u9fff"  # CJK Unified Ideographs
    "\uac00-\ud7af"  # Hangul syllables
    "\uf900-\ufaff"  # CJK Compatibility Ideographs
    "\U00020000-\U0002ebef"  # CJK Extensions B-F
)
# Any of these switches on CJK handling: CJK characters, CJK punctuation, full-width forms.
_CJK_TEXT_RE = re.compile(f"[{_CJK_CHARS}\u3000-\u303f\uff00-\uffef]")
_CJK_SPACE_RE = re.compile(f"\\s+(?=[{_CJK_CHARS}])|(?<=[{_CJK_CHARS}])\\s+")
_TOKEN_RE = re.compile(f"[{_CJK_CHARS}]|[^\\s{_CJK_CHARS}]+")
_ARTICLES_RE = re.compile(r"\b(a|an|the)\b")
_ASCII_PUNCTUATION = frozenset(string.punctuation)


def _has_cjk(text: str) -> bool:
    return _CJK_TEXT_RE.search(text) is not None


def _is_punctuation(ch: str) -> bool:
    return ch in _ASCII_PUNCTUATION or unicodedata.category(ch).startswith("P")


def normalize_answer(s: str) -> str:
    """Lower-case, drop punctuation and the articles a/an/the, collapse whitespace (SQuAD v1.1).

    Text with CJK characters (or CJK punctuation) is also NFKC-normalised (full-width letters and
    digits become ASCII), loses all Unicode punctuation (，。《》“” …) and loses the whitespace
    next to CJK characters, which carries no meaning there.

    >>> normalize_answer("The  Eiffel Tower!")
    'eiffel tower'
    >>> normalize_answer("an apple, a pear")
    'apple pear'
    >>> normalize_answer("《北京 大学》，２００８年")
    '北京大学2008年'
    """
    cjk = _has_cjk(s)
    text = unicodedata.normalize("NFKC", s) if cjk else s
    text = text.lower()
    if cjk:
        text = "".join(ch for ch in text if not _is_punctuation(ch))
    else:
        # Only ASCII punctuation, exactly as the official script, so English scores stay comparable.
        text = "".join(ch for ch in text if ch not in _ASCII_PUNCTUATION)
    text = _ARTICLES_RE.sub(" ", text)
    text = " ".join(text.split())
    if cjk:
        text = _CJK_SPACE_RE.sub("", text)
    return text


def answer_tokens(s: str) -> list[str]:
    """Tokens of ``normalize_answer(s)``: words split on whitespace, each CJK character alone.

    >>> answer_tokens("The Eiffel Tower")
    ['eiffel', 'tower']
    >>> answer_tokens("2008年北京奥运会")
    ['2008', '年', '北', '京', '奥', '运', '会']
    """
    return _TOKEN_RE.findall(normalize_answer(s))


def exact_match(prediction: str, gold_answers: Sequence[str]) -> float:
    """1.0 when the normalised prediction equals any normalised gold answer, else 0.0.

    No gold answers scores 0.0.

    >>> exact_match("the Andes.", ["Andes", "the Andes mountains"])
    1.0
    >>> exact_match("Andes mountains", ["Andes"])
    0.0
    """
    pred = normalize_answer(prediction)
    return max((float(pred == normalize_answer(gold)) for gold in gold_answers), default=0.0)


def _f1(pred_tokens: list[str], gold_tokens: list[str]) -> float:
    if not pred_tokens or not gold_tokens:
        # As SQuAD 2.0: two empty answers agree, one empty answer shares nothing.
        return float(pred_tokens == gold_tokens)
    num_same = sum((Counter(pred_tokens) & Counter(gold_tokens)).values())
    if num_same == 0:
        return 0.0
    precision = num_same / len(pred_tokens)
    recall = num_same / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def token_f1(prediction: str, gold_answers: Sequence[str]) -> float:
    """Best SQuAD token F1 of the prediction against any gold answer (0.0 with no golds).

    F1 = 2PR / (P + R) over the multiset of shared tokens (``answer_tokens``).
    Below, "eiffel tower" vs "eiffel tower in paris": 2 shared, P = 2/2, R = 2/4, F1 = 2/3.
    Chinese is per character: 北京大学 vs 北京的大学 share 4, P = 4/4, R = 4/5, F1 = 8/9.

    >>> round(token_f1("the Eiffel Tower", ["Eiffel tower in Paris"]), 4)
    0.6667
    >>> round(token_f1("北京大学", ["北京的大学"]), 4)
    0.8889
    """
    pred_tokens = answer_tokens(prediction)
    return max((_f1(pred_tokens, answer_tokens(gold)) for gold in gold_answers), default=0.0)


def _gold_set(gold: set[str] | str | Iterable[str]) -> set[str]:
    return {gold} if isinstance(gold, str) else set(gold)


def hit_at_k(ranked_ids: Sequence[str], gold_ids: set[str] | str, k: int) -> float:
    """1.0 when any of the first ``k`` ranked ids is a gold id, else 0.0.

    >>> hit_at_k(["a", "b", "c"], {"c", "z"}, k=3), hit_at_k(["a", "b", "c"], "c", k=2)
    (1.0, 0.0)
    """
    if k <= 0:
        raise ConfigError(f"k must be at least 1, got {k}")
    gold = _gold_set(gold_ids)
    return float(any(rid in gold for rid in ranked_ids[:k]))


def reciprocal_rank(ranked_ids: Sequence[str], gold: set[str] | str) -> float:
    """1 / (1-based rank of the first gold id), 0.0 when none is ranked. Average it for MRR.

    >>> reciprocal_rank(["a", "b", "c"], {"c", "b"}), reciprocal_rank(["a"], "z")
    (0.5, 0.0)
    """
    golds = _gold_set(gold)
    for rank, rid in enumerate(ranked_ids, start=1):
        if rid in golds:
            return 1.0 / rank
    return 0.0


def mean(values: Iterable[float]) -> float:
    """Arithmetic mean; 0.0 for no values.

    >>> mean([1.0, 0.0, 0.5]), mean([])
    (0.5, 0.0)
    """
    items = list(values)
    return sum(items) / len(items) if items else 0.0


def percentile(values: Iterable[float], p: float) -> float:
    """The ``p``-th percentile (0-100) with linear interpolation, like ``numpy.percentile``.

    0.0 for no values.

    >>> percentile([1, 2, 3, 4], 50), percentile([10, 20, 30, 40, 50], 90), percentile([], 95)
    (2.5, 46.0, 0.0)
    """
    if not 0 <= p <= 100:
        raise ConfigError(f"percentile p must be within 0-100, got {p}")
    ordered = sorted(values)
    if not ordered:
        return 0.0
    position = (len(ordered) - 1) * p / 100
    lower = math.floor(position)
    upper = math.ceil(position)
    low_value = float(ordered[lower])
    return low_value + (float(ordered[upper]) - low_value) * (position - lower)


def _symbolic(gold: str) -> bool:
    # Option flags and operators ("-t", "==", "@>", "C++"): normalisation would leave a letter or
    # nothing, and "t" would then match every stray "t" token.
    return (
        any(_is_punctuation(ch) for ch in gold)
        and len(normalize_answer(gold).replace(" ", "")) <= 2
    )


def _contains_symbolic(text: str, gold: str) -> bool:
    haystack = " ".join(text.casefold().split())
    needle = " ".join(gold.casefold().split())
    start = haystack.find(needle)
    while start >= 0:
        end = start + len(needle)
        before = haystack[start - 1] if start else " "
        after = haystack[end] if end < len(haystack) else " "
        if not before.isalnum() and not after.isalnum():
            return True
        start = haystack.find(needle, start + 1)
    return False


def contains_answer(text: str, gold_answers: Sequence[str]) -> bool:
    """Whether ``text`` contains a gold answer as a whole run of normalised tokens.

    Token boundaries keep "art" from matching inside "party"; for Chinese a run of characters
    is a substring. A gold answer made of symbols (``-t``, ``==``, ``@>``, ``C++``), which
    normalisation would shrink to a letter or nothing, must occur as written (case-folded,
    whitespace collapsed) with no letter or digit directly before or after it.

    >>> contains_answer("The Andes are in South America.", ["andes"])
    True
    >>> contains_answer("A party was held.", ["art"])
    False
    >>> contains_answer("北京大学成立于1898年。", ["1898年"])
    True
    >>> contains_answer("Use pg_dump -t mytable.", ["-t"]), contains_answer("The table.", ["-t"])
    (True, False)
    >>> contains_answer("Compare with == here", ["=="]), contains_answer("x", ["  "])
    (True, False)
    """
    haystack = f" {' '.join(answer_tokens(text))} "
    for gold in gold_answers:
        if _symbolic(gold):
            if _contains_symbolic(text, gold):
                return True
            continue
        needle = " ".join(answer_tokens(gold))
        if needle and f" {needle} " in haystack:
            return True
    return False


def answer_contains_gold(answer: str, gold_answers: Sequence[str]) -> float:
    """1.0 when the normalised answer contains a normalised gold answer (``contains_answer``).

    Scores a sentence for holding the answer phrase rather than for being a bare phrase: for
    Chinese, spaces and punctuation are ignored (CJK text is compared character by character).

    >>> answer_contains_gold("Receipts are due within 45 days [1].", ["45 days"])
    1.0
    >>> answer_contains_gold("需要在 45 天内上传。", ["45天"]), answer_contains_gold("", ["x"])
    (1.0, 0.0)
    """
    return float(contains_answer(answer, gold_answers))


def citation_precision(cited_texts: Sequence[str], gold_answers: Sequence[str]) -> float | None:
    """Share of the cited passages that contain a gold answer; None when nothing was cited.

    Passages are compared by text, so one passage cited twice counts once.

    >>> citation_precision(["Lima is in Peru.", "Quito is in Ecuador."], ["Lima"])
    0.5
    >>> citation_precision([], ["Lima"]) is None
    True
    """
    cited = list(dict.fromkeys(cited_texts))
    if not cited:
        return None
    return sum(contains_answer(text, gold_answers) for text in cited) / len(cited)


def citation_recall(
    cited_texts: Sequence[str], retrieved_texts: Sequence[str], gold_answers: Sequence[str]
) -> float | None:
    """Cited passages holding a gold answer / retrieved passages holding one (capped at 1.0).

    None when no retrieved passage contains a gold answer: there was nothing to cite.
    Pass full passage texts, not snippets; passages are compared by text.

    >>> retrieved = ["Lima is in Peru.", "Lima has 10 million people.", "Quito is high."]
    >>> citation_recall(["Lima is in Peru."], retrieved, ["Lima"])
    0.5
    >>> citation_recall([], ["Quito is high."], ["Lima"]) is None
    True
    """
    relevant = sum(contains_answer(t, gold_answers) for t in dict.fromkeys(retrieved_texts))
    if relevant == 0:
        return None
    cited = sum(contains_answer(t, gold_answers) for t in dict.fromkeys(cited_texts))
    return min(1.0, cited / relevant)


QUESTION_TYPES: tuple[str, ...] = (
    "what",
    "who",
    "when",
    "where",
    "which",
    "why",
    "how",
    "how many",
    "other",
)
"""Every label ``question_type`` returns, in a sensible order for plots."""

_EN_WH_WORDS = {
    "what": "what",
    "who": "who",
    "whom": "who",
    "whose": "who",
    "when": "when",
    "where": "where",
    "which": "which",
    "why": "why",
    "how": "how",
}
# Chinese interrogatives; at one position the longest wins (什么时候 over 什么, 为什么 over 什么).
_ZH_PATTERNS: tuple[tuple[str, str], ...] = (
    ("为什么|为何|为啥", "why"),
    ("什么时候|何时|几时|哪一?年|哪一?天|哪个时候", "when"),
    ("哪里|哪儿|何处|何地|什么地方|哪个地方", "where"),
    ("谁", "who"),
    ("多少|几(?![乎何])", "how many"),  # not 几乎 (almost), 几何
    ("怎么|怎样|如何|多久", "how"),
    ("哪", "which"),
    ("什么|啥|(?<![任几])何", "what"),  # not 任何 (any), 几何 (geometry)
)
_ZH_RE = [(re.compile(pattern), label) for pattern, label in _ZH_PATTERNS]
_HAN_RE = re.compile(f"[{_CJK_CHARS}]")


def question_type(question: str) -> str:
    """The question's wh-type, one of ``QUESTION_TYPES``, from its first interrogative word.

    English: what, who (whom, whose), when, where, which, why, how, "how many" (how many/much).
    Chinese: 什么, 谁, 何时/什么时候, 哪里, 哪, 为什么, 怎么/如何, 几/多少 map to the same labels.

    >>> question_type("In what year did the war end?"), question_type("How much does it cost?")
    ('what', 'how many')
    >>> question_type("Is there a delegate?")
    'other'
    >>> question_type("北京大学是什么时候成立的？"), question_type("为什么天空是蓝色的")
    ('when', 'why')
    """
    if _HAN_RE.search(question):
        best: tuple[int, int, str] | None = None  # (start, -length, label): earliest, then longest
        for pattern, label in _ZH_RE:
            match = pattern.search(question)
            if match:
                key = (match.start(), -len(match.group()), label)
                if best is None or key[:2] < best[:2]:
                    best = key
        return best[2] if best else "other"
    words = re.findall(r"[a-z]+", question.lower())
    for i, word in enumerate(words):
        if word == "how" and i + 1 < len(words) and words[i + 1] in ("many", "much"):
            return "how many"
        if word in _EN_WH_WORDS:
            return _EN_WH_WORDS[word]
    return "other"
