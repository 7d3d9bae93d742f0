"""The evaluation data model: questions, conversations and the dataset that holds them.

>>> q = EvalQuestion("q1", "Who wrote it?", ["Ada"], gold_source="paper.pdf", lang="en")
>>> q.answerable, EvalQuestion("q2", "What does it cost?", []).answerable
(True, False)
>>> EvalDataset("dev", questions=[q]).conversations
[]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["EvalConversation", "EvalDataset", "EvalQuestion"]


@dataclass
class EvalQuestion:
    """One question with its gold answers and, where known, where the answer lives.

    An empty ``answers`` list means the documents do not answer it: it must be refused.
    """

    id: str
    question: str
    answers: list[str]
    gold_source: str | None = None  # file name (or corpus-relative path) of the gold document
    gold_passage: str | None = None  # the paragraph the answer was taken from
    article: str | None = None  # key into ``EvalDataset.articles``
    evidence: str | None = None  # an exact substring of the gold document that states the answer
    lang: str | None = None  # the question's language, "en" or "zh"
    doc_lang: str | None = None  # the gold document's language
    kind: str | None = None  # e.g. paraphrase, who, howto, list, cross-lingual, unanswerable
    answers_all: list[list[str]] | None = None  # list questions: each group must be in the answer
    topic_source: str | None = None  # unanswerable: the document the question is about

    @property
    def answerable(self) -> bool:
        return bool(self.answers)


@dataclass
class EvalConversation:
    """A short chat: each turn is asked with the turns before it as history, and scored."""

    id: str
    kind: str  # "follow-up" or "topic-switch"
    turns: list[EvalQuestion]


@dataclass
class EvalDataset:
    """Questions plus what they are asked of.

    ``articles`` (title -> paragraphs, in order) are written out as one file each; a
    ``corpus_dir`` is ingested as it is; with neither, questions go to an existing knowledge base.
    """

    name: str
    articles: dict[str, list[str]] = field(default_factory=dict)
    questions: list[EvalQuestion] = field(default_factory=list)
    corpus_dir: Path | None = None
    conversations: list[EvalConversation] = field(default_factory=list)
