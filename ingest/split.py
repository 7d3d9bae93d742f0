"""Token-aware splitting that respects paragraphs and sentences in English and Chinese.

Sizes are counted with the embedder's own tokenizer, so no chunk is silently truncated when it
is embedded. Markdown sections carry their header path ("Install > Linux") into every chunk.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from typing import Any

from langchain_core.documents import Document
from langchain_text_splitters import RecursiveCharacterTextSplitter
from tokenizers import Tokenizer

from rag.errors import ConfigError
from rag.types import SPLITTER_VERSION, splitter_id  # noqa: F401 - SPLITTER_VERSION re-exported

# Paragraphs, lines, then sentence ends (Chinese full-width first), then clauses, then words.
SEPARATORS = [
    "\n\n",
    "\n",
    "。",
    "！",
    "？",
    "；",
    "…",
    ". ",
    "! ",
    "? ",
    "; ",
    "，",
    "、",
    ", ",
    " ",
    "",
]

_HEADER = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")
MAX_BREADCRUMB_CHARS = 120


@dataclass
class Section:
    offset: int
    text: str
    breadcrumb: str


def markdown_sections(text: str) -> list[Section]:
    """Cut Markdown at headers (not inside code fences), keeping each section's offset.

    LangChain's MarkdownHeaderTextSplitter drops character offsets, which ``start_index`` needs.

    >>> [(s.breadcrumb, s.text.strip()) for s in markdown_sections("# A\\nx\\n## B\\ny")]
    [('A', '# A\\nx'), ('A > B', '## B\\ny')]
    """
    sections: list[Section] = []
    trail: list[tuple[int, str]] = []
    start, pos, in_fence = 0, 0, False
    for line in text.splitlines(keepends=True):
        if _FENCE.match(line):
            in_fence = not in_fence
        match = None if in_fence else _HEADER.match(line.rstrip("\n"))
        if match:
            if text[start:pos].strip():
                sections.append(Section(start, text[start:pos], " > ".join(t for _, t in trail)))
            level = len(match.group(1))
            trail = [(lvl, t) for lvl, t in trail if lvl < level] + [(level, match.group(2))]
            start = pos
        pos += len(line)
    if text[start:].strip():
        sections.append(Section(start, text[start:], " > ".join(t for _, t in trail)))
    return sections


def _counting_tokenizer(tokenizer: Any) -> Any:
    """The Rust ``tokenizers.Tokenizer`` inside a transformers fast tokenizer, else ``tokenizer``.

    Counting with it directly is faster, gives the same ids, and pickles without importing
    transformers (ingest runs the splitter in a child process, see ``ingest.worker``). It is a
    copy with truncation and padding off: transformers leaves the embedder's last truncation
    setting on the shared one, which would cap every count at the model's window.
    """
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if not isinstance(backend, Tokenizer):
        return tokenizer
    counting = Tokenizer.from_str(backend.to_str())
    counting.no_truncation()
    counting.no_padding()
    return counting


# WordPiece reads any word over 100 characters as one [UNK] token, so a 10 MB run of letters would
# count as a single token; a chunk is also held to this many characters per token of its budget.
MAX_CHARS_PER_TOKEN = 10


class _RunCuttingSplitter(RecursiveCharacterTextSplitter):
    """LangChain's recursive splitter, except for text with no separator left in it.

    LangChain splits such text into single characters and measures each one, a tokenizer call per
    character: hours for a 10 MB line with no spaces. Here it is cut into windows instead, each
    measured once, so the cost grows linearly with the length of the run.
    """

    def create_documents(
        self, texts: list[str], metadatas: list[dict[Any, Any]] | None = None
    ) -> list[Document]:
        """LangChain's, but each chunk's ``start_index`` is looked up from just after the last one.

        LangChain looks from the previous chunk's end minus ``chunk_overlap`` taken as characters;
        counted in tokens, the overlap is longer, so every other chunk got ``-1`` after a search
        through the whole rest of the text (quadratic on big files).
        """
        documents = []
        for i, text in enumerate(texts):
            start = -1
            for chunk in self.split_text(text):
                start = text.find(chunk, start + 1)
                metadata = copy.deepcopy(metadatas[i]) if metadatas else {}
                metadata["start_index"] = start
                documents.append(Document(page_content=chunk, metadata=metadata))
        return documents

    def _split_text(self, text: str, separators: list[str]) -> list[str]:
        if any(separator and separator in text for separator in separators):
            return super()._split_text(text, separators)
        return self._cut_run(text)

    def _cut_run(self, text: str) -> list[str]:
        """Windows of at most ``chunk_size`` tokens, overlapping by ``chunk_overlap`` characters
        at most (``create_documents`` looks each chunk up from there to set ``start_index``).

        The width carries over from window to window, so steady text costs one count per window.
        """
        chunks: list[str] = []
        budget, widest = self._chunk_size, self._chunk_size * MAX_CHARS_PER_TOKEN
        width, start = widest, 0
        while start < len(text):
            size = self._length_function(text[start : start + width])
            while size > budget and width > 1:
                width = max(1, min(width - 1, width * budget // size))
                size = self._length_function(text[start : start + width])
            window = text[start : start + width].strip()
            if window:
                chunks.append(window)
            if start + width >= len(text):
                break
            overlap = min(self._chunk_overlap, width * self._chunk_overlap // budget)
            start += max(width - overlap, 1)
            if size < budget * 9 // 10:  # room to spare: widen in proportion for the next one
                width = min(widest, width * budget // max(size, 1))
        return chunks


class TokenSplitter:
    """Split loaded Documents into chunks of at most ``chunk_size`` embedder tokens.

    >>> from transformers import AutoTokenizer  # doctest: +SKIP
    """

    def __init__(
        self, tokenizer: Any, chunk_size: int, chunk_overlap: int, max_tokens: int | None = None
    ) -> None:
        if chunk_overlap >= chunk_size:
            raise ConfigError(
                f"chunk_overlap ({chunk_overlap}) must be below chunk_size ({chunk_size})"
            )
        if max_tokens is not None and chunk_size + 2 > max_tokens:
            raise ConfigError(
                f"chunk_size {chunk_size} exceeds what the embedder reads ({max_tokens} tokens"
                " with [CLS]/[SEP]); lower KBQA_CHUNK_SIZE"
            )
        self.tokenizer = _counting_tokenizer(tokenizer)
        self.chunk_size = chunk_size
        self.id = splitter_id(chunk_size, chunk_overlap)
        self._lengths: dict[str, int] = {}
        self._splitter = _RunCuttingSplitter(
            # Our own length function: tokenizer.tokenize() warns about every text longer than
            # the model's window, which whole documents always are before they are split.
            length_function=self._length,
            chunk_size=chunk_size,
            chunk_overlap=chunk_overlap,
            separators=SEPARATORS,
            keep_separator="end",
            add_start_index=True,
            strip_whitespace=True,
        )

    def count_tokens(self, text: str) -> int:
        counter = getattr(self.tokenizer, "count_tokens", None)
        if counter is not None:  # rag.embedders' models count with their own engines
            return int(counter(text))
        if isinstance(self.tokenizer, Tokenizer):
            return len(self.tokenizer.encode(text, add_special_tokens=False).ids)
        return len(self.tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"])

    def _length(self, text: str) -> int:
        """Tokens, but never under ``len(text) / MAX_CHARS_PER_TOKEN`` (see that constant)."""
        # LangChain's splitter measures each piece when it splits and again when it merges:
        # remembering the counts for the document at hand cuts the tokenizer calls to a third.
        known = self._lengths.get(text)
        if known is None:
            known = max(self.count_tokens(text), -(-len(text) // MAX_CHARS_PER_TOKEN))
            self._lengths[text] = known
        return known

    def split(self, doc: Document) -> list[Document]:
        """Chunks of one loaded Document, with ``start_index`` into its text."""
        self._lengths.clear()
        try:
            if doc.metadata.get("mime") == "text/markdown":
                return self._split_markdown(doc)
            return self._splitter.split_documents([doc])
        finally:
            self._lengths.clear()

    def _split_markdown(self, doc: Document) -> list[Document]:
        chunks: list[Document] = []
        for section in markdown_sections(doc.page_content):
            crumb = section.breadcrumb[:MAX_BREADCRUMB_CHARS]
            for piece in self._splitter.split_documents(
                [Document(page_content=section.text, metadata=dict(doc.metadata))]
            ):
                piece.metadata["start_index"] += section.offset
                first_line = piece.page_content.lstrip().split("\n", 1)[0]
                if crumb and not _HEADER.match(first_line):
                    piece.page_content = f"{crumb}\n{piece.page_content}"
                chunks.append(piece)
        return chunks
