"""Validate the realistic development set: questions.jsonl, conversations.jsonl and corpus/.

Run from anywhere (stdlib + pypdf + bs4; kbqa's own loaders for office files and scans):

    python bench/data/realistic/check.py

Office files (XLSX, ODS, PPTX, DOCX), images and PDF pages without a text layer have no
extraction of their own here: their text is what kbqa's loader (``ingest.loaders.load_file``)
returns, pages joined with a newline, so evidence in a scan is what kbqa's OCR reads (the two
scans take about half a minute). A PDF's evidence may also be taken from that loader text
(a ruled table becomes a Markdown table there, not in pypdf's text).

Checks: every gold_source exists under corpus/; every evidence string occurs in the extracted text
of its document (compared after normalisation: NFKC, whitespace runs collapsed, and whitespace next
to a CJK character dropped, because PDF and HTML extraction break lines inside Chinese sentences);
every answerable item has at least one answer variant inside its evidence (a warning, not an
error, when the variant is only elsewhere in the same document); each `answers_all` group has a
variant in the gold document or its `other_sources`; unanswerable items have no answers, no source, no evidence, and none of
their `absent_terms` occurs in their `topic_source` (the whole corpus when it is absent); ids are unique; the counts meet the minimums
of the brief. Exits 1 on any error.
"""

from __future__ import annotations

import json
import re
import sys
import unicodedata
from collections import Counter
from functools import cache
from pathlib import Path

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "corpus"
KINDS = {
    "paraphrase",
    "who",
    "howto",
    "definition",
    "number",
    "list",
    "multi-passage",
    "whole-document",
    "cross-lingual",
    "unanswerable",
    "table",
    "spreadsheet",
    "slides",
    "scan",
}
LOADER_FORMATS = {".xlsx", ".ods", ".pptx", ".docx", ".png", ".jpg", ".jpeg", ".tif", ".tiff"}
LANGS = {"en", "zh"}
CJK = r"\u2e80-\u2fff\u3000-\u303f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef"
_SPACE_NEAR_CJK = re.compile(rf"(?<=[{CJK}]) | (?=[{CJK}])")

MIN_QUESTIONS = 150
MIN_CONVERSATIONS = 30


def normalise(text: str) -> str:
    """Compare-form of a text: NFKC, single spaces, no spaces beside CJK characters."""
    text = unicodedata.normalize("NFKC", text)
    text = " ".join(text.split())
    return _SPACE_NEAR_CJK.sub("", text)


def fold(text: str) -> str:
    return normalise(text).casefold()


@cache
def extract(rel: str) -> str:
    """Plain text of a corpus file, the way the dev set's evidence was taken from it."""
    path = CORPUS / rel
    if path.suffix.lower() in LOADER_FORMATS:
        return loader_text(rel)
    if path.suffix == ".pdf":
        from pypdf import PdfReader

        text = "\n".join(page.extract_text() or "" for page in PdfReader(path).pages)
        return text if text.strip() else loader_text(rel)  # a scan: only OCR reads it
    if path.suffix in {".html", ".htm"}:
        from bs4 import BeautifulSoup

        return BeautifulSoup(path.read_bytes(), "html.parser").get_text()
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("gb18030")


@cache
def loader_text(rel: str) -> str:
    """The text kbqa's own loader gives a corpus file (OCR included), pages joined by newlines."""
    root = HERE.parents[2]
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    from ingest.loaders import load_file

    return "\n".join(doc.page_content for doc in load_file(CORPUS / rel, CORPUS))


def evidence_in(evidence: str, rel: str) -> bool:
    """Whether normalised evidence occurs in the document (for a PDF, also in the loader text)."""
    if normalise(evidence) in doc_norm(rel):
        return True
    return rel.endswith(".pdf") and normalise(evidence) in normalise(loader_text(rel))


@cache
def doc_norm(rel: str) -> str:
    return normalise(extract(rel))


@cache
def doc_fold(rel: str) -> str:
    return fold(extract(rel))


def contains_term(term: str, text: str) -> bool:
    """Whether folded text contains the folded term; a term that begins or ends with a Latin letter
    or digit must not be glued to another one there ("GPL" is not in "ggplot2")."""
    t = fold(term)
    left = r"(?<![0-9a-z])" if re.match(r"[0-9a-z]", t) else ""
    right = r"(?![0-9a-z])" if re.search(r"[0-9a-z]$", t) else ""
    return re.search(left + re.escape(t) + right, text) is not None


