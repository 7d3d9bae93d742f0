"""Document text as safe Markdown: every special character escaped, matched words in bold.

Document text never reaches the page as HTML. It is escaped for Markdown (so ``<script>``,
``[link](x)``, ``$math$`` or Streamlit's ``:red[...]`` show as typed) and the words it shares with
the question are wrapped in ``**`` after escaping.

>>> escape_markdown("<b>*x*</b>")
'\\\\<b\\\\>\\\\*x\\\\*\\\\</b\\\\>'
>>> highlight("Jupiter is the largest planet.", "Which planet is largest?")
'Jupiter is the **largest** **planet**\\\\.'
"""

from __future__ import annotations

import re

from rag.text import STOPWORDS, tokenize

# Every ASCII punctuation character may be backslash-escaped in CommonMark; escaping all of them
# also disarms Streamlit's extensions (:color[...], :material/icon:, $LaTeX$).
_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:&=@])")
_SPACE = re.compile(r"\s+")


def escape_markdown(text: str) -> str:
    """``text`` as Markdown that renders literally, on one line."""
    return _SPECIAL.sub(r"\\\1", _SPACE.sub(" ", text).strip())


def query_terms(question: str) -> list[str]:
    """The words worth highlighting: the question's tokens minus stop words, longest first."""
    terms = {t for t in tokenize(question, drop_stopwords=True) if len(t) > 1 or _is_cjk(t)}
    terms -= STOPWORDS
    return sorted(terms, key=lambda t: (-len(t), t))


def _is_cjk(token: str) -> bool:
    return bool(re.match(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]", token))


def highlight(text: str, question: str, *, limit: int = 600) -> str:
    """Escaped Markdown of ``text`` (cut at ``limit`` characters) with question words in bold."""
    text = _SPACE.sub(" ", text).strip()
    if len(text) > limit:
        text = text[:limit].rstrip() + "…"
    terms = query_terms(question)
    if not terms:
        return escape_markdown(text)
    # Latin words match whole words; Chinese words match anywhere (there are no spaces).
    alternatives = [
        re.escape(t) if _is_cjk(t) else rf"(?<![^\W_]){re.escape(t)}(?![^\W_])" for t in terms
    ]
    pattern = re.compile("|".join(alternatives), re.IGNORECASE)
    spans: list[list[int]] = []
    for match in pattern.finditer(text):
        if spans and spans[-1][1] == match.start():
            spans[-1][1] = match.end()  # adjacent words: one bold run, not "****"
        else:
            spans.append([match.start(), match.end()])
    out: list[str] = []
    last = 0
    for start, end in spans:
        out.append(escape_markdown_inline(text[last:start]))
        out.append(f"**{escape_markdown_inline(text[start:end])}**")
        last = end
    out.append(escape_markdown_inline(text[last:]))
    return "".join(out)


def escape_markdown_inline(text: str) -> str:
    """Like ``escape_markdown`` but keeps leading and trailing spaces (for pieces of a line)."""
    return _SPECIAL.sub(r"\\\1", text)


_MARKERS = re.compile(r"\\\[(\d+)\\\]")
# What model output may not do: link, embed, raw HTML, maths, Streamlit directives.
_ANSWER_SPECIAL = re.compile(r"([\\\[\]<>$:&|~])")


def answer_markdown(text: str) -> str:
    """Model output as Markdown: its emphasis and lists kept, but no links, images, HTML, maths
    or Streamlit directives; ``[n]`` markers in bold blue.

    (A directive, not bare ``**``: CommonMark will not open bold between a letter and ``[``.)

    >>> answer_markdown("**Jupiter** is big[1]. <b>")
    '**Jupiter** is big:blue[**\\\\[1\\\\]**]. \\\\<b\\\\>'
    """
    lines = [stream_piece(line.rstrip()) for line in text.strip().splitlines()]
    return _MARKERS.sub(lambda m: marker(m.group(1)), "  \n".join(x for x in lines if x.strip()))


def stream_piece(piece: str) -> str:
    """One streamed piece of model output, escaped like ``answer_markdown`` (markers plain)."""
    return _ANSWER_SPECIAL.sub(r"\\\1", piece).replace("\n", "  \n")


def marker(n: int | str) -> str:
    """The Markdown of citation marker ``[n]``, the same in answers and in source headings."""
    return f":blue[**\\[{n}\\]**]"
