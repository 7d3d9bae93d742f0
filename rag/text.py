"""Language detection and tokenisation shared by keyword search, citations and prompts."""

from __future__ import annotations

import logging
import re
from functools import lru_cache
from typing import Literal

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_WORD = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+|[^\W_]+", re.UNICODE)
# For counting, also the rare ideographs of extensions B-F (names, classical text).
_HAN = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f]")
_NOT_SPACE = re.compile(r"\S")
# Share of the non-space characters from which text counts as Chinese. Characters, not letters:
# Chinese prose around code ("# 4. 构建 Prompt 并进行 Tokenize", a Chinese comment after a call
# with English arguments) has many Latin letters per Chinese character, and a reader still calls
# it Chinese. On data/llm-local-deployment.zh.txt the 30%-of-letters rule called 4 such lines
# English; both rules agree on all 66 bench/data/zh_bilingual.jsonl questions.
ZH_SHARE = 0.15

# Short English stop list: these match nearly every chunk and only slow keyword search down.
STOPWORDS = frozenset(
    "a an and are as at be by for from has have in is it its of on or that the this to was were"
    " what when where which who whom why how did does do with into than then there their they"
    " 的 了 是 在 和 与 及 或 吗 呢 吧 啊 什么 哪些 哪个 怎么 如何 为什么".split()
)


def cjk_ratio(text: str) -> float:
    """The share of ``text``'s non-space characters that are Chinese characters.

    >>> cjk_ratio("北京 is 2 words")
    0.2
    """
    # Counted by regex substitution: a per-character Python loop took seconds on a 10 MB file.
    visible = _NOT_SPACE.subn("", text)[1]
    return _HAN.subn("", text)[1] / visible if visible else 0.0


def detect_language(text: str) -> Literal["en", "zh"]:
    """``"zh"`` when Chinese characters are at least 15% of the non-space characters, else ``"en"``.

    The one language rule: questions (prompt and refusal language) and ingested files (the
    ``lang`` metadata) both use it.

    >>> detect_language("什么是向量数据库？"), detect_language("What is Chroma?")
    ('zh', 'en')
    >>> detect_language("# 4. 构建 Prompt 并进行 Tokenize"), detect_language("12345"), detect_language("")
    ('zh', 'en', 'en')
    """
    return "zh" if cjk_ratio(text) >= ZH_SHARE else "en"


@lru_cache(maxsize=1)
def _jieba():  # type: ignore[no-untyped-def]
    import jieba

    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()
    return jieba


def tokenize(text: str, *, drop_stopwords: bool = False) -> list[str]:
    """Lower-cased words; Chinese runs segmented with jieba.

    >>> tokenize("Chroma 是一个向量数据库")
    ['chroma', '是', '一个', '向量', '数据库']
    """
    tokens: list[str] = []
    for match in _WORD.finditer(text.lower()):
        piece = match.group()
        if _CJK.match(piece):
            tokens.extend(t for t in _jieba().lcut(piece) if t.strip())
        else:
            tokens.append(piece)
    if drop_stopwords:
        tokens = [t for t in tokens if t not in STOPWORDS]
    return tokens


_SENTENCE = re.compile(r"(?<=[.!?。！？；;])\s+|(?<=[。！？；])|\n+")


def split_sentences(text: str) -> list[str]:
    """Split an answer into sentences in English and Chinese.

    >>> split_sentences("It is red. 它是红色的。Yes!")
    ['It is red.', '它是红色的。', 'Yes!']
    """
    return [s.strip() for s in _SENTENCE.split(text) if s and s.strip()]


def join_sentences(sentences: list[str], like: str) -> str:
    """Sentences put back into one line: without spaces when ``like`` (the line they came from)
    is Chinese in its first 50 characters, with one space otherwise.

    >>> join_sentences(["它是红色的。", "是的。"], "它是红色的。是的。"), join_sentences(["A.", "B."], "A. B.")
    ('它是红色的。是的。', 'A. B.')
    """
    joiner = "" if any("\u4e00" <= ch <= "\u9fff" for ch in like[:50]) else " "
    return joiner.join(sentences)
