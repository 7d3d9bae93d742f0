"""Loaders against real files of every format, built in ``tmp_path`` by ``conftest.py``."""

from __future__ import annotations

import json
import logging
import os
import re
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

import ingest.loaders as loaders
from ingest.loaders import (
    LOADERS,
    MIME_TYPES,
    SUPPORTED_EXTENSIONS,
    detect_language,
    load_file,
    read_text,
)
from rag.errors import LoaderError
from rag.settings import DEFAULT_EXTENSIONS

CONTRACT_KEYS = {"source", "title", "lang", "mime"}

GBK_PARAGRAPHS = (
    "知识库问答系统可以帮助用户在本地文档中查找答案。系统先把文档切分成小段，"
    "再为每一段计算向量，并保存到本地的向量数据库中。\n\n"
    "提问时，系统同时使用向量检索和关键词检索，把两种结果融合以后交给语言模型。"
    "模型只根据检索到的段落回答，并在每句话后面标注引用的来源。\n\n"
    "所有模型都在本机运行，不会把任何数据发送到互联网，适合处理公司内部的保密资料。\n"
)
BIG5_TEXT = "這是一個繁體中文的測試文件。臺灣的資料庫系統非常穩定，使用者可以在本機查詢答案。\n"


def error_of(path: Path, root: Path, **kwargs: object) -> LoaderError:
    with pytest.raises(LoaderError) as caught:
        load_file(path, root, **kwargs)  # type: ignore[arg-type]
    err = caught.value
    assert err.path == str(path)
    assert str(err) == f"{path}: {err.reason}"
    assert "\n" not in err.reason and "Traceback" not in err.reason
    return err


def write(path: Path, data: bytes | str, encoding: str = "utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data if isinstance(data, bytes) else data.encode(encoding))
    return path


# --- registry and contract -----------------------------------------------------------------------


def test_every_default_extension_has_a_loader_and_a_mime_type() -> None:
    assert SUPPORTED_EXTENSIONS == set(DEFAULT_EXTENSIONS) == set(LOADERS) == set(MIME_TYPES)


def test_metadata_is_exactly_the_contract_with_a_relative_posix_source(kb_root: Path) -> None:
    path = write(kb_root / "guides" / "setup" / "install.md", "# Install\n\nRun pip.\n")
    [doc] = load_file(path, kb_root)
    assert doc.metadata == {
        "source": "guides/setup/install.md",
        "title": "Install",
        "lang": "en",
        "mime": "text/markdown",
    }
    assert list(doc.metadata) == ["source", "title", "lang", "mime"]


def test_source_outside_root_is_the_absolute_path(kb_root: Path, tmp_path: Path) -> None:
    path = write(tmp_path / "elsewhere" / "note.txt", "hello")
    [doc] = load_file(path, kb_root)
    assert doc.metadata["source"] == Path(os.path.abspath(path)).as_posix()
    [doc] = load_file(path, path)  # root is the file itself
    assert doc.metadata["source"] == "note.txt"


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("这是一个中文句子。", "zh"),
        ("安装 kbqa 之后运行 ingest 命令，然后提问。", "zh"),
        ("Install kbqa, then ask a question.", "en"),
        ("The capital of China is 北京.", "en"),
        ("", "en"),
        ("12345 !!!", "en"),
    ],
)
def test_detect_language_by_share_of_cjk(text: str, lang: str) -> None:
    assert detect_language(text) == lang


# --- PDF -----------------------------------------------------------------------------------------


def test_pdf_one_document_per_page_with_page_numbers(
    kb_root: Path, make_pdf: Callable[..., Path]
) -> None:
    pages = ["Alpha page one about setup.", "Beta page two about retrieval.", "Gamma page three."]
    path = make_pdf(kb_root / "manuals" / "guide.pdf", pages, title="Kbqa Manual")
    docs = load_file(path, kb_root)
    assert [doc.metadata["page"] for doc in docs] == [1, 2, 3]
    assert "Beta page two" in docs[1].page_content
    assert "Beta" not in docs[0].page_content + docs[2].page_content
    assert docs[0].metadata.items() >= {  # and the card's fields (ingest.cards)
        "source": "manuals/guide.pdf",
        "page": 1,
        "title": "Kbqa Manual",
        "lang": "en",
        "mime": "application/pdf",
    }.items()