def corpus_files() -> list[str]:
    return sorted(
        str(p.relative_to(CORPUS))
        for p in CORPUS.rglob("*")
        if p.is_file() and p.name != ".gitkeep"
    )


class Report:
    def __init__(self) -> None:
        self.errors: list[str] = []
        self.warnings: list[str] = []

    def error(self, where: str, msg: str) -> None:
        self.errors.append(f"{where}: {msg}")

    def warn(self, where: str, msg: str) -> None:
        self.warnings.append(f"{where}: {msg}")


def check_item(item: dict, where: str, rep: Report, *, need_kind: bool) -> None:
    """One question, or one conversation turn."""
    for key in ("question", "answers", "gold_source", "evidence", "lang"):
        if key not in item:
            rep.error(where, f"missing field {key!r}")
            return
    if item["lang"] not in LANGS:
        rep.error(where, f"lang {item['lang']!r} not in {sorted(LANGS)}")
    if not isinstance(item["question"], str) or not item["question"].strip():
        rep.error(where, "empty question")
    answers = item["answers"]
    if not isinstance(answers, list) or not all(isinstance(a, str) and a for a in answers):
        rep.error(where, "answers must be a list of non-empty strings")
        return
    kind = item.get("kind")
    if need_kind and kind not in KINDS:
        rep.error(where, f"kind {kind!r} not in {sorted(KINDS)}")
    src, evidence = item["gold_source"], item["evidence"]
    if not answers:  # unanswerable
        if src is not None or evidence is not None:
            rep.error(where, "unanswerable item must have gold_source and evidence null")
        if need_kind and kind != "unanswerable":
            rep.error(where, "an item with no answers must have kind 'unanswerable'")
        terms = item.get("absent_terms") or []
        if not terms:
            rep.warn(where, "unanswerable item without absent_terms (absence not machine-checked)")
        topic = item.get("topic_source")
        if topic is not None and not (CORPUS / topic).is_file():
            rep.error(where, f"topic_source {topic!r} is not a file under corpus/")
            return
        scope = [topic] if topic else corpus_files()
        for term in terms:
            hits = [rel for rel in scope if contains_term(term, doc_fold(rel))]
            if hits:
                rep.error(where, f"absent term {term!r} occurs in {hits[:3]}")
        return
    if need_kind and kind == "unanswerable":
        rep.error(where, "kind 'unanswerable' but answers given")
    if not isinstance(src, str) or not (CORPUS / src).is_file():
        rep.error(where, f"gold_source {src!r} is not a file under corpus/")
        return
    doc_lang = src.split("/", 1)[0]
    if "doc_lang" in item and item["doc_lang"] != doc_lang:
        rep.error(where, f"doc_lang {item['doc_lang']!r} but the source lives under {doc_lang}/")
    if not isinstance(evidence, str) or not evidence.strip():
        rep.error(where, "answerable item without evidence")
        return
    if not evidence_in(evidence, src):
        rep.error(where, f"evidence not found in {src}: {evidence[:80]!r}")
        return
    ev = fold(evidence)
    if not any(fold(a) in ev for a in answers):
        if any(fold(a) in doc_fold(src) for a in answers):
            rep.warn(
                where, "no answer variant inside the evidence (found elsewhere in the document)"
            )
        else:
            rep.error(where, f"no answer variant occurs in {src}: {answers}")
    sources = [src, *(item.get("other_sources") or [])]
    for other in sources[1:]:
        if not (CORPUS / other).is_file():
            rep.error(where, f"other_sources entry {other!r} is not a file under corpus/")
            return
    for group in item.get("answers_all") or []:
        if not any(fold(a) in doc_fold(s) for a in group for s in sources):
            rep.error(where, f"answers_all group {group} has no variant in {sources}")


def load_jsonl(path: Path, rep: Report) -> list[dict]:
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as exc:
            rep.error(f"{path.name}:{n}", f"bad JSON: {exc}")
    return rows


