"""Token-aware splitting that respects paragraphs and sentences in English and Chinese.

Sizes are counted with the embedder's own tokenizer, so no chunk is silently truncated when it
is embedded. Documents are cut at their section headings (Markdown and DOCX ``#`` lines, the
``headings`` HTML and PDF loaders record), and every chunk gets a ``context`` line in its
metadata: document title, heading path and page ("zoo FAQ › 2 Time zones › p. 4"), and a
``section``: the heading path ("2 Time zones"). The store embeds ``context`` + text
(``rag.store.embedded_text``) and keyword-indexes ``section`` + text (``rag.store.keyword_text``)
while the chunk's text, the one shown and cited, stays the document's own. The context is held
to the tokens the embedder's window leaves beside a full chunk, so neither is truncated.

Each file also gets one document card (``ingest.cards``), built by ``TokenSplitter.card``.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from langchain_core.documents import Document
from langchain_text_splitters import RecursiveCharacterTextSplitter
from tokenizers import Tokenizer

from ingest.cards import document_card
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
MAX_HEADING_CHARS = 120  # one heading in a context line (a hostile file could make it huge)
# Formats whose text marks headings as Markdown "#" lines (the DOCX loader writes them so).
MARKDOWN_HEADED_MIMES = frozenset(
    {"text/markdown", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"}
)
CONTEXT_SEPARATOR = " › "
# Tokens at most for a chunk's context line. Measured on the realistic corpus (MiniLM tokens):
# titles and heading paths take 8-40; the default 200-token chunks leave 53 in MiniLM's 256.
MAX_CONTEXT_TOKENS = 48
# Metadata that describes a whole file or its structure: the card uses it, no chunk keeps it.
FILE_ONLY_KEYS = (
    "headings",
    "author",
    "subject",
    "keywords",
    "description",
    "created",
    "modified",
)


@dataclass
class Section:
    offset: int
    text: str
    path: tuple[str, ...]  # headings from the outermost down

    @property
    def breadcrumb(self) -> str:
        return " > ".join(self.path)


def markdown_sections(text: str) -> list[Section]:
    """Cut Markdown at headers (not inside code fences), keeping each section's offset.

    LangChain's MarkdownHeaderTextSplitter drops character offsets, which ``start_index`` needs.

    >>> [(s.breadcrumb, s.text.strip()) for s in markdown_sections("# A\\nx\\n## B\\ny")]
    [('A', '# A\\nx'), ('A > B', '## B\\ny')]
    """
    headings: list[tuple[int, int, str]] = []
    pos, in_fence = 0, False
    for line in text.splitlines(keepends=True):
        if _FENCE.match(line):
            in_fence = not in_fence
        match = None if in_fence else _HEADER.match(line.rstrip("\n"))
        if match:
            headings.append((pos, len(match.group(1)), match.group(2)))
        pos += len(line)
    return heading_sections(text, headings)


def heading_sections(text: str, headings: list[tuple[int, int, str]]) -> list[Section]:
    """Cut ``text`` at each heading's offset; each section knows the path of headings above it.

    >>> [(s.path, s.text) for s in heading_sections("Ab Cd", [(0, 1, "A"), (3, 2, "C")])]
    [(('A',), 'Ab '), (('A', 'C'), 'Cd')]
    """
    sections: list[Section] = []
    trail: list[tuple[int, str]] = []
    start = 0
    for offset, level, heading in sorted(headings, key=lambda h: h[0]):
        offset = min(max(offset, 0), len(text))
        if offset > start:
            if text[start:offset].strip():
                sections.append(Section(start, text[start:offset], tuple(t for _, t in trail)))
            start = offset
        heading = " ".join(heading.split())[:MAX_HEADING_CHARS]
        trail = [(lvl, t) for lvl, t in trail if lvl < level] + [(level, heading)]
    if text[start:].strip():
        sections.append(Section(start, text[start:], tuple(t for _, t in trail)))
    return sections


def document_sections(doc: Document) -> list[Section]:
    """The sections of one loaded Document: by ``#`` lines, by recorded headings, or one."""
    if doc.metadata.get("mime") in MARKDOWN_HEADED_MIMES:
        return markdown_sections(doc.page_content)
    return heading_sections(doc.page_content, list(doc.metadata.get("headings") or []))


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


MAX_CARD_HEADINGS = 30


