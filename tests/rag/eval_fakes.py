"""In-memory stand-ins for the eval tests: a knowledge base that needs no model, and a tiny
dev-set folder (English and Chinese documents, questions, conversations) written on demand."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rag.settings import Settings
from rag.types import Answer, Citation, FileResult, IngestReport, Passage

History = list[tuple[str, str]]
Responder = Callable[[str, History, list[Passage]], str]


def _words(text: str) -> set[str]:
    # English words, and each Han character, so Chinese questions find Chinese paragraphs.
    return set(re.findall(r"[a-z0-9]+", text.lower())) | set(re.findall(r"[\u4e00-\u9fff]", text))


@dataclass
class _Record:
    source: str


class FakeKb:
    """Paragraphs as chunks, ranked by shared words; answers come from ``respond``.

    ``respond(question, history, passages)`` returns the raw answer; "" or "I don't know"
    is a refusal. Every ``ask`` is recorded in ``asked`` as ``(question, history)``.
    """

    def __init__(self, settings: Settings, respond: Responder | None = None) -> None:
        self.settings = settings
        self.respond = respond or (lambda q, h, ps: ps[0].text if ps else "")
        self.chunks: list[tuple[str, str]] = []  # (source, text)
        self.asked: list[tuple[str, History]] = []

    @property
    def name(self) -> str:
        return self.settings.kb

    def ingest(self, path: str | Path, **_: Any) -> IngestReport:
        root = Path(path)
        report = IngestReport(kb=self.name, root=str(root))
        self.chunks = []
        for file in sorted(p for p in root.rglob("*") if p.is_file()):
            source = file.relative_to(root).as_posix()
            paragraphs = [p.strip() for p in file.read_text(encoding="utf-8").split("\n\n")]
            paragraphs = [p for p in paragraphs if p]
            self.chunks += [(source, p) for p in paragraphs]
            report.files.append(FileResult(source, "added", len(paragraphs)))
            report.chunks_written += len(paragraphs)
        return report

    def documents(self) -> list[_Record]:
        return [_Record(s) for s in dict.fromkeys(s for s, _ in self.chunks)]

    def remove(self, source: str) -> int:
        before = len(self.chunks)
        self.chunks = [c for c in self.chunks if c[0] != source]
        return before - len(self.chunks)

    def status(self) -> dict[str, Any]:
        return {"chunks": len(self.chunks)}

    def retrieve(self, query: str, *, top_k: int | None = None) -> list[Passage]:
        wanted = _words(query)
        scored = [(len(wanted & _words(t)) / (len(wanted) or 1), s, t) for s, t in self.chunks]
        ranked = sorted((x for x in scored if x[0] > 0), key=lambda x: -x[0])
        return [
            Passage(
                n=i,
                chunk_id=f"{s}#{t[:10]}",
                source=s,
                page=None,
                text=t,
                score=score,
                dense_score=score,
                metadata={"start_index": 1},
            )  # fmt: skip
            for i, (score, s, t) in enumerate(ranked[: top_k or self.settings.top_k], start=1)
        ]

    def evidence(self, question: str, passages: Sequence[Passage]) -> float:
        return max((p.score for p in passages), default=0.0)

    def ask(self, question: str, history: Any = None, **overrides: Any) -> Answer:
        history = list(history or [])
        self.asked.append((question, history))
        # A follow-up borrows the last question's words, as the real chain's rewrite does.
        last = next((t for r, t in reversed(history) if r == "user"), "")
        query = f"{question} {last}".strip() if history else question
        passages = self.retrieve(query)
        raw = self.respond(question, history, passages).strip()
        abstained = not raw or raw == "I don't know"
        citations = [] if abstained else [Citation(1, passages[0].source, None, "", 1.0)]
        return Answer(
            question=question,
            answer="The documents do not say." if abstained else f"{raw} [1]",
            citations=citations,
            passages=passages,
            abstained=abstained,
            timings={"retrieve": 0.01, "total": 0.02},
            raw_answer=raw,
            standalone_question=query if history else None,
        )


TRAVEL = (
    "Travel policy\n\n"
    "Receipts must be uploaded within 45 days of the trip's end.\n\n"
    "Economy class is required for flights under six hours."
)
LEAVE_ZH = "请假制度\n\n员工每年享有十五天带薪年假。\n\n病假需要提供医生证明。"
QUESTIONS = [
    {"id": "en1", "question": "How long do I have to hand in my travel receipts?",
     "answers": ["45 days"], "gold_source": "en/travel.md",
     "evidence": "Receipts must be uploaded within 45 days of the trip's end.",
     "lang": "en", "doc_lang": "en", "kind": "paraphrase"},
    {"id": "en2", "question": "Which class must I fly on flights under six hours?",
     "answers": ["Economy class"], "gold_source": "en/travel.md",
     "evidence": "Economy class is required for flights under six hours.",
     "lang": "en", "doc_lang": "en", "kind": "paraphrase"},
    {"id": "en3", "question": "What does the licence cost?", "answers": [], "gold_source": None,
     "evidence": None, "lang": "en", "doc_lang": None, "kind": "unanswerable"},
    {"id": "zh1", "question": "员工每年有几天带薪年假？", "answers": ["十五天"],
     "gold_source": "zh/leave.txt", "evidence": "员工每年享有十五天带薪年假",
     "lang": "zh", "doc_lang": "zh", "kind": "paraphrase"},
    {"id": "x1", "question": "报销单据要在多少天内上传？ receipts uploaded days", "answers": ["45"],
     "gold_source": "en/travel.md", "evidence": "within 45 days", "lang": "zh",
     "doc_lang": "en", "kind": "cross-lingual"},
]  # fmt: skip
CONVERSATIONS = [
    {"id": "c1", "kind": "follow-up", "turns": [
        {"question": "Which class must I fly on flights under six hours?",
         "answers": ["Economy"], "gold_source": "en/travel.md",
         "evidence": "Economy class is required for flights under six hours.", "lang": "en"},
        {"question": "And the receipts, by when?", "answers": ["45 days"],
         "gold_source": "en/travel.md",
         "evidence": "Receipts must be uploaded within 45 days", "lang": "en"},
    ]},
    {"id": "c2", "kind": "topic-switch", "turns": [
        {"question": "How many days must receipts be uploaded within?", "answers": ["45 days"],
         "gold_source": "en/travel.md", "evidence": "within 45 days", "lang": "en"},
        {"question": "病假需要什么？", "answers": ["医生证明"], "gold_source": "zh/leave.txt",
         "evidence": "病假需要提供医生证明", "lang": "zh"},
    ]},
]  # fmt: skip


def write_devset(root: Path, *, conversations: bool = True) -> Path:
    """A dev-set folder: corpus/en/travel.md, corpus/zh/leave.txt, questions and chats."""
    (root / "corpus" / "en").mkdir(parents=True)
    (root / "corpus" / "zh").mkdir()
    (root / "corpus" / "en" / "travel.md").write_text(TRAVEL, encoding="utf-8")
    (root / "corpus" / "zh" / "leave.txt").write_text(LEAVE_ZH, encoding="utf-8")
    lines = "\n".join(json.dumps(q, ensure_ascii=False) for q in QUESTIONS)
    (root / "questions.jsonl").write_text(lines + "\n", encoding="utf-8")
    if conversations:
        lines = "\n".join(json.dumps(c, ensure_ascii=False) for c in CONVERSATIONS)
        (root / "conversations.jsonl").write_text(lines + "\n", encoding="utf-8")
    return root


# --- the SQuAD-style fixtures: three small articles --------------------------------------------

# With chunk_size 40 every paragraph becomes its own chunk.
ARTICLES = {
    "Andes": [
        "The Andes are the longest continental mountain range in the world, about 7,000 km long.",
        "The Andes run through seven countries: Venezuela, Colombia, Ecuador, Peru, Bolivia,"
        " Chile and Argentina.",
    ],
    "Sourdough_(bread)": [
        "Sourdough bread rises because wild yeast and lactic acid bacteria ferment the dough.",
        "A sourdough starter must be fed with flour and water every day to stay active.",
    ],
    "Jupiter": [
        "Jupiter is the largest planet in the Solar System, more than twice as massive as the"
        " others combined.",
        "Jupiter has a faint ring system and at least 95 known moons, the largest being Ganymede.",
    ],
}
GOLD = ARTICLES["Andes"][1]


def passage(n: int, text: str, source: str, dense: float = 0.6, start: int = 10) -> Passage:
    return Passage(n=n, chunk_id=f"c{n}-{source}", source=source, page=None, text=text,
                   score=1.0 / n, dense_score=dense, metadata={"start_index": start})  # fmt: skip


def question(qid: str, answer: str, source: str = "Andes.txt", passage_text: str = GOLD):
    from rag.eval.questions import EvalQuestion

    return EvalQuestion(qid, f"Question {qid}?", [answer], source, passage_text, "Andes")


def make_answer(
    raw: str, passages: list[Passage], abstained: bool = False, cite: tuple[int, ...] = ()
) -> Answer:
    citations = [Citation(n, passages[n - 1].source, None, "", 1.0) for n in cite]
    timings = {"retrieve": 0.01, "total": 0.5} | (
        {} if abstained and not raw else {"first_token": 0.2}
    )
    answer_text = "The documents do not contain the answer." if abstained else raw
    return Answer(question="?", answer=answer_text, citations=citations, passages=passages,
                  abstained=abstained, timings=timings, raw_answer=raw)  # fmt: skip