def main() -> int:
    rep = Report()
    questions = load_jsonl(HERE / "questions.jsonl", rep)
    conversations = load_jsonl(HERE / "conversations.jsonl", rep)

    ids = Counter(q.get("id") for q in questions) + Counter(c.get("id") for c in conversations)
    for dup, n in ids.items():
        if n > 1:
            rep.error(str(dup), f"id used {n} times")

    for q in questions:
        where = f"question {q.get('id')}"
        check_item(q, where, rep, need_kind=True)
        if q.get("answers") and "doc_lang" not in q:
            rep.error(where, "missing doc_lang")
        crossing = bool(q.get("answers")) and q.get("lang") != q.get("doc_lang")
        if crossing != (q.get("kind") == "cross-lingual"):
            rep.error(where, "kind 'cross-lingual' exactly when lang differs from doc_lang")
        if q.get("kind") == "cross-lingual" and q.get("subkind") not in KINDS - {
            "cross-lingual",
            "unanswerable",
        }:
            rep.error(where, f"cross-lingual question needs a subkind, got {q.get('subkind')!r}")

    turns_total = 0
    conv_kinds: Counter[str] = Counter()
    for c in conversations:
        where = f"conversation {c.get('id')}"
        kind = c.get("kind")
        conv_kinds[kind] += 1
        if kind not in {"follow-up", "topic-switch"}:
            rep.error(where, f"kind {kind!r} must be 'follow-up' or 'topic-switch'")
        turns = c.get("turns") or []
        if not 2 <= len(turns) <= 4:
            rep.error(where, f"{len(turns)} turns; 2-4 expected")
        for i, turn in enumerate(turns, 1):
            turns_total += 1
            check_item(turn, f"{where} turn {i}", rep, need_kind=False)

    # --- counts
    n = len(questions)
    by_lang = Counter(q.get("lang") for q in questions)
    by_kind = Counter(q.get("kind") for q in questions)
    by_type = Counter(q.get("subkind") or q.get("kind") for q in questions)
    unanswerable = sum(1 for q in questions if not q.get("answers"))
    zh_over_en = sum(1 for q in questions if q.get("lang") == "zh" and q.get("doc_lang") == "en")
    en_over_zh = sum(1 for q in questions if q.get("lang") == "en" and q.get("doc_lang") == "zh")
    docs_used = {q["gold_source"] for q in questions if q.get("gold_source")}
    files = corpus_files()
    formats = Counter(Path(f).suffix for f in files)
    size = sum((CORPUS / f).stat().st_size for f in files)

    if n < MIN_QUESTIONS:
        rep.error("counts", f"{n} questions < {MIN_QUESTIONS}")
    if by_lang["zh"] * 3 < n:
        rep.error("counts", f"only {by_lang['zh']} of {n} questions in Chinese (< a third)")
    if unanswerable * 4 < n:
        rep.error("counts", f"only {unanswerable} of {n} unanswerable (< 25%)")
    if not zh_over_en or not en_over_zh:
        rep.error("counts", "cross-lingual questions missing in one direction")
    if len(conversations) < MIN_CONVERSATIONS:
        rep.error("counts", f"{len(conversations)} conversations < {MIN_CONVERSATIONS}")
    if not conv_kinds["follow-up"] or not conv_kinds["topic-switch"]:
        rep.error("counts", "need both follow-up and topic-switch conversations")
    if len(files) < 15:
        rep.error("counts", f"{len(files)} corpus files < 15")
    unused = sorted(
        set(files)
        - docs_used
        - {
            t["gold_source"]
            for c in conversations
            for t in c.get("turns", [])
            if t.get("gold_source")
        }
    )

    print(
        f"corpus: {len(files)} files, {size / 1e6:.2f} MB, formats {dict(sorted(formats.items()))}"
    )
    if unused:
        print(f"  files no question points at (distractors): {unused}")
    print(
        f"questions: {n}  by lang {dict(sorted(by_lang.items()))}  unanswerable {unanswerable} "
        f"({unanswerable / max(n, 1):.0%})  zh->en-doc {zh_over_en}  en->zh-doc {en_over_zh}"
    )
    print(f"  by kind {dict(sorted(by_kind.items()))}")
    print(f"  by type (subkind of cross-lingual ones) {dict(sorted(by_type.items()))}")
    print(f"  documents used as gold: {len(docs_used)}")
    conv_langs = Counter(t.get("lang") for c in conversations for t in c.get("turns", []))
    conv_unans = sum(1 for c in conversations for t in c.get("turns", []) if not t.get("answers"))
    print(
        f"conversations: {len(conversations)} {dict(sorted(conv_kinds.items()))}, {turns_total} turns "
        f"by lang {dict(sorted(conv_langs.items()))}, unanswerable turns {conv_unans}"
    )
    for w in rep.warnings:
        print(f"WARNING {w}")
    for e in rep.errors:
        print(f"ERROR {e}")
    print(f"{len(rep.errors)} errors, {len(rep.warnings)} warnings")
    return 1 if rep.errors else 0


if __name__ == "__main__":
    sys.exit(main())
