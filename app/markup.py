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
_RAW_MARKER = re.compile(r"\[(\d+)\]")
# What model output may not do: link, embed, raw HTML, maths, Streamlit directives. ("|" stays:
# tables are Markdown the model may write.)
_ANSWER_SPECIAL = re.compile(r"([\\\[\]<>$:&~])")
# "1[4]. Efficiency": a sentence splitter took "1." for a sentence and cited it.
_NUMBER_MARKERS = re.compile(r"^(\s*\d+)((?:\s*\[\d+\])+)\s*([.)、．])\s*")
_HEADING = re.compile(r"^(\s*)#{1,6}\s*")
_ROW_END_MARKERS = re.compile(r"\|((?:\s*\[\d+\])+)\s*$")
_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*$")
_LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s")


def place_markers(line: str) -> str:
    """Move markers out of the places where they break Markdown: after a list number, or after
    a table row's last ``|``.

    >>> place_markers("1[4].效率和灵活性")
    '1. 效率和灵活性[4]'
    >>> place_markers("2 [1][2]) Speed[2]")
    '2) Speed[2][1]'
    >>> place_markers("| Mars | red |[3]")
    '| Mars | red [3] |'

    A heading mark copied from a document or a code comment reads as text, not a heading:

    >>> place_markers("# 1[1].配置模型路径和参数[3]")
    '1. 配置模型路径和参数[3][1]'
    """
    line = _HEADING.sub(r"\1", line, count=1)
    m = _NUMBER_MARKERS.match(line)
    if m:
        rest = line[m.end() :].rstrip()
        moved = [x for x in _RAW_MARKER.findall(m.group(2)) if f"[{x}]" not in rest]
        line = f"{m.group(1)}{m.group(3)} {rest}" + "".join(f"[{x}]" for x in moved)
    return _ROW_END_MARKERS.sub(lambda r: f"{r.group(1).strip()} |", line)


def _is_table(line: str) -> bool:
    return line.lstrip().startswith("|")


def answer_markdown(text: str) -> str:
    """Model output as Markdown: its emphasis, lists and tables kept, but no links, images,
    HTML, maths or Streamlit directives; ``[n]`` markers in bold blue.

    (A directive, not bare ``**``: CommonMark will not open bold between a letter and ``[``.)

    >>> answer_markdown("**Jupiter** is big[1]. <b>")
    '**Jupiter** is big:blue[**\\\\[1\\\\]**]. \\\\<b\\\\>'
    """
    lines = [place_markers(line.rstrip()) for line in text.strip().splitlines()]
    out: list[str] = []
    for i, line in enumerate(lines):
        before = lines[i - 1] if i else ""
        after = lines[i + 1] if i + 1 < len(lines) else ""
        table = _is_table(line)
        if table and before.strip() and not _is_table(before):
            out.append("")  # a table is a block of its own: a blank line before it...
        if table and _TABLE_RULE.match(line):
            out.append(line.strip())  # "|:---|" must keep its colons to stay a table
        else:
            # Consecutive lines of prose keep their line break (a Markdown hard break).
            prose = line.strip() and after.strip() and not table and not _is_table(after)
            hard = prose and not _LIST_ITEM.match(after)
            out.append(stream_piece(line) + ("  " if hard else ""))
        if table and after.strip() and not _is_table(after):
            out.append("")  # ...and after it, or the next line would become a row
    return _MARKERS.sub(lambda m: marker(m.group(1)), "\n".join(out))


def first_use_order(text: str) -> list[int]:
    """Marker numbers in the order the text first uses them.

    >>> first_use_order("A[4]. B[2][4]. C[1].")
    [4, 2, 1]
    """
    seen: list[int] = []
    for n in map(int, _RAW_MARKER.findall(text)):
        if n not in seen:
            seen.append(n)
    return seen


def renumber(text: str, numbers: list[int]) -> tuple[str, dict[int, int]]:
    """Markers renumbered 1, 2, 3 in the order the text uses them; numbers it does not use
    follow. Returns the new text and old -> new.

    >>> renumber("A[4]. B[2][4].", [2, 4, 7])
    ('A[1]. B[2][1].', {4: 1, 2: 2, 7: 3})
    """
    order = [n for n in first_use_order(text) if n in numbers]
    order += [n for n in numbers if n not in order]
    mapping = {old: i + 1 for i, old in enumerate(order)}
    new = _RAW_MARKER.sub(lambda m: f"[{mapping.get(int(m.group(1)), m.group(1))}]", text)
    return new, mapping


def stream_piece(piece: str) -> str:
    """One streamed piece of model output, escaped like ``answer_markdown`` (markers plain)."""
    return _ANSWER_SPECIAL.sub(r"\\\1", piece).replace("\n", "  \n")


def marker(n: int | str) -> str:
    """The Markdown of citation marker ``[n]``, the same in answers and in source headings."""
    return f":blue[**\\[{n}\\]**]"