def top_headings(docs: list[Document]) -> list[str]:
    """The file's headings two levels deep at most, each once, in order (the card's contents)."""
    seen: dict[str, None] = {}
    for doc in docs:
        for section in document_sections(doc):
            for heading in section.path[:2]:
                seen.setdefault(heading, None)
                if len(seen) >= MAX_CARD_HEADINGS:
                    return list(seen)
    return list(seen)


def _below_title(path: tuple[str, ...], title: str) -> tuple[str, ...]:
    """``path`` without a first heading that the title already says (Markdown's ``# Title``)."""
    if path and title and path[0].casefold() in title.casefold():
        return path[1:]
    return path


def _real_title(metadata: dict[str, Any]) -> str:
    """The title the file gives itself; "" when ``load_file`` fell back to the file's stem.

    A stem adds little a chunk does not say, and leaving it out keeps a renamed file's chunks
    embedded as they were (the embedding cache then serves them; only the card is new).
    """
    title = str(metadata.get("title") or "")
    stem = PurePosixPath(str(metadata.get("source") or "")).stem
    return "" if title == stem else title


class TokenSplitter:
    """Split loaded Documents into chunks of at most ``chunk_size`` embedder tokens.

    Each chunk's metadata gets ``context`` (title, heading path, page; at most ``context_tokens``
    tokens, what the window of ``max_tokens`` leaves beside a full chunk) and ``section`` (the
    heading path below the title) when it lies under a heading; the file-wide keys
    (``FILE_ONLY_KEYS``) go.

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
        # [CLS], [SEP] and the newline between context and text (a token for some tokenizers).
        room = MAX_CONTEXT_TOKENS if max_tokens is None else max_tokens - chunk_size - 3
        self.context_tokens = max(0, min(MAX_CONTEXT_TOKENS, room))
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
        """Chunks of one loaded Document, with ``start_index`` into its text and ``context``."""
        self._lengths.clear()
        try:
            metadata = {k: v for k, v in doc.metadata.items() if k not in FILE_ONLY_KEYS}
            chunks: list[Document] = []
            title = _real_title(metadata)
            for section in document_sections(doc):
                path = _below_title(section.path, title)
                extra = {"section": " > ".join(path)} if path else {}
                context = self.context(title, path, metadata)
                if context:
                    extra["context"] = context
                for piece in self._splitter.split_documents(
                    [Document(page_content=section.text, metadata={**metadata, **extra})]
                ):
                    piece.metadata["start_index"] += section.offset
                    chunks.append(piece)
            return chunks
        finally:
            self._lengths.clear()

    def context(self, title: str, path: tuple[str, ...], metadata: dict[str, Any]) -> str:
        """``title › heading › … › p. N`` in at most ``context_tokens`` tokens.

        Outer headings go first when it is too long, then the end of the title: the deepest
        heading and the page say most about a chunk. A first heading that repeats the title
        (Markdown's ``# Title``) is left out.
        """
        if self.context_tokens == 0:
            return ""
        headings = list(_below_title(path, title))
        page = metadata.get("page")
        where = [f"p. {page}"] if page and not metadata.get("sheet") else []

        def join(head: str, tail: list[str]) -> str:
            return CONTEXT_SEPARATOR.join(part for part in (head, *tail, *where) if part)

        line = join(title, headings)
        if not line:
            return ""
        size = self.count_tokens(line)
        while len(headings) > 1 and size > self.context_tokens:
            headings = headings[1:]
            line = join(title, headings)
            size = self.count_tokens(line)
        if size <= self.context_tokens:
            return line
        if title:
            room = self.context_tokens - self.count_tokens(join("", headings)) - 1
            line = join(self.cut(title, room) if room > 2 else "", headings)
        return self.cut(line, self.context_tokens)

    def cut(self, text: str, tokens: int) -> str:
        """The longest start of ``text`` (found in a few steps) of at most ``tokens`` tokens."""
        size = self.count_tokens(text)
        while size > tokens and text:
            text = text[: max(0, len(text) * tokens // size - 1)].rstrip()
            size = self.count_tokens(text)
        return text

    def card(self, docs: list[Document]) -> Document | None:
        """The file's document card (``ingest.cards``), as long as a chunk and its context."""
        return document_card(
            docs,
            contents=top_headings(docs),
            budget=self.chunk_size + self.context_tokens,
            cut=self.cut,
            count_tokens=self.count_tokens,
        )
