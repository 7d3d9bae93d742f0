"""Typed results shared by the CLI, the app and notebooks. All JSON-serialisable via ``to_dict``."""

from __future__ import annotations

import html
import json
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

# Chunking identity: recorded on every chunk and on the collection, so a store built with other
# splitting is detected. Here, not in ingest, because answering checks it too.
SPLITTER_VERSION = "v3"  # bump when splitting or loading changes what chunks come out
# v2: cleaned PDF text, tables as Markdown, XLSX/ODS/PPTX, OCR of scans (issue 15)
# v3: a context line (title, heading path, page) embedded with each chunk, HTML and PDF cut at
#     their headings, one document card per file (issue 13)


def splitter_id(chunk_size: int, chunk_overlap: int) -> str:
    """The id a collection records for the splitting it was built with.

    >>> splitter_id(200, 30)
    'recursive-v3-200-30'
    """
    return f"recursive-{SPLITTER_VERSION}-{chunk_size}-{chunk_overlap}"


@dataclass
class FileRecord:
    """One ingested file as the registry remembers it."""

    source: str
    file_sha256: str
    size: int
    chunks: int
    pages: int
    title: str
    lang: str
    ingested_at: float
    root: str = ""


@dataclass
class Passage:
    """One retrieved chunk, with where it came from and how it ranked."""

    n: int
    chunk_id: str
    source: str
    page: int | None
    text: str
    score: float  # fused score used for ranking
    dense_score: float | None = None  # cosine similarity, when dense search found it
    keyword_rank: int | None = None  # 1-based rank in keyword search, when it found it
    rerank_score: float | None = None  # cross-encoder score, when a reranker is configured
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def location(self) -> str:
        return place(self.source, self.page, self.metadata)


SLIDE_SUFFIXES = (".pptx",)  # their loader numbers slides as pages


def place(source: str, page: int | None, metadata: dict[str, Any] | None = None) -> str:
    """Where a passage lies, as a reader names it: page, slide or sheet, and whether OCR read it.

    >>> place("a.pdf", 3), place("notes.md", None)
    ('a.pdf, p. 3', 'notes.md')
    >>> place("deck.pptx", 2), place("book.xlsx", 2, {"sheet": "Totals"})
    ('deck.pptx, slide 2', 'book.xlsx, sheet Totals')
    >>> place("scan.pdf", 1, {"ocr": True})
    'scan.pdf, p. 1 (OCR)'
    """
    metadata = metadata or {}
    if metadata.get("sheet"):
        where = f"{source}, sheet {metadata['sheet']}"
    elif page and source.lower().endswith(SLIDE_SUFFIXES):
        where = f"{source}, slide {page}"
    else:
        where = f"{source}, p. {page}" if page else source
    return f"{where} (OCR)" if metadata.get("ocr") else where


@dataclass
class Citation:
    """A marker ``[n]`` in the answer and the passage that supports it.

    ``location`` names the place for a reader (``place``): page, slide or sheet, and "(OCR)".
    """

    n: int
    source: str
    page: int | None
    snippet: str
    score: float
    location: str = ""
    passage: int | None = None  # the cited Passage.n (``n`` counts markers in order of use)

    def __post_init__(self) -> None:
        if not self.location:
            self.location = place(self.source, self.page)


@dataclass
class Answer:
    """What ``KnowledgeBase.ask`` returns: text with checked ``[n]`` markers, sources, timings."""

    question: str
    answer: str
    citations: list[Citation]
    passages: list[Passage]
    abstained: bool
    evidence: float = 0.0  # how well the passages cover the question; abstain below threshold
    unsupported_sentences: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    raw_answer: str = ""
    language: Literal["en", "zh"] = "en"
    standalone_question: str | None = None
    # The refusal signals and their combination (rag.answerability): evidence, dont_know, ...
    answerability: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, **kwargs)

    def sources_markdown(self) -> str:
        rows = ["| # | source | page | snippet | score |", "|---|---|---|---|---|"]
        for c in self.citations:
            snippet = c.snippet.replace("|", "\\|").replace("\n", " ")
            rows.append(f"| {c.n} | {c.source} | {c.page or ''} | {snippet} | {c.score:.2f} |")
        return "\n".join(rows)

    def _repr_markdown_(self) -> str:
        head = "*(abstained)* " if self.abstained else ""
        return f"{head}{self.answer}\n\n{self.sources_markdown() if self.citations else ''}"

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td>[{c.n}]</td><td>{html.escape(c.source)}</td><td>{c.page or ''}</td>"
            f"<td>{html.escape(c.snippet)}</td><td>{c.score:.2f}</td></tr>"
            for c in self.citations
        )
        table = (
            "<table><tr><th>#</th><th>source</th><th>page</th><th>snippet</th><th>score</th></tr>"
            f"{rows}</table>"
            if rows
            else ""
        )
        note = "<p><em>The documents do not hold the answer.</em></p>" if self.abstained else ""
        return f"<div><p>{html.escape(self.answer)}</p>{note}{table}</div>"


FileStatus = Literal["added", "updated", "unchanged", "removed", "failed", "skipped"]


@dataclass
class FileResult:
    """What ingest did with one file."""

    source: str
    status: FileStatus
    chunks: int = 0
    reason: str = ""


@dataclass
class IngestReport:
    """The outcome of one ingest run: per-file results and totals."""

    kb: str
    root: str
    files: list[FileResult] = field(default_factory=list)
    chunks_written: int = 0
    chunks_deleted: int = 0
    seconds: float = 0.0

    def _count(self, status: str) -> int:
        return sum(1 for f in self.files if f.status == status)

    @property
    def files_added(self) -> int:
        return self._count("added")

    @property
    def files_updated(self) -> int:
        return self._count("updated")

    @property
    def files_unchanged(self) -> int:
        return self._count("unchanged")

    @property
    def files_removed(self) -> int:
        return self._count("removed")

    @property
    def files_failed(self) -> int:
        return self._count("failed")

    @property
    def files_skipped(self) -> int:
        return self._count("skipped")

    @property
    def ok(self) -> bool:
        return self.files_failed == 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "kb": self.kb,
            "root": self.root,
            "files": [asdict(f) for f in self.files],
            "files_added": self.files_added,
            "files_updated": self.files_updated,
            "files_unchanged": self.files_unchanged,
            "files_removed": self.files_removed,
            "files_failed": self.files_failed,
            "files_skipped": self.files_skipped,
            "chunks_written": self.chunks_written,
            "chunks_deleted": self.chunks_deleted,
            "seconds": round(self.seconds, 3),
        }
