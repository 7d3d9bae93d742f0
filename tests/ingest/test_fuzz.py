"""Property: ``load_file`` on malformed input returns Documents or raises ``LoaderError``.

Hypothesis mutates real PDFs (the vendored ones in ``tests/data/pdf``), generates broken HTML,
broken DOCX (mutated zip bytes, and valid zips around malformed ``document.xml``) and bytes in
every supported text encoding (truncated multibyte sequences, stray BOMs). Nothing but
``LoaderError`` may escape, its reason must be one line, and it must come from the loader that
understood the failure, not from ``load_file``'s last-resort "could not be read (...)" net, which
only exists so that an unknown parser bug costs one file.

Runs are derandomized (no example database), so CI sees the same examples on every run.
"""

from __future__ import annotations

import io
import os
import re
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.loaders import MIME_TYPES, load_file
from rag.errors import LoaderError
from tests.ingest.conftest import write_docx

PDF_DATA = Path(__file__).resolve().parents[1] / "data" / "pdf"
PDF_SEEDS = ["toy.pdf", "issue-297.pdf", "two-different-pages.pdf", "commented.pdf"]
LAST_RESORT = "could not be read ("

# The example count comes from the Hypothesis profile (conftest.py): 150 under `make test` and
# CI, 10 under `make test-fast`. KBQA_FUZZ_EXAMPLES=5000 KBQA_FUZZ_RANDOM=1 runs a deeper,
# randomized hunt by hand.
FUZZ = settings(
    max_examples=int(os.environ.get("KBQA_FUZZ_EXAMPLES", settings().max_examples)),
    deadline=10_000,  # ms; generous for a shared CPU, yet a quadratic blow-up would still show
    derandomize=not os.environ.get("KBQA_FUZZ_RANDOM"),
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def check_loads_or_refuses(path: Path, root: Path) -> None:
    """The property every fuzzed file must satisfy."""
    try:
        documents = load_file(path, root)
    except LoaderError as err:
        assert err.path == str(path)
        assert err.reason.strip(), "empty reason"
        assert "\n" not in err.reason, err.reason
        assert not err.reason.startswith(LAST_RESORT), f"a parser error escaped: {err.reason}"
        return
    assert documents
    for doc in documents:
        assert doc.page_content.strip()
        assert doc.metadata["mime"] == MIME_TYPES[path.suffix.lower()]
        assert "\x00" not in doc.page_content and "\x00" not in doc.metadata["title"]
        if path.suffix == ".pdf":
            assert doc.metadata["page"] >= 1


def write(root: Path, name: str, data: bytes) -> Path:
    path = root / name
    path.write_bytes(data)
    return path


# --- byte mutations ------------------------------------------------------------------------------


def mutated(seed: bytes) -> st.SearchStrategy[bytes]:
    """``seed`` with a few byte flips, insertions, deletions, number swaps or a truncation."""
    numbers = [m.span() for m in re.finditer(rb"-?\d+", seed)]
    edit = st.one_of(
        st.tuples(
            st.just("flip"), st.integers(0, len(seed) - 1), st.binary(min_size=1, max_size=1)
        ),
        st.tuples(st.just("insert"), st.integers(0, len(seed)), st.binary(min_size=1, max_size=64)),
        st.tuples(st.just("delete"), st.integers(0, len(seed) - 1), st.integers(1, 256)),
        st.tuples(
            st.just("number"),
            st.integers(0, max(len(numbers) - 1, 0)),
            st.sampled_from([b"0", b"-1", b"1", b"99999999999", b"2147483648", b"-999999", b"3.5"]),
        ),
        st.tuples(st.just("truncate"), st.integers(0, len(seed)), st.just(b"")),
    )

    def apply(edits: list[tuple[str, int, object]]) -> bytes:
        data = bytearray(seed)
        for kind, at, arg in edits:
            at = min(at, len(data))
            if kind == "flip" and at < len(data):
                data[at : at + 1] = arg  # type: ignore[assignment]
            elif kind == "insert":
                data[at:at] = arg  # type: ignore[assignment]
            elif kind == "delete":
                del data[at : at + arg]  # type: ignore[operator]
            elif kind == "number" and numbers and at < len(numbers):
                start, end = numbers[at]
                if end <= len(data):
                    data[start:end] = arg  # type: ignore[assignment]
            elif kind == "truncate":
                del data[at:]
        return bytes(data)

    return st.lists(edit, min_size=1, max_size=6).map(apply)


# --- PDF -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", PDF_SEEDS)
def test_mutated_pdfs_load_or_fail_with_a_reason(root: Path, seed: str) -> None:
    original = (PDF_DATA / seed).read_bytes()

    @FUZZ
    @given(data=mutated(original))
    def run(data: bytes) -> None:
        check_loads_or_refuses(write(root, "mutated.pdf", data), root)

    run()


# --- HTML ----------------------------------------------------------------------------------------

TAG_NAMES = [
    "div",
    "p",
    "span",
    "b",
    "script",
    "style",
    "pre",
    "table",
    "tr",
    "td",
    "title",
    "h1",
    "head",
    "body",
    "html",
    "br",
    "template",
    "svg",
    "math",
    "x:y",
    "!",
    "?",
]
ATTRIBUTES = [
    "",
    " hidden",
    ' style="display:none"',
    " aria-hidden=true",
    ' class="a',
    " x=\"'",
    " style=",
    " =",
    ' a="&#0;"',
]
ENTITIES = [
    "&amp;",
    "&lt;",
    "&#0;",
    "&#x110000;",
    "&#99999999999;",
    "&#xD800;",
    "&bogus;",
    "&#x;",
    "&",
    "&nbsp",
    "&#128512;",
    "&#65533;",
]
MARKUP_NOISE = [
    "<!--",
    "-->",
    "<![CDATA[",
    "]]>",
    "<!DOCTYPE html>",
    "<?xml version='1.0'?>",
    "</",
    "<",
    ">",
    "\x00",
    "\ufeff",
    "\r",
    "</>",
]


def html_fragments() -> st.SearchStrategy[str]:
    tag = st.builds(
        lambda closing, name, attribute, end: f"<{'/' if closing else ''}{name}{attribute}{end}",
        st.booleans(),
        st.sampled_from(TAG_NAMES),
        st.sampled_from(ATTRIBUTES),
        st.sampled_from([">", "/>", "", " "]),
    )
    return st.lists(
        st.one_of(
            tag,
            st.sampled_from(ENTITIES),
            st.sampled_from(MARKUP_NOISE),
            st.text(max_size=30),
        ),
        max_size=60,
    ).map("".join)


@FUZZ
@given(markup=html_fragments(), encoding=st.sampled_from(["utf-8", "utf-16", "gb18030", "latin-1"]))
def test_malformed_html_loads_or_fails_with_a_reason(
    root: Path, markup: str, encoding: str
) -> None:
    data = markup.encode(encoding, errors="replace")
    if not data:
        return
    check_loads_or_refuses(write(root, "page.html", data), root)


@FUZZ
@given(data=st.binary(min_size=1, max_size=2048))
def test_random_bytes_named_html_load_or_fail_with_a_reason(root: Path, data: bytes) -> None:
    check_loads_or_refuses(write(root, "noise.htm", data), root)


# --- DOCX ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def docx_bytes(root: Path) -> bytes:
    return write_docx(root / "seed.docx").read_bytes()


def test_mutated_docx_zips_load_or_fail_with_a_reason(root: Path, docx_bytes: bytes) -> None:
    @FUZZ
    @given(data=mutated(docx_bytes))
    def run(data: bytes) -> None:
        check_loads_or_refuses(write(root, "mutated.docx", data), root)

    run()


W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
XML_PIECES = [
    "<w:p>",
    "</w:p>",
    "<w:r>",
    "</w:r>",
    "<w:t>",
    "</w:t>",
    '<w:t xml:space="preserve">',
    "<w:tbl>",
    "</w:tbl>",
    "<w:tr>",
    "</w:tr>",
    "<w:tc>",
    "</w:tc>",
    '<w:tcPr><w:gridSpan w:val="3"/></w:tcPr>',
    '<w:tcPr><w:gridSpan w:val="-1"/></w:tcPr>',
    '<w:tcPr><w:vMerge w:val="restart"/></w:tcPr>',
    "<w:tcPr><w:vMerge/></w:tcPr>",
    '<w:pPr><w:pStyle w:val="Heading1"/></w:pPr>',
    '<w:pPr><w:pStyle w:val="Nope"/></w:pPr>',
    "<w:tblGrid><w:gridCol/></w:tblGrid>",
    "<w:br/>",
    "<w:tab/>",
    "<w:sdt><w:sdtContent>",
    "</w:sdtContent></w:sdt>",
    "<x:unknown xmlns:x='urn:x'/>",
    "&amp;",
    "&bogus;",
    "&#0;",
    "<",
    "]]>",
    "<!-- c -->",
    "<w:body>",
    "</w:body>",
]


def document_xml() -> st.SearchStrategy[bytes]:
    body = st.lists(st.one_of(st.sampled_from(XML_PIECES), st.text(max_size=20)), max_size=40)
    wrapped = body.map(
        lambda pieces: (
            f'<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="{W}"><w:body>'
            + "".join(pieces)
            + "</w:body></w:document>"
        ).encode("utf-8", errors="replace")
    )
    return st.one_of(wrapped, st.binary(max_size=512))


def test_docx_with_malformed_document_xml_loads_or_fails_with_a_reason(
    root: Path, docx_bytes: bytes
) -> None:
    with zipfile.ZipFile(io.BytesIO(docx_bytes)) as archive:
        members = {info.filename: archive.read(info) for info in archive.infolist()}

    @FUZZ
    @given(xml=document_xml())
    def run(xml: bytes) -> None:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, content in members.items():
                archive.writestr(name, xml if name == "word/document.xml" else content)
        check_loads_or_refuses(write(root, "fuzzed.docx", buffer.getvalue()), root)

    run()


# --- text encodings ------------------------------------------------------------------------------

ENCODINGS = [
    "utf-8",
    "utf-8-sig",
    "utf-16",
    "utf-16-le",
    "utf-16-be",
    "utf-32",
    "gb18030",
    "gbk",
    "big5",
    "latin-1",
    "cp1252",
]
BOMS = [b"", b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff", b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff"]
TEXT_EXTENSIONS = [".txt", ".md", ".rst", ".csv", ".json", ".jsonl", ".log"]


def encoded_text() -> st.SearchStrategy[bytes]:
    """Text in a supported encoding, maybe cut mid-character, maybe behind a (wrong) BOM."""
    encoded = st.builds(
        lambda text, encoding: text.encode(encoding, errors="ignore"),
        st.text(min_size=1, max_size=200),
        st.sampled_from(ENCODINGS),
    )
    cut = st.tuples(encoded, st.integers(0, 8)).map(
        lambda pair: pair[0][: max(len(pair[0]) - pair[1], 0)]
    )
    body = st.one_of(cut, st.binary(max_size=300))
    return st.builds(lambda bom, data: bom + data, st.sampled_from(BOMS), body)


@FUZZ
@given(data=encoded_text(), extension=st.sampled_from(TEXT_EXTENSIONS))
def test_text_bytes_in_any_encoding_load_or_fail_with_a_reason(
    root: Path, data: bytes, extension: str
) -> None:
    if not data:
        return
    check_loads_or_refuses(write(root, f"text{extension}", data), root)


# U+FFFD is left out: text made mostly of it is refused as binary, on purpose.
PRINTABLE = st.characters(
    blacklist_categories=("Cc", "Cs", "Co", "Cn"), blacklist_characters="\ufffd"
)


@FUZZ
@given(
    text=st.text(PRINTABLE, min_size=1, max_size=200).filter(str.strip),
    encoding=st.sampled_from(["utf-8-sig", "utf-16", "utf-32"]),
)
def test_text_behind_a_bom_decodes_exactly(root: Path, text: str, encoding: str) -> None:
    [doc] = load_file(write(root, "bom.txt", text.encode(encoding)), root)
    assert doc.page_content == text.replace("\r\n", "\n").replace("\r", "\n")
