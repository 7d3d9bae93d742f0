"""Build stitched.jsonl: labelled sentences for the citation check (rag.citations).

Run from the repository root: ``python tests/data/citation_support/make.py``. Deterministic.

Passages are ~700-character windows of real documents in bench/data/realistic/corpus around
the evidence of English answerable questions (HTML and Markdown files, tags stripped).
- ``supported``: the passage sentence holding the evidence, copied (``copy``), or cut to the
  clause that holds the evidence (``clause``); plus hand-written paraphrases in extra.jsonl.
- ``stitched``: the first half of one passage sentence glued to the second half of another
  sentence of the same passage (``cross``), so every content word occurs in the passage but the
  passage does not state the sentence; plus hand-written ones in extra.jsonl (``graft``: a
  question's topic put in front of a passage's predicate, as issue 13's
  "The company's parental leave policy is required for flights under six hours").
"""

from __future__ import annotations

import html
import json
import random
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
CORPUS = ROOT / "bench/data/realistic/corpus"
HERE = Path(__file__).resolve().parent
WORD = re.compile(r"[^\W_]+")
PROSE = re.compile(r"^[A-Z][a-z][^<>|$=/\\]*[a-z][.]$")  # a sentence of words, not code


def text_of(path: Path) -> str:
    raw = path.read_text(encoding="utf-8", errors="replace")
    if path.suffix == ".html":
        raw = raw.replace("\n", " ")
        raw = re.sub(r"(?is)<(script|style)\b.*?</\1>", " ", raw)
        raw = re.sub(r"(?i)<(br|/p|/li|/h\d|/div|/tr|/pre|/dt|/dd)\b[^>]*>", "\n", raw)
        raw = html.unescape(re.sub(r"<[^>]+>", " ", raw))
    raw = re.sub(r"[ \t\r\f\v]+", " ", raw)
    return re.sub(r"\n\s*\n+", "\n", raw)


def sentences(text: str) -> list[str]:
    out = []
    for line in text.split("\n"):
        out += [s.strip() for s in re.split(r"(?<=[.!?])\s+", line) if s.strip()]
    return out


def main() -> None:
    rng = random.Random(13)
    rows = [json.loads(line) for line in (ROOT / "bench/data/realistic/questions.jsonl").open()]
    picked = [
        r
        for r in rows
        if r.get("lang") == "en"
        and r.get("doc_lang") == "en"
        and r.get("evidence")
        and str(r.get("gold_source", "")).endswith((".html", ".md"))
    ]
    supported, stitched, seen = [], [], set()
    for r in picked:
        text = text_of(CORPUS / r["gold_source"])
        at = text.find(r["evidence"])
        if at < 0:
            continue
        start = max(0, text.rfind("\n", 0, max(0, at - 300)) + 1)
        passage = text[start : start + 700].strip()
        sents = [s for s in sentences(passage) if len(WORD.findall(s)) >= 6]
        prose = [s for s in sents if PROSE.match(s) and len(WORD.findall(s)) >= 8]
        ev = next((s for s in sents if r["evidence"] in s), None)
        if ev is None or ev in seen:
            continue
        seen.add(ev)
        supported.append({"id": r["id"], "label": "supported", "how": "copy", "sentence": ev,
                          "passage": passage})
        parts = [p.strip() for p in re.split(r"[,;:()]", ev) if r["evidence"] in p]
        if parts and parts[0] != ev and len(WORD.findall(parts[0])) >= 4:
            clause = parts[0].rstrip(".") + "."
            supported.append({"id": r["id"], "label": "supported", "how": "clause",
                              "sentence": clause[0].upper() + clause[1:], "passage": passage})
        else:
            said = "According to the documentation, " + ev[0].lower() + ev[1:]
            supported.append({"id": r["id"], "label": "supported", "how": "restated",
                              "sentence": said, "passage": passage})
        pairs = [(a, b) for a in prose for b in prose if a != b]
        rng.shuffle(pairs)
        for a_text, b_text in pairs[:1]:
            a, b = a_text.split(), b_text.split()
            first = " ".join(a[: max(3, len(a) // 2)])
            second = " ".join(b[len(b) // 2 :])
            flat = " ".join(WORD.findall(passage.lower()))
            if " ".join(WORD.findall(f"{first} {second}".lower())) in flat:
                continue  # the halves happen to make a sentence the passage states
            stitched.append({"id": r["id"], "label": "stitched", "how": "cross",
                             "sentence": f"{first} {second}", "passage": passage})
    by_id = {row["id"]: row["passage"] for row in supported}
    extra = [json.loads(line) for line in (HERE / "extra.jsonl").open() if line.strip()]
    for row in extra:  # hand-written sentences against the passage of the question they name
        row["passage"] = by_id[row["id"]]
    out = supported[:32] + stitched[:32] + extra
    with (HERE / "stitched.jsonl").open("w", encoding="utf-8") as fh:
        for row in out:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    counts = {k: sum(1 for x in out if x["label"] == k) for k in ("supported", "stitched")}
    print(counts)


if __name__ == "__main__":
    main()