def test_pdf_without_title_uses_stem_and_drops_blank_pages(
    kb_root: Path, make_pdf: Callable[..., Path]
) -> None:
    path = make_pdf(kb_root / "notes.pdf", ["First page.", "", "Third page."])
    docs = load_file(path, kb_root)
    assert [doc.metadata["page"] for doc in docs] == [1, 3]
    assert {doc.metadata["title"] for doc in docs} == {"notes"}


def test_pdf_with_no_text_is_refused_as_scanned(
    kb_root: Path, make_pdf: Callable[..., Path]
) -> None:
    path = make_pdf(kb_root / "scan.pdf", ["", ""])
    assert error_of(path, kb_root).reason == "no text found: no text layer, and OCR read none"


def test_encrypted_pdf_needs_the_password(kb_root: Path, make_pdf: Callable[..., Path]) -> None:
    path = make_pdf(kb_root / "secret.pdf", ["Classified text."], user_password="s3cret")

    reason = error_of(path, kb_root).reason
    assert "encrypted" in reason and "--pdf-password" in reason
    reason = error_of(path, kb_root, pdf_password="wrong").reason
    assert "encrypted" in reason and "--pdf-password" in reason

    [doc] = load_file(path, kb_root, pdf_password="s3cret")
    assert "Classified text." in doc.page_content and doc.metadata["page"] == 1


def test_pdf_with_only_an_owner_password_opens_without_one(
    kb_root: Path, make_pdf: Callable[..., Path]
) -> None:
    path = make_pdf(kb_root / "locked.pdf", ["Readable."], user_password="", owner_password="own")
    [doc] = load_file(path, kb_root)
    assert "Readable." in doc.page_content


