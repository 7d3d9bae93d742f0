"""Follow-up questions in a chat: does a question need the history, and what does it mean then?

``resolve`` decides with no model call whether a question stands on its own (it names its
subject and has no pronoun, deictic or elliptical opening such as "it", "those", "the one",
"And …?", "What about …?", 它, 这些, 书里, "那…呢"). A question that stands on its own is not
rewritten and is searched with its own words, so a new topic is never pulled back to the old one.
A follow-up borrows only the missing referent: the subject of the last question that stood on its
own ("What does pg_dump do?" → ``pg_dump``), put where the pronoun was or added to the question.
A chat model may be asked for the rewrite instead (``mode="model"``, or ``"auto"`` when no subject
is found); its output is kept only if it keeps the follow-up's own content words and does not
repeat an earlier question, otherwise the rule-based rewrite is used.

>>> history = [("user", "What does pg_dump do?"), ("assistant", "It backs up a database.")]
>>> resolve("Does it block other users?", history).question
'Does pg_dump block other users?'
>>> r = resolve("Which PostgreSQL tool backs up roles?", history)
>>> r.rewritten, r.question, r.model_calls
(False, 'Which PostgreSQL tool backs up roles?', 0)
>>> resolve("它可以免费商用吗？", [("user", "霞鹜文楷是基于哪款字体做的？")]).question
'霞鹜文楷可以免费商用吗？'
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage

from rag.text import detect_language

History = Sequence[tuple[str, str]]  # (role "user" | "assistant", text)
Mode = Literal["rules", "model", "auto"]
# A rewrite is one short question: 40 new tokens cover the longest in the realistic set's
# conversations (the old condense call asked for 48 and often filled them by repeating itself).
REWRITE_MAX_NEW_TOKENS = 40


@dataclass(frozen=True)
class FollowUp:
    """How a question was understood in its chat.

    ``question``: what retrieval searches with (the question itself when ``rewritten`` is False);
    ``method``: ``"none"`` (stands on its own), ``"rules"``, ``"model"``, or ``"rules-fallback"``
    (the model's rewrite failed validation); ``referent``: the subject borrowed from history;
    ``model_calls``: chat-model calls spent; ``seconds``: the time spent deciding and rewriting.
    """

    question: str
    rewritten: bool
    method: str
    referent: str | None = None
    model_calls: int = 0
    seconds: float = 0.0

    @property
    def standalone(self) -> str | None:
        """The rewritten question to show the user, or None for a question that stood alone."""
        return self.question if self.rewritten else None


# --- does the question need its history? ---------------------------------------------------

_EN_PRONOUNS = r"it|its|it's|itself|they|them|their|theirs|he|him|his|she|her|hers"
_EN_PRONOUN = re.compile(rf"\b({_EN_PRONOUNS})\b", re.I)
# "that" as a pointer ("Who wrote that?", "Is that free?"), not as a relative pronoun.
_EN_DEICTIC = re.compile(
    r"\b(this|these|those|the same|the former|the latter|the other one|"
    r"(?:the|which|that|this)(?: \w+)? ones?)\b|"
    r"(?:^|\b(?:is|was|does|do|did|about|of|for|with|use|in|on)\s+)that\b(?!\s+\w+\s+(?:is|are|was))|"
    r"\bthat\s*\?$|"
    r"(?<!\bis )(?<!\bare )(?<!\bwas )(?<!\bwere )\bthere\b",
    re.I,
)
# A definite generic noun with no name of its own points back ("Which PEP added the module?").
_EN_GENERIC = (
    "module|package|paper|book|document|article|file|tool|command|program|library|project|"
    "guide|manual|font|software|app|application|utility|function|site|release|version"
)
_EN_THE_GENERIC = re.compile(rf"\bthe ({_EN_GENERIC})\b(?! of\b)", re.I)
_EN_ELLIPTIC_START = re.compile(
    r"^\s*(and|also|what about|how about|what if|and if|but|or|then|so|same for)\b", re.I
)
_EN_STRIP_START = re.compile(
    r"^\s*(?:and|also|so|but|then)\s*,?\s+(?=(?:what|which|who|whom|whose|when|where|why|how|"
    r"is|are|was|were|do|does|did|can|could|should|would|will|may|must|has|have)\b)",
    re.I,
)
_EN_STOP = set(
    """a an the of to in on at for by with from into about as and or but if then than so
    what which who whom whose when where why how is are was were be been being do does did
    can could should would will may might must shall has have had i me my we our you your
    there here not no yes also any some all each more most much many very just only again
    one ones default""".split()
)

_ZH_REFERRING = re.compile(
    r"它们|它的|它|其|这个|那个|这些|那些|这种|那种|这款|那款|这篇|那篇|这本|那本|此|"
    r"该(?:书|文|软件|命令|工具|包|字体|项目|文件|文档|版本|程序|库|模块)|"
    r"他们|她们|他|她|这里|那里|这儿|那儿|前者|后者|上面|同样|书里|书中|文中|文章里|文章中"
)
_ZH_ELLIPTIC_START = re.compile(r"^\s*(那么|那|还有|另外|而且|而|要是|如果是)")
_ZH_NE_END = re.compile(r"呢\s*[？?]?\s*$")  # a question ending in 呢: "那中文呢？"
_ZH_STRIP_START = re.compile(r"^\s*(那么|那)\s*")
_ZH_QUESTION_WORDS = re.compile(
    r"什么|哪些|哪个|哪款|哪里|哪儿|哪天|哪年|多少|多久|多大|多长|怎么样|怎么|怎样|如何|为什么|"
    r"是否|是不是|能不能|可不可以|可以|是|的|了|吗|呢|吧|有|能|会|要|一次|一下|[？?！!。，,、\s]"
)
_LATIN_NAME = re.compile(r"[A-Za-z][\w.+#/-]*(?:\s+\d[\w.]*)?")


def _en_words(text: str) -> list[str]:
    return re.findall(r"[A-Za-z0-9][\w.+#/'-]*", text)


def content_words(text: str) -> list[str]:
    """The words that carry a question's intent: no stop words, no pronouns, no question words.
    Chinese text gives its Han characters outside question and function words.

    >>> content_words("Does it block other users?")
    ['block', 'other', 'users']
    >>> content_words("包名有什么限制？")
    ['包', '名', '限', '制']
    """
    words = [
        w.lower().rstrip("?.!,").removesuffix("'s")
        for w in _en_words(text)
        if w.lower() not in _EN_STOP and not _EN_PRONOUN.fullmatch(w)
    ]
    han = _ZH_REFERRING.sub("", _ZH_QUESTION_WORDS.sub("", text))
    return [w for w in words if w] + re.findall(r"[\u4e00-\u9fff]", han)


def _is_named(word: str, first: bool) -> bool:
    """A word that names something: code-like (pg_dump, os-release, 3.11), CamelCase, or
    capitalised inside a sentence (Python, Debian); short acronyms (PEP, JIT) are not names."""
    bare = word.rstrip("?.!,").removesuffix("'s")
    if re.search(r"[_./#+]|\d", bare) and re.search(r"[A-Za-z]", bare):
        return True
    if re.search(r"[a-z][A-Z]", bare) or ("-" in bare.strip("-")):
        return True
    if bare.isupper() and len(bare) <= 4:
        return False
    return bool(bare[:1].isupper() and not first and len(bare) > 1)


def needs_history(question: str) -> bool:
    """True when the question cannot be understood without the chat before it.

    >>> needs_history("Who wrote it?"), needs_history("Who wrote the zoo FAQ?")
    (True, False)
    >>> needs_history("In what year?"), needs_history("那中文呢？"), needs_history("第二个呢？")
    (True, True, True)
    >>> needs_history("本地部署大模型有哪些好处？")
    False
    """
    q = question.strip()
    if _ZH_NE_END.search(q):  # "那中文呢？", "EasyOCR 呢？"
        return True
    if detect_language(q) == "zh":
        if _ZH_REFERRING.search(q) or _ZH_ELLIPTIC_START.match(q):
            return True
        has_latin = bool(re.search(r"[A-Za-z]{2,}", q))
        han = re.findall(r"[\u4e00-\u9fff]", _ZH_QUESTION_WORDS.sub("", q))
        # Five content characters or fewer and no Latin name: "多久刷一次盘？", "包名有什么限制？".
        return not has_latin and len(han) <= 5
    pronoun = _EN_PRONOUN.search(q)
    # "Where does zoneinfo get its data?": the pronoun points inside the question itself.
    if pronoun and subject(q[: pronoun.start()]) is None:
        return True
    if _EN_DEICTIC.search(q) or _EN_ELLIPTIC_START.match(q):
        return True
    words = _en_words(q)
    named = any(_is_named(w, i == 0) for i, w in enumerate(words))
    if _EN_THE_GENERIC.search(q) and not named:
        return True
    # "In Python?", "For Windows?": a bare prepositional phrase continues the last question.
    if len(words) <= 4 and re.match(r"(in|on|for|with|at|from|under|by|without)\b", q, re.I):
        return True
    # One content word: "Is there a JIT?", "And startup?" (JIT is no name here).
    return len(content_words(q)) <= 1 and not named


# --- the referent ----------------------------------------------------------------------------

_EN_POSSESSIVE = re.compile(
    r"\b(?!(?:what|it|that|who|where|how|there|let|he|she|here)'s\b)([\w.+#-]+)'s\b(\s+[a-z]\w*(?=\s+do\b))?",
    re.I,
)
_EN_BETWEEN = re.compile(r"\bbetween ([\w.+#-]+) and ([\w.+#-]+)", re.I)
_EN_OF = re.compile(
    r"\b(?:authors?|title|editor|name|license|publisher|date) of (the [\w.+#-]+(?: [\w.+#-]+)?"
    r"(?: (?:paper|book|faq|document|article|guide|manual))?)\b",
    re.I,
)
_EN_HOW_DO = re.compile(
    r"^how (?:do|can|should) (?:i|you|we) \w+ ((?:(?:a|an|the|my) )?[^?]+?)"
    r"(?=\s+(?:to|for|at|on|from|with|during|when|if|while|after|before|into|by|stop)\b|$)",
    re.I,
)
_EN_AUX = re.compile(
    r"\b(?:does|do|did|is|are|was|can|could|should|will)\s+([\w.+#-]+)(?=\s+\w)", re.I
)
# After the auxiliary and a determiner, the words up to the question's final verb.
_EN_AUX_PHRASE = re.compile(
    r"\b(?:does|do|did|is|are|was|were|can|could|should|will)\s+(?:a|an|the|my|our|your|this)\s+"
    r"((?:[\w.+#-]+\s+){0,3}?[\w.+#-]+)\s+\w+$",
    re.I,
)
_ZH_SUBJECT_BEFORE_IS = re.compile(r"^\s*([^，,。？?的把被在]{1,14}?)\s*是")
_ZH_LEADING = re.compile(r"^\s*([\u4e00-\u9fff]{2,10}?)(?:有|能|可以|会|怎么|为什么|默认|在|要)")


def subject(question: str) -> str | None:
    """The noun phrase a question is about, or None when none can be told.

    >>> subject("What does pg_dump do?"), subject("Who are the authors of the zoo paper?")
    ('pg_dump', 'the zoo paper')
    >>> subject("How do I create a virtual environment in Python?")
    'a virtual environment in Python'
    >>> subject("How much faster is Python 3.11 than 3.10?"), subject("Debian 12 是哪天发布的？")
    ('Python 3.11', 'Debian 12')
    >>> subject("What does a sourdough starter need?")
    'sourdough starter'
    """
    q = question.strip().rstrip("?？ ")
    if detect_language(q) == "zh":
        m = _ZH_SUBJECT_BEFORE_IS.match(q)
        if m and not _ZH_QUESTION_WORDS.fullmatch(m.group(1)) and "谁" not in m.group(1):
            return m.group(1).strip()
        lead = re.match(r"^\s*([A-Za-z][\w.+#-]*(?:\s+\d[\w.]*)?)", q)
        if lead:
            return lead.group(1).strip()
        latin = re.search(r"[A-Za-z][\w.+#-]*[A-Za-z0-9]", q)
        if latin:
            return latin.group(0)
        m = _ZH_LEADING.match(q)
        return m.group(1) if m else None
    for pattern in (_EN_BETWEEN, _EN_POSSESSIVE, _EN_OF, _EN_HOW_DO):
        m = pattern.search(q)
        if m:
            if pattern is _EN_BETWEEN:
                return f"{m.group(1)} and {m.group(2)}"
            if pattern is _EN_POSSESSIVE:
                return m.group(1) + (f"'s{m.group(2)}" if m.group(2) else "")
            return m.group(1).strip()
    words = _en_words(q)
    for i, word in enumerate(words):
        if _is_named(word, i == 0):
            run = [word.removesuffix("'s")]
            for nxt in words[i + 1 :]:
                if _is_named(nxt, False) or re.fullmatch(r"\d[\w.]*", nxt):
                    run.append(nxt.removesuffix("'s"))
                else:
                    break
            return " ".join(run)
    m = _EN_AUX.search(q)
    if m and m.group(1).lower() not in _EN_STOP and not _EN_PRONOUN.fullmatch(m.group(1)):
        return m.group(1)
    m = _EN_AUX_PHRASE.search(q)  # "What does a sourdough starter need?" -> "sourdough starter"
    if m and not _EN_PRONOUN.fullmatch(m.group(1).split()[0]):
        return m.group(1)
    return None


# --- the rewrite -------------------------------------------------------------------------------


def _possessive(name: str, lang: str) -> str:
    if lang == "zh":
        return f"{name}的"
    return f"{name}'" if name.endswith("s") and not name.endswith("'s") else f"{name}'s"


_PREPS = (
    "in|on|for|with|at|from|under|by|without|during|inside|via|over|through|into|to|behind|after|"
    "before"
)
_EN_FRAGMENT_OPEN = re.compile(
    r"^\s*(?:(?:and|but|or|so|also|then)\b\s*,?\s*)?(?:(?:what|how) about\s+)?", re.I
)
_EN_PP_FRAGMENT = re.compile(rf"^({_PREPS})\s+([^?？]+?)\s*[?？]?\s*$", re.I)
_EN_CLAUSE_WORD = re.compile(
    r"\b(what|which|who|whom|whose|when|where|why|how|is|are|was|were|do|does|did|can|could|"
    r"should|would|will|may|must|has|have)\b",
    re.I,
)
# he/his/she/her point to a person the previous answer named (an author), not to the document
# or tool the previous question was about: a referent that is not a name of two or three
# capitalised words ("Ian Murdock") is not put in their place.
_EN_PERSONAL = {"he", "him", "his", "she", "her", "hers"}
_PERSON_NAME = re.compile(r"[A-Z][a-z]+(?: [A-Z][a-z]+){1,2}")
# A Chinese follow-up with a question word of its own asks its own question; one without
# ("要是命令根本找不到呢？", "那中文呢？") asks the previous question again about something else.
_ZH_ASKS = re.compile(r"什么|哪|多少|几|怎么|怎样|如何|为什么|谁|吗|是否|能否|是不是|有没有|能不能")


def _flat(context: str) -> str:
    """A resolved question as one clause: its bracketed context joined by a comma, no "?"."""
    text = re.sub(r"\s*[?？]\s*[(](.*)[)]\s*$", r", \1", context.strip())
    return re.sub(r"\s*[?？]\s*（(.*)）\s*$", r"，\1", text).rstrip("?？ ")


def _contrast(question: str, context: str) -> str | None:
    """A prepositional fragment ("What about on Windows?", "And in Python 3.12?") put into the
    previous question in place of its phrase with the same preposition, or added to it; None
    when the follow-up is not such a fragment.

    >>> _contrast("What about on Windows?", "How do I activate a venv on Unix?")
    'How do I activate a venv on Windows?'
    >>> _contrast("And for superusers?", "How many connections are kept?")
    'How many connections are kept for superusers?'
    """
    rest = _EN_FRAGMENT_OPEN.sub("", question.strip(), count=1)
    m = _EN_PP_FRAGMENT.match(rest)
    if not m or _EN_CLAUSE_WORD.search(rest) or len(rest.split()) > 6:
        return None
    phrase = f"{m.group(1)} {m.group(2)}"
    frame = _flat(context)
    slot = re.search(
        rf"\b{m.group(1)}\s+(?!(?:{_PREPS})\b)\w[^?,]*?(?=\s+(?:{_PREPS})\b|[?,]|$)", frame, re.I
    )
    if slot:
        old = slot.group(0).split(maxsplit=1)[1]
        # "And in 3.12?" after "…in Python 3.11?": only the version changes.
        named = re.fullmatch(r"(.+?)\s+v?\d[\w.]*", old)
        if named and re.fullmatch(r"v?\d[\w.]*", m.group(2)):
            phrase = f"{m.group(1)} {named.group(1)} {m.group(2)}"
        return f"{frame[: slot.start()]}{phrase}{frame[slot.end() :]}?"
    return f"{frame} {phrase}?"


_EN_NP_OPEN = re.compile(
    r"^\s*(?:(?:and|but|so|also|then)\b\s*,?\s*(?:(?:what|how) about\s+)?|(?:what|how) about\s+)",
    re.I,
)


def np_fragment(question: str) -> str | None:
    """The noun phrase of an English follow-up that is only one ("And the generator?",
    "What about startup?"), without its article; None for anything else.

    >>> np_fragment("And the generator?"), np_fragment("And if ID is missing, what is assumed?")
    ('generator', None)
    >>> np_fragment("And its license?"), np_fragment("And then?")
    (None, None)
    """
    m = _EN_NP_OPEN.match(question)
    if not m:
        return None
    rest = question[m.end() :].strip().rstrip("?？ .")
    if (
        not content_words(rest)  # "And then?", "And the default?"
        or "," in rest  # "And the receipts, by when?": a clause, not a noun phrase
        or _EN_PRONOUN.search(rest)  # "And its license?": the pronoun rule's
        or _EN_DEICTIC.search(rest)  # "And the one for Windows?"
        or _EN_CLAUSE_WORD.search(rest)
        or re.match(rf"(?:{_PREPS}|if|when|while)\b", rest, re.I)
        or len(rest.split()) > 8
    ):
        return None
    return re.sub(r"^(?:the|a|an)\s+", "", rest, flags=re.I)


def _attribute(question: str, referent: str, context: str) -> str | None:
    """A noun-phrase follow-up put into the previous question: a name takes the place of the
    last name there ("And pg_restore?" after "What does pg_dump do?"); another noun asks for
    that attribute of the referent ("And the default maximum number of connections?" after
    "What port does PostgreSQL listen on?" → "What is PostgreSQL's default maximum number of
    connections?"; after "What is kbqa's default embedder?" only the head noun changes), or,
    after a how-question, narrows its subject ("And startup?" after "How much faster is Python
    3.11 than 3.10?" → "How much faster is Python 3.11 startup than 3.10?").

    >>> _attribute("And the generator?", "kbqa", "What is kbqa's default embedder?")
    "What is kbqa's default generator?"
    """
    np = np_fragment(question)
    if np is None:
        return None
    frame = _flat(context)
    words = _en_words(frame)
    named = [w for i, w in enumerate(words) if _is_named(w, i == 0)]
    if any(_is_named(w, False) for w in _en_words(np)) and named:
        last = named[-1].rstrip("?.!,").removesuffix("'s")
        i = frame.rfind(last)
        # with its version: "And Debian 11?" after "When was Debian 12 released?"
        run = re.match(rf"{re.escape(last)}(?:\s+v?\d[\w.]*)*", frame[i:])
        end = i + (run.end() if run else len(last))
        return f"{frame[:i]}{np}{frame[end:]}?"
    copular = re.match(r"(?:what|which)(?:\s+(?:is|are|was|were)\b|'s)\s+(.+)$", frame, re.I)
    # "kbqa's default embedder" → "kbqa's default generator"; not past a preposition ("port by
    # default" must not become "port by socket").
    prep = re.search(rf"\b(?:{_PREPS}|of)\b", copular.group(1), re.I) if copular else None
    if copular and not prep and len(np.split()) == 1 and re.search(r"\w$", frame):
        return re.sub(r"\w[\w-]*$", np, frame) + "?"
    if re.match(r"(?:what|which)\b", frame, re.I):
        return f"What is {_possessive(referent, 'en')} {np}?"
    at = frame.lower().find(referent.lower())
    # a degree question ("How much faster is Python 3.11…"): the noun narrows its subject
    if re.match(r"how (?:much|many|long|often|big|large|fast|old)\b", frame, re.I) and at >= 0:
        end = at + len(referent)
        return f"{frame[:end]} {np}{frame[end:]}?"
    return None


def rule_rewrite(question: str, referent: str, context: str | None = None) -> str:
    """``question`` with ``referent`` put where its first pronoun was, or added to it.

    An English follow-up with no pronoun to replace ("What about on Windows?", "And the
    generator?") elides the previous question's predicate, not just its subject: ``context``
    (the previous question, itself resolved) is added instead of ``referent`` when given.

    >>> rule_rewrite("And how do I restore its custom-format output?", "pg_dump")
    "How do I restore pg_dump's custom-format output?"
    >>> rule_rewrite("那在 Mac 上怎么装？", "霞鹜文楷")
    '关于霞鹜文楷，在 Mac 上怎么装？'
    """
    q = question.strip()
    if detect_language(q) == "zh":
        if referent in q:
            return q
        body = _ZH_STRIP_START.sub("", q, count=1).strip() or q
        for pronoun, repl in (
            ("它们的", _possessive(referent, "zh")),
            ("它的", _possessive(referent, "zh")),
            ("它们", referent),
            ("它", referent),
            ("其", _possessive(referent, "zh")),
            ("书里", f"{referent}里"),
            ("书中", f"{referent}中"),
            ("文中", f"{referent}中"),
            ("文章里", f"{referent}里"),
        ):
            if pronoun in body:
                if re.search(r"[A-Za-z0-9]$", repl):  # "journald 最多能…", not "journald最多能…"
                    repl += " "
                return body.replace(pronoun, repl, 1).replace("  ", " ")
        spaced = f" {referent} " if re.search(r"[A-Za-z0-9]", referent) else referent
        about = f"关于{spaced.rstrip()}，{body}"
        # An ellipsis that continues the previous question ("那要写的话用什么？" after
        # "它能写 TOML 文件吗？", "要是命令根本找不到呢？") takes it along in brackets, as an English
        # "And …?" does; a follow-up that asks its own question with no such opening does not.
        continues = _ZH_ELLIPTIC_START.match(q) or (
            not _ZH_ASKS.search(body) and _ZH_NE_END.search(body)
        )
        if context and continues:
            return f"{about}（{re.sub(r'^关于[^，]*，', '', _flat(context))}）"
        return about
    if context:
        contrasted = _contrast(q, context) or _attribute(q, referent, context)
        if contrasted:
            return contrasted
    body = _EN_STRIP_START.sub("", q, count=1)
    body = body[:1].upper() + body[1:]
    if referent.lower() in body.lower():
        return body
    m = _EN_PRONOUN.search(body)
    if m and (m.group(1).lower() not in _EN_PERSONAL or _PERSON_NAME.fullmatch(referent)):
        word = m.group(1).lower()
        if word in ("its", "their", "his", "theirs", "hers"):
            repl = _possessive(referent, "en")
        elif word == "it's":
            repl = f"{referent} is"
        else:
            repl = referent
        return body[: m.start()] + repl + body[m.end() :]
    m = _EN_THE_GENERIC.search(body)
    if m:
        return body[: m.start()] + referent + body[m.end() :]
    m = re.fullmatch(r"((?:is|are|was|were) there (?:an? |any )?[^?,]+?)\s*\?", body, re.I)
    if m and not _EN_CLAUSE_WORD.search(m.group(1)[4:]):
        # "Is there a JIT?": there is, or is not, one in the referent.
        return f"{m.group(1)} in {referent}?"
    if context and referent.lower() in context.lower():
        return f"{body} ({_flat(context)})"
    return f"{body} ({referent})"


# "the second one", "the last one", 第二个, 最后一种: an item of the list the previous answer gave.
_EN_ORDINAL = re.compile(
    r"\bthe (first|second|third|fourth|fifth|1st|2nd|3rd|4th|5th|last)"
    r"(?: one| item| option| of them| on the list)?\b",
    re.I,
)
_ZH_ORDINAL = re.compile(
    r"第\s*([一二三四五1-5])\s*(?:个|种|款|项|条|位)|最后一(?:个|种|款|项|条|位)"
)
_ORDINALS = {
    **dict.fromkeys(("first", "1st", "一", "1"), 0),
    **dict.fromkeys(("second", "2nd", "二", "2"), 1),
    **dict.fromkeys(("third", "3rd", "三", "3"), 2),
    **dict.fromkeys(("fourth", "4th", "四", "4"), 3),
    **dict.fromkeys(("fifth", "5th", "五", "5"), 4),
}
_LIST_LINE = re.compile(r"^\s*(?:[-*•]|\d{1,2}[.)、]|[（(]\d{1,2}[)）])\s*(\S.*)$", re.M)
_MARKERS = re.compile(r"\s*\[\d+\]|\*\*|__|`")
# "The authors are A and B.", "支持 A、B 和 C。": the enumeration after the last cue of a sentence.
_ENUM_CUE = re.compile(
    r"(?:\b(?:are|is|include|includes|were|was)\b|[:：]|是|有|包括|包含|支持)\s*"
)
_ENUM_SPLIT = re.compile(r"\s*(?:,\s*(?:and|or)\s+|,|、|，|\band\b|\bor\b|以及|和|与|或)\s*")


def answer_items(answer: str) -> list[str]:
    """The items of the list an answer gives: its list lines, or else the enumeration in its
    first sentence. Citation markers and emphasis are dropped; an item stops at its first colon.

    >>> answer_items("The engines are:\\n1. **Tesseract**: Google's [1]\\n2. EasyOCR [2]")
    ['Tesseract', 'EasyOCR']
    >>> answer_items("The authors are Achim Zeileis and Gabor Grothendieck [1].")
    ['Achim Zeileis', 'Gabor Grothendieck']
    >>> answer_items("它支持 FAISS、Chroma 和 Milvus[1]。"), answer_items("It is 5432 [1].")
    (['FAISS', 'Chroma', 'Milvus'], [])
    """
    text = _MARKERS.sub("", answer)
    lines = [
        re.split(r"\s*[:：]\s", m.group(1))[0].strip(" .。") for m in _LIST_LINE.finditer(text)
    ]
    if len([x for x in lines if x]) >= 2:
        return [x for x in lines if x]
    first = re.split(r"(?<=[.!?])\s+|(?<=[。！？])", text.strip())[0].rstrip(" .。!！")
    cues = list(_ENUM_CUE.finditer(first))
    tail = first[cues[-1].end() :] if cues else first
    items = [x.strip(" .。") for x in _ENUM_SPLIT.split(tail) if x.strip(" .。")]
    # Names, not clauses: short items, joined by "and"/和/、 or three of them at least.
    joined = re.search(r"\band\b|\bor\b|和|与|或|以及|、", tail) or len(items) >= 3
    if len(items) < 2 or not joined or any(len(x.split()) > 4 or len(x) > 30 for x in items):
        return []
    return items


def resolve_ordinal(question: str, history: History) -> str | None:
    """``question`` with "the second one" (第二个) replaced by that item of the list in the last
    answer, or None when it names no such item.

    >>> h = [("user", "Who wrote zoo?"), ("assistant", "Achim Zeileis and Gabor Grothendieck [1].")]
    >>> resolve_ordinal("Which university is the first one at?", h)
    'Which university is Achim Zeileis at?'
    """
    answers = [text for role, text in history if role == "assistant"]
    items = answer_items(answers[-1]) if answers else []
    if not items:
        return None
    m = _EN_ORDINAL.search(question) or _ZH_ORDINAL.search(question)
    if not m:
        return None
    word = (m.group(1) or "").lower() if m.lastindex else ""
    index = -1 if not word or word == "last" else _ORDINALS.get(word)
    if index is None or index >= len(items):
        return None
    item = items[index]
    if detect_language(question) == "zh" and re.search(r"[A-Za-z0-9]$", item):
        item += " "
    return (question[: m.start()] + item + question[m.end() :]).replace("  ", " ")


def _previous_user_turns(history: History) -> list[str]:
    return [text for role, text in history if role == "user" and text.strip()]


def find_referent(history: History) -> str | None:
    """The subject of the most recent user question that stood on its own (or, failing that,
    of any earlier one)."""
    turns = _previous_user_turns(history)
    for i, text in reversed(list(enumerate(turns))):
        if i == 0 or not needs_history(text):
            found = subject(text)
            if found:
                return found
    for text in reversed(turns):
        found = subject(text)
        if found:
            return found
    return None


def _previous_resolved(history: History, depth: int = 4) -> str | None:
    """The last user question as it was understood (its own follow-ups resolved by rule)."""
    turns = _previous_user_turns(history)[-depth:]
    if not turns:
        return None
    last = turns[-1]
    earlier = [("user", t) for t in turns[:-1]]
    if not earlier or not needs_history(last):
        return last
    referent = find_referent(earlier)
    return rule_rewrite(last, referent, _previous_resolved(earlier, depth)) if referent else last


# --- the model's rewrite, validated -------------------------------------------------------------

REWRITE_SYSTEM = {
    "en": (
        "Rewrite the user's last question so it can be understood without the chat. Keep its "
        "own words and intent; only replace words like 'it' or 'that' with what they refer to. "
        "Do not answer it and do not repeat an earlier question. Reply with the question only."
    ),
    "zh": (
        "把用户最后一个问题改写成不看对话也能懂的问题。保留原问题的用词和意图，只把“它”“这个”等"
        "指代词换成所指的东西。不要回答，不要重复之前的问题。只输出改写后的问题。"
    ),
}
REWRITE_EXAMPLES = {
    "en": [
        (
            "Which OCR engines does LayoutParser support?",
            "And which datasets are in its model zoo?",
            "Which datasets are in LayoutParser's model zoo?",
        ),
        (
            "What port does PostgreSQL listen on by default?",
            "And the maximum number of connections?",
            "What is PostgreSQL's default maximum number of connections?",
        ),
    ],
    "zh": [
        (
            "霞鹜文楷是基于哪款字体做的？",
            "它可以免费商用吗？",
            "霞鹜文楷可以免费商用吗？",
        ),
        (
            "timeout 超时以后默认发什么信号？",
            "那退出码是多少？",
            "timeout 超时以后退出码是多少？",
        ),
    ],
}


def rewrite_messages(history: History, question: str, lang: str) -> list[BaseMessage]:
    """A short few-shot prompt: the earlier user questions and the follow-up, nothing else."""
    lang = lang if lang in REWRITE_SYSTEM else "en"
    label = ("Earlier question", "Follow-up", "Rewritten")
    if lang == "zh":
        label = ("之前的问题", "追问", "改写")
    shots = "\n\n".join(
        f"{label[0]}: {before}\n{label[1]}: {after}\n{label[2]}: {rewritten}"
        for before, after, rewritten in REWRITE_EXAMPLES[lang]
    )
    earlier = "\n".join(f"{label[0]}: {t}" for t in _previous_user_turns(history)[-2:])
    return [
        SystemMessage(REWRITE_SYSTEM[lang]),
        HumanMessage(f"{shots}\n\n{earlier}\n{label[1]}: {question}\n{label[2]}:"),
    ]


def _norm(text: str) -> str:
    return re.sub(r"[\W_]+", " ", text.lower()).strip()


def validate_rewrite(candidate: str, question: str, history: History) -> str | None:
    """Why ``candidate`` is not an acceptable rewrite of ``question``, or None when it is.

    It must keep the follow-up's content words (at least two thirds of them) and must not repeat
    an earlier question.

    >>> h = [("user", "Which OCR engines does LayoutParser support?")]
    >>> validate_rewrite("Which OCR engines does LayoutParser support? Which OCR engines",
    ...                  "And which datasets are in its model zoo?", h)
    'drops words of the follow-up: datasets, model, zoo'
    >>> validate_rewrite("Which datasets are in LayoutParser's model zoo?",
    ...                  "And which datasets are in its model zoo?", h) is None
    True
    """
    text = candidate.strip()
    if not text:
        return "empty"
    if len(text) > 3 * len(question) + 120:
        return "too long"
    own = content_words(question)
    have = set(content_words(text)) | set(_norm(text).split())
    missing = [w for w in dict.fromkeys(own) if w not in have]
    if own and len(missing) * 3 > len(own):
        return "drops words of the follow-up: " + ", ".join(missing)
    for earlier in _previous_user_turns(history):
        e = _norm(earlier)
        if e and (e == _norm(text) or e in _norm(text)) and _norm(question) not in _norm(text):
            return "repeats an earlier question"
    return None


def model_rewrite(llm: Any, history: History, question: str, lang: str) -> str:
    """The chat model's one-line rewrite (greedy, at most ``REWRITE_MAX_NEW_TOKENS`` tokens)."""
    reply = llm.invoke(
        rewrite_messages(history, question, lang),
        max_new_tokens=REWRITE_MAX_NEW_TOKENS,
        temperature=0.0,
    ).content
    text = str(reply).strip()
    return text.splitlines()[0].strip() if text else ""


def resolve(
    question: str,
    history: History,
    llm: Any = None,
    *,
    lang: str | None = None,
    mode: Mode = "auto",
) -> FollowUp:
    """How ``question`` is understood after ``history``; see the module docstring.

    ``llm``: a chat model, or a function returning one (called only when a rewrite needs it);
    ``mode``: ``"rules"`` never calls a model, ``"model"`` asks it for every follow-up,
    ``"auto"`` asks it only when no referent can be found by rule.
    """
    started = time.perf_counter()
    q = question.strip()

    def done(text: str, method: str, referent: str | None = None, calls: int = 0) -> FollowUp:
        seconds = round(time.perf_counter() - started, 3)
        return FollowUp(text, method != "none", method, referent, calls, seconds)

    if not history or not _previous_user_turns(history) or not needs_history(q):
        return done(q, "none")
    ordinal = resolve_ordinal(q, history)
    if ordinal is not None:
        # "Which university is the first one at?" after an answer listing the authors.
        if not needs_history(ordinal):
            return done(ordinal, "rules")
        q = ordinal
    referent = find_referent(history)
    turns = _previous_user_turns(history)
    np = np_fragment(turns[-1]) if referent and len(turns) > 1 else None
    pronoun = _EN_PRONOUN.search(q)
    if np and pronoun and not any(_is_named(w, False) for w in np.split()):
        # After "And the generator?", "it" is kbqa's generator, not kbqa.
        referent = f"{_possessive(referent, 'en')} {np}"
    previous = _previous_resolved(history)
    by_rule = rule_rewrite(q, referent, previous) if referent else None
    wants_model = mode == "model" or (mode == "auto" and by_rule is None)
    if by_rule is None and previous:
        # No subject to borrow ("And the receipts, by when?" after a question with none): the
        # previous question, as understood, goes along in brackets so its topic stays in reach.
        flat = previous.strip().rstrip("?？ ")
        by_rule = f"{q} （{flat}）" if detect_language(q) == "zh" else f"{q} ({flat})"
    if llm is None or not wants_model:
        return done(by_rule or q, "rules" if by_rule else "none", referent)
    model = llm() if callable(llm) and not hasattr(llm, "invoke") else llm
    candidate = model_rewrite(model, history, q, lang or detect_language(q))
    if validate_rewrite(candidate, q, history) is None:
        return done(candidate, "model", referent, 1)
    return done(by_rule or q, "rules-fallback" if by_rule else "none", referent, 1)
