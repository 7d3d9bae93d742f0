"""Language detection and tokenisation shared by keyword search, citations and prompts."""

from __future__ import annotations

import logging
import re
from functools import lru_cache

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_WORD = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+|[^\W_]+", re.UNICODE)

# Short English stop list: these match nearly every chunk and only slow keyword search down.
STOPWORDS = frozenset(
    "a an and are as at be by for from has have in is it its of on or that the this to was were"
    " what when where which who whom why how did does do with into than then there their they"
    " 的 了 是 在 和 与 及 或 吗 呢 吧 啊 什么 哪些 哪个 怎么 如何 为什么".split()
)


def cjk_ratio(text: str) -> float:
    letters = sum(1 for ch in text if not ch.isspace())
    return len(_CJK.findall(text)) / letters if letters else 0.0


def detect_language(text: str) -> str:
    """``"zh"`` when a noticeable share of the text is CJK, else ``"en"``.

    >>> detect_language("什么是向量数据库？"), detect_language("What is Chroma?")
    ('zh', 'en')
    """
    return "zh" if cjk_ratio(text) >= 0.15 else "en"


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