def test_aes_pdf_without_cryptography_says_what_to_install(
    kb_root: Path, make_pdf: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from pypdf import PdfReader
    from pypdf.errors import DependencyError

    path = make_pdf(kb_root / "aes.pdf", ["x"], user_password="pw")

    def needs_aes(self: PdfReader, password: str) -> int:
        raise DependencyError("cryptography>=3.1 is required for AES algorithm")

    monkeypatch.setattr(PdfReader, "decrypt", needs_aes)
    reason = error_of(path, kb_root, pdf_password="pw").reason
    assert "encrypted with AES" in reason and "cryptography" in reason


@pytest.mark.parametrize("cut", [0.3, 0.9])
def test_truncated_pdf_is_not_a_valid_pdf(
    kb_root: Path, make_pdf: Callable[..., Path], cut: float
) -> None:
    data = make_pdf(kb_root / "full.pdf", ["Some text.", "More text."]).read_bytes()
    path = write(kb_root / "broken.pdf", data[: int(len(data) * cut)])
    assert error_of(path, kb_root).reason.startswith("not a valid PDF: ")


def test_text_file_named_pdf_is_not_a_valid_pdf(kb_root: Path) -> None:
    path = write(kb_root / "fake.pdf", "this is not a PDF at all")
    assert error_of(path, kb_root).reason.startswith("not a valid PDF: ")


def test_pypdf_warnings_do_not_reach_the_log(
    kb_root: Path, make_pdf: Callable[..., Path], caplog: pytest.LogCaptureFixture
) -> None:
    data = make_pdf(kb_root / "full.pdf", ["Some text."]).read_bytes()
    # A wrong startxref offset: pypdf recovers the file but logs warnings about it.
    sloppy = re.sub(rb"startxref\s+(\d+)", b"startxref\n12", data)
    path = write(kb_root / "sloppy.pdf", sloppy)
    truncated = write(kb_root / "truncated.pdf", data[: len(data) // 2])
    caplog.set_level(logging.DEBUG)
    level_before = logging.getLogger("pypdf").level

    [doc] = load_file(path, kb_root)
    assert "Some text." in doc.page_content
    with pytest.raises(LoaderError):
        load_file(truncated, kb_root)
    assert [r for r in caplog.records if r.name.startswith("pypdf")] == []
    assert logging.getLogger("pypdf").level == level_before  # restored afterwards


# --- text and encodings --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "encoding", "lang"),
    [
        (GBK_PARAGRAPHS, "gbk", "zh"),
        (GBK_PARAGRAPHS, "gb18030", "zh"),
        (BIG5_TEXT, "big5", "zh"),
        ("UTF-16 text with a BOM: 你好, café.\n", "utf-16", "en"),
        ("大端 UTF-16：知识库问答系统\n", "utf-16-be-bom", "zh"),
        ("UTF-8 with a BOM: 知识库问答系统\n", "utf-8-sig", "zh"),
        ("café naïve façade\n", "latin-1", "en"),
        ("“Smart quotes” – and a dash €5\n", "cp1252", "en"),
        ("Plain UTF-8: 知识库 and café\n", "utf-8", "en"),
    ],
)
def test_text_encodings_decode_exactly(kb_root: Path, text: str, encoding: str, lang: str) -> None:
    if encoding == "utf-16-be-bom":
        data = b"\xfe\xff" + text.encode("utf-16-be")
    else:
        data = text.encode(encoding)
    path = write(kb_root / "doc.txt", data)
    [doc] = load_file(path, kb_root)
    assert doc.page_content == text
    assert doc.metadata == {
        "source": "doc.txt",
        "title": "doc",
        "lang": lang,
        "mime": "text/plain",
    }


@pytest.mark.parametrize(
    "line",
    [
        "知识库问答系统",
        "你好，世界",
        "测试",
        "系统",  # these four GBK bytes are also valid UTF-8 ("ϵͳ")
        "中文",
        "本地模型，核对过的引用。",
        "请把文件放在文件夹里，然后运行导入命令。\n",
    ],
)
def test_short_gbk_lines_decode_to_the_right_chinese(kb_root: Path, line: str) -> None:
    path = write(kb_root / "short.txt", line.encode("gbk"))
    assert read_text(path) == line


@pytest.mark.parametrize("line", ["這是測試", "資料庫系統", "繁體中文的文件"])
def test_short_big5_lines_decode_to_the_right_chinese(kb_root: Path, line: str) -> None:
    path = write(kb_root / "short.txt", line.encode("big5"))
    assert read_text(path) == line


def test_utf16_without_bom_is_text_not_binary(kb_root: Path) -> None:
    text = "Plain ASCII saved as UTF-16 without a byte-order mark.\n"
    path = write(kb_root / "wide.log", text.encode("utf-16-le"))
    assert read_text(path) == text


def test_crlf_line_ends_become_newlines(kb_root: Path) -> None:
    path = write(kb_root / "dos.txt", b"one\r\ntwo\rthree\n")
    assert read_text(path) == "one\ntwo\nthree\n"


@pytest.mark.parametrize(
    "data",
    [
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00" + bytes(range(256)),
        bytes([1, 2, 3, 4, 5, 6, 7, 8, 14, 15, 16, 17]) * 50 + b"a few letters",
    ],
    ids=["nul-bytes", "control-characters"],
)
def test_binary_content_with_a_text_extension_is_refused(kb_root: Path, data: bytes) -> None:
    path = write(kb_root / "image.txt", data)
    assert error_of(path, kb_root).reason == "binary content, not text"


@pytest.mark.parametrize("data", [b"", b"  \n\t\r\n  "], ids=["empty", "whitespace"])
@pytest.mark.parametrize("name", ["empty.txt", "empty.md", "empty.csv", "empty.json", "e.pdf"])
def test_empty_files_are_refused(kb_root: Path, data: bytes, name: str) -> None:
    path = write(kb_root / name, data)
    reason = error_of(path, kb_root).reason
    assert reason == "empty file" or (name.endswith(".pdf") and "not a valid PDF" in reason)


def test_files_over_the_size_limit_are_refused(kb_root: Path) -> None:
    path = write(kb_root / "big.txt", "x" * 5000)
    reason = error_of(path, kb_root, max_file_mb=0.001).reason
    assert reason == "file is 0.00477 MB, over the limit of 0.001 MB (max_file_mb)"
    assert load_file(path, kb_root, max_file_mb=0.01)[0].page_content == "x" * 5000


def test_a_directory_with_a_text_extension_is_unreadable(kb_root: Path) -> None:
    path = kb_root / "folder.txt"
    path.mkdir()
    assert error_of(path, kb_root).reason == "cannot read file (a directory)"


def test_a_broken_symlink_is_unreadable(kb_root: Path) -> None:
    path = kb_root / "gone.md"
    path.symlink_to(kb_root / "missing.md")
    assert error_of(path, kb_root).reason == "cannot read file (No such file or directory)"


def test_permission_denied_while_reading_is_a_loader_error(
    kb_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Tests run as root, where chmod 000 does not stop reads; fail the read itself instead.
    path = write(kb_root / "private.txt", "secret")

    def denied(self: Path) -> bytes:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_bytes", denied)
    assert error_of(path, kb_root).reason == "cannot read file (Permission denied)"


@pytest.mark.parametrize(("name", "shown"), [("data.xyz", ".xyz"), ("Makefile", "(no extension)")])
def test_unknown_extensions_are_unsupported(kb_root: Path, name: str, shown: str) -> None:
    path = write(kb_root / name, "content")
    assert error_of(path, kb_root).reason == f"unsupported file type {shown}"


def test_extension_lookup_ignores_case(kb_root: Path) -> None:
    path = write(kb_root / "README.MD", "# Read me\n")
    assert load_file(path, kb_root)[0].metadata["mime"] == "text/markdown"


def test_a_crashing_parser_costs_one_file_not_a_traceback(
    kb_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def crash(path: Path, options: object) -> list[object]:
        raise ValueError("boom\nwith a second line")

    monkeypatch.setitem(loaders.LOADERS, ".txt", crash)
    path = write(kb_root / "a.txt", "text")
    assert (
        error_of(path, kb_root).reason == "could not be read (ValueError: boom with a second line)"
    )


# --- Markdown, reStructuredText, plain text ------------------------------------------------------


def test_markdown_is_kept_raw_with_the_first_heading_as_title(kb_root: Path) -> None:
    text = (
        "Intro line.\n\n```python\n# not a heading\n```\n\n"
        "## Install\n\nRun `pip install kbqa`.\n\n### Configure\n\n- item\n"
    )
    path = write(kb_root / "guide.markdown", text)
    [doc] = load_file(path, kb_root)
    assert doc.page_content == text
    assert doc.metadata["title"] == "Install"
    assert doc.metadata["mime"] == "text/markdown"


@pytest.mark.parametrize(
    ("text", "title"),
    [
        ("---\ntitle: 'From Front Matter'\n---\n# Heading\n", "From Front Matter"),
        ("Setext Title\n============\n\nBody.\n", "Setext Title"),
        ("# 中文标题 #\n\n正文内容。\n", "中文标题"),
        ("No heading at all.\n", "page"),
    ],
)
def test_markdown_titles(kb_root: Path, text: str, title: str) -> None:
    path = write(kb_root / "page.md", text)
    assert load_file(path, kb_root)[0].metadata["title"] == title


def test_rst_title_and_plain_text_stem(kb_root: Path) -> None:
    rst = write(kb_root / "api.rst", "=========\nAPI Guide\n=========\n\nSection\n-------\n")
    [doc] = load_file(rst, kb_root)
    assert (doc.metadata["title"], doc.metadata["mime"]) == ("API Guide", "text/x-rst")
    log = write(kb_root / "server.log", "# not a heading in a log\nline 2\n")
    [doc] = load_file(log, kb_root)
    assert (doc.metadata["title"], doc.metadata["mime"]) == ("server", "text/plain")


# --- HTML ----------------------------------------------------------------------------------------

HTML_PAGE = """<!DOCTYPE html>
<html><head><title>  Kbqa   Handbook </title>
<style>body { color: red; }</style><script>var secret = "SCRIPT_TEXT";</script>
<meta name="description" content="HEAD_TEXT"></head>
<body>
  <noscript>NOSCRIPT_TEXT</noscript><template><p>TEMPLATE_TEXT</p></template>
  <!-- COMMENT_TEXT -->
  <h1>Welcome</h1>
  <p>First   paragraph
     spans lines.</p><p>Second <b>bold</b> paragraph.</p>
  <div hidden>HIDDEN_TEXT</div><span style="display: none">INVISIBLE_TEXT</span>
  <ul><li>one</li><li>two</li></ul>
  <table><tr><th>Key</th><th>Value</th></tr><tr><td>top_k</td><td>4</td></tr></table>
  <pre>line 1
    indented line 2</pre>
  <script>document.write("LATE_SCRIPT")</script>
</body></html>
"""


def test_html_keeps_visible_text_and_title(kb_root: Path) -> None:
    path = write(kb_root / "site" / "index.html", HTML_PAGE)
    [doc] = load_file(path, kb_root)
    text = doc.page_content
    for hidden in ("SCRIPT", "HEAD_TEXT", "NOSCRIPT", "TEMPLATE", "COMMENT", "HIDDEN", "INVISIBLE"):
        assert hidden not in text
    assert "color: red" not in text
    assert "Handbook" not in text  # the title is metadata, not body text
    assert "Welcome\n\nFirst paragraph spans lines.\n\nSecond bold paragraph." in text
    assert "one\n\ntwo" in text
    assert "Key Value\n\ntop_k 4" in text
    assert "line 1\n    indented line 2" in text
    assert doc.metadata.items() >= {  # and the card's fields and headings (ingest.cards)
        "source": "site/index.html",
        "title": "Kbqa Handbook",
        "lang": "en",
        "mime": "text/html",
    }.items()


def test_html_without_title_uses_first_heading(kb_root: Path) -> None:
    path = write(kb_root / "page.htm", "<body><h2>使用说明</h2><p>把文件放进文件夹。</p></body>")
    [doc] = load_file(path, kb_root)
    assert doc.metadata["title"] == "使用说明"
    assert doc.metadata["lang"] == "zh"


def test_deeply_nested_html_does_not_crash(kb_root: Path) -> None:
    depth = 20_000
    markup = "<div>" * depth + "<span>deep text</span>" + "</div>" * depth
    path = write(kb_root / "deep.html", markup)
    started = time.monotonic()
    [doc] = load_file(path, kb_root)
    assert doc.page_content == "deep text"
    assert time.monotonic() - started < 10


def test_html_with_no_visible_text_is_refused(kb_root: Path) -> None:
    path = write(kb_root / "blank.html", "<html><head><title>T</title></head><body> </body></html>")
    assert error_of(path, kb_root).reason == "no visible text in HTML"


# --- DOCX ----------------------------------------------------------------------------------------


def test_docx_headings_become_markdown_and_tables_are_kept(
    kb_root: Path, make_docx: Callable[..., Path]
) -> None:
    path = make_docx(kb_root / "word" / "report.docx")
    [doc] = load_file(path, kb_root)
    assert doc.page_content == (
        "# Overview\n\n"
        "kbqa answers questions from your own documents.\n\n"
        "## Settings\n\n"
        "| Name | Value |\n| --- | --- |\n| top_k | 4 |\n| spans both columns |  |\n\n"
        "Closing remark after the table."
    )
    assert doc.metadata.items() >= {  # and the card's fields (ingest.cards)
        "source": "word/report.docx",
        "title": "Overview",
        "lang": "en",
        "mime": MIME_TYPES[".docx"],
    }.items()


def test_docx_core_title_wins(kb_root: Path, make_docx: Callable[..., Path]) -> None:
    path = make_docx(kb_root / "report.docx", core_title="Annual Report")
    assert load_file(path, kb_root)[0].metadata["title"] == "Annual Report"


def test_corrupt_docx_is_not_a_valid_docx(kb_root: Path, make_docx: Callable[..., Path]) -> None:
    data = make_docx(kb_root / "good.docx").read_bytes()
    truncated = write(kb_root / "truncated.docx", data[: len(data) // 2])
    assert error_of(truncated, kb_root).reason.startswith("not a valid DOCX: ")

    not_zip = write(kb_root / "plain.docx", "just text")
    assert error_of(not_zip, kb_root).reason == "not a valid DOCX: not a zip archive"

    other_zip = kb_root / "other.docx"
    with zipfile.ZipFile(other_zip, "w") as archive:
        archive.writestr("hello.txt", "not a word document")
    assert error_of(other_zip, kb_root).reason.startswith("not a valid DOCX: ")


# --- CSV, JSON, JSONL ----------------------------------------------------------------------------


def test_csv_groups_rows_and_repeats_the_header(kb_root: Path) -> None:
    header = "id,name,description"
    rows = [f'{i},item {i},"a description, with a comma, of item {i}"' for i in range(200)]
    path = write(kb_root / "tables" / "items.csv", "\n".join([header, *rows]) + "\n")
    docs = load_file(path, kb_root)
    assert len(docs) > 3
    seen: list[str] = []
    for doc in docs:
        lines = doc.page_content.split("\n")
        assert lines[0] == header
        assert len(doc.page_content) <= 1500
        seen += lines[1:]
        assert set(doc.metadata) == CONTRACT_KEYS
        assert doc.metadata["mime"] == "text/csv"
    assert seen == rows  # every row once, in order, quoting intact


def test_csv_sniffs_the_delimiter_and_decodes_gbk(kb_root: Path) -> None:
    text = "名称;数量;备注\n苹果;3;新鲜的水果\n香蕉;5;黄色的水果\n"
    path = write(kb_root / "fruit.csv", text.encode("gbk"))
    [doc] = load_file(path, kb_root)
    assert doc.page_content == text.strip()
    assert doc.metadata["lang"] == "zh"


def test_csv_with_only_a_header_is_one_document(kb_root: Path) -> None:
    path = write(kb_root / "empty_table.csv", "a,b,c\n")
    assert [doc.page_content for doc in load_file(path, kb_root)] == ["a,b,c"]


def test_json_list_gives_one_document_per_element(kb_root: Path) -> None:
    records = [
        {"id": 1, "title": "Install", "meta": {"author": {"name": "Ada"}, "tags": ["a", "b"]}},
        {"id": 2, "title": "配置", "ok": True, "none": None, "steps": [{"n": 1}, {"n": 2}]},
    ]
    path = write(kb_root / "data" / "faq.json", json.dumps(records, ensure_ascii=False))
    docs = load_file(path, kb_root)
    assert [doc.page_content for doc in docs] == [
        "id: 1\ntitle: Install\nmeta.author.name: Ada\nmeta.tags: a, b",
        "id: 2\ntitle: 配置\nok: true\nnone: null\nsteps.0.n: 1\nsteps.1.n: 2",
    ]
    assert docs[0].metadata == {
        "source": "data/faq.json",
        "title": "faq",
        "lang": "en",
        "mime": "application/json",
    }


def test_json_object_is_one_document(kb_root: Path) -> None:
    path = write(kb_root / "config.json", '{"name": "kbqa", "limits": {"max_file_mb": 50}}')
    [doc] = load_file(path, kb_root)
    assert doc.page_content == "name: kbqa\nlimits.max_file_mb: 50"


def test_invalid_json_names_the_position(kb_root: Path) -> None:
    path = write(kb_root / "bad.json", '{"a": 1,\n "b": }')
    reason = error_of(path, kb_root).reason
    assert reason.startswith("not valid JSON: ") and "line 2" in reason


def test_deeply_nested_json_is_a_loader_error(kb_root: Path) -> None:
    path = write(kb_root / "deep.json", "[" * 100_000 + "]" * 100_000)
    assert "nested too deeply" in error_of(path, kb_root).reason


def test_jsonl_gives_one_document_per_line(kb_root: Path) -> None:
    path = write(kb_root / "log.jsonl", '{"q": "one"}\n\n{"q": "two", "a": [1, 2]}\n')
    docs = load_file(path, kb_root)
    assert [doc.page_content for doc in docs] == ["q: one", "q: two\na: 1, 2"]
    assert docs[0].metadata["mime"] == "application/x-ndjson"


def test_jsonl_bad_line_is_named(kb_root: Path) -> None:
    path = write(kb_root / "log.jsonl", '{"q": 1}\n{"q": 2}\n{"q": oops}\n{"q": 4}\n')
    assert error_of(path, kb_root).reason.startswith("line 3 is not valid JSON")
