"""Build the realistic set's office, table and scan files from real content already in the repo.

    python bench/make_formats.py            # writes bench/data/realistic/corpus/{en,zh}/formats/

Every file is made from text that is already in the realistic corpus (or the repository's own
sample article), so its facts can be checked against the original:

- ``en/formats/debian-releases.xlsx``: sheet "Releases" holds every row of
  ``en/debian/debian.csv`` (dates as real dates); sheet "Support" computes, for releases 6-13,
  the years between release and end of life with a formula (``=ROUND((D2-C2)/365.25,1)``),
  stored with its value as a spreadsheet application would.
- ``en/formats/python-3.11-briefing.pptx``: five slides with speaker notes summarising
  ``en/python/whatsnew-3.11.html``, ``library-tomllib.html`` and ``tutorial-venv.html`` (sentences
  quoted from them; one slide holds a table of the typing PEPs).
- ``en/formats/pg_dump-formats.docx``: a paragraph and a table of the four output formats of
  ``en/postgresql/app-pgdump.html``.
- ``en/formats/postgresql-connection-defaults.pdf``: a ruled table (fpdf2) of nine parameters of
  ``en/postgresql/runtime-config-connection.html`` with its type and default.
- ``en/formats/zoo-faq-scan.png``: the top 55 % of page 1 of ``en/zoo/zoo-faq.pdf`` (title,
  abstract, question 1) rendered at 200 dpi (PDFium) and "scanned" by ``bench/ocr.py``'s ``scan`` (1 degree, noise 12, JPEG 75).
- ``zh/formats/journald-defaults.xlsx``: sheet "Journal 选项" of the defaults stated in
  ``zh/manpages-zh/journald.conf.5.txt``; a second sheet "换算" converts two of them with formulas.
- ``zh/formats/llm-local-deployment.pptx``: four slides with notes summarising
  ``zh/kbqa/llm-local-deployment.zh.txt``.
- ``zh/formats/llm-tools.docx``: a table of the tools that article describes.
- ``zh/formats/maint-guide-scan.pdf``: page 9 of ``zh/maint-guide/maint-guide.zh-cn.pdf``
  rendered and scanned as above, saved as an image-only PDF (no text layer; OCR must read it).

The output is reproducible: fixed document dates, zip entries re-stamped 1980-01-01, a fixed
noise seed. Needs the dev dependencies (openpyxl is not used to write: XlsxWriter stores formula
results, which openpyxl cannot).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.ocr import scan  # noqa: E402  (the same scanner as the OCR benchmark)

CORPUS = ROOT / "bench" / "data" / "realistic" / "corpus"
EN = CORPUS / "en" / "formats"
ZH = CORPUS / "zh" / "formats"
WHEN = dt.datetime(2026, 11, 30, 0, 0, 0)
DPI = 200
NOISE, ROTATE, SEED = 12.0, 1.0, 15


def restamp_zip(path: Path) -> None:
    """Rewrite a zip (XLSX/DOCX/PPTX) with every entry dated 1980-01-01, in the same order."""
    with zipfile.ZipFile(path) as src:
        entries = [(info, src.read(info)) for info in src.infolist()]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as dst:
        for info, data in entries:
            fixed = zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0))
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = 0o644 << 16
            dst.writestr(fixed, data)
    path.write_bytes(buffer.getvalue())


# ---------------------------------------------------------------- spreadsheets


def debian_xlsx(out: Path) -> None:
    import xlsxwriter  # type: ignore[import-untyped]

    with (CORPUS / "en" / "debian" / "debian.csv").open(encoding="utf-8") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    book = xlsxwriter.Workbook(str(out))
    book.set_properties({"title": "Debian releases", "author": "kbqa", "created": WHEN})
    date = book.add_format({"num_format": "yyyy-mm-dd"})
    bold = book.add_format({"bold": True})
    sheet = book.add_worksheet("Releases")
    sheet.write_row(0, 0, header, bold)
    for r, row in enumerate(body, start=1):
        for c, value in enumerate(row):
            if c >= 3 and value:
                sheet.write_datetime(r, c, dt.datetime.fromisoformat(value), date)
            elif c == 0 and value:
                sheet.write_number(r, c, float(value))
            else:
                sheet.write_string(r, c, value)
    support = book.add_worksheet("Support")
    support.write_row(0, 0, ["codename", "version", "release", "eol", "years supported"], bold)
    chosen = [row for row in body if len(row) > 5 and row[0] and float(row[0]) >= 6]
    for r, row in enumerate(chosen, start=1):
        release, eol = dt.date.fromisoformat(row[4]), dt.date.fromisoformat(row[5])
        support.write_string(r, 0, row[1])
        support.write_number(r, 1, float(row[0]))
        support.write_datetime(r, 2, dt.datetime.fromisoformat(row[4]), date)
        support.write_datetime(r, 3, dt.datetime.fromisoformat(row[5]), date)
        years = round((eol - release).days / 365.25, 1)
        n = r + 1
        support.write_formula(r, 4, f"=ROUND((D{n}-C{n})/365.25,1)", None, years)
    book.close()
    restamp_zip(out)


JOURNALD = [
    # option, default, what it means: each default is stated in journald.conf.5.txt
    ("Compress=", "yes", "压缩存储大于特定阈值的对象"),
    ("Seal=", "yes", "存在 sealing key 时为持久保存的日志文件启用 FSS 保护"),
    ("RateLimitIntervalSec=", "30秒", "限制日志生成速度的时间段长度"),
    ("RateLimitBurst=", "1000条", "时间段内每个服务最多允许产生的日志条数"),
    ("SystemMaxFiles=", "100个", "最多允许同时存在多少个日志文件"),
    ("MaxFileSec=", "一个月", "日志滚动的时间间隔"),
    ("MaxRetentionSec=", "0", "日志文件的最大保留期限，零表示不按时间删除"),
    ("SyncIntervalSec=", "五分钟", "向磁盘刷写日志文件的时间间隔"),
    ("ForwardToSyslog=", "no", "是否转发给传统的 syslog 守护进程"),
    ("MaxLevelStore=", "debug", "记录到日志文件中的最高日志等级"),
    ("MaxLevelKMsg=", "notice", "转发给内核日志缓冲区的最高日志等级"),
    ("MaxLevelConsole=", "info", "转发给系统控制台的最高日志等级"),
    ("TTYPath=", "/dev/console", "ForwardToConsole=yes 时所使用的控制台TTY"),
]


def journald_xlsx(out: Path) -> None:
    import xlsxwriter

    book = xlsxwriter.Workbook(str(out))
    book.set_properties({"title": "journald.conf 默认值", "author": "kbqa", "created": WHEN})
    bold = book.add_format({"bold": True})
    sheet = book.add_worksheet("Journal 选项")
    sheet.write_row(0, 0, ["选项", "默认值", "说明"], bold)
    for r, row in enumerate(JOURNALD, start=1):
        sheet.write_row(r, 0, row)
    convert = book.add_worksheet("换算")
    convert.write_row(0, 0, ["选项", "默认值（秒）", "默认值（分钟）"], bold)
    for r, (name, seconds) in enumerate(
        [("RateLimitIntervalSec=", 30), ("SyncIntervalSec=", 300)], start=1
    ):
        convert.write_string(r, 0, name)
        convert.write_number(r, 1, seconds)
        convert.write_formula(r, 2, f"=B{r + 1}/60", None, seconds / 60)
    book.close()
    restamp_zip(out)


# ---------------------------------------------------------------- slides


def _deck(
    slides: list[tuple[str, list[str] | list[list[str]], str]], title: str, out: Path
) -> None:
    """Title-and-content slides; a content list of lists becomes a table."""
    from pptx import Presentation
    from pptx.util import Inches

    deck = Presentation()
    deck.core_properties.title = title
    deck.core_properties.author = "kbqa"
    deck.core_properties.created = WHEN
    deck.core_properties.modified = WHEN
    deck.core_properties.last_modified_by = "kbqa"
    deck.core_properties.revision = 1
    for heading, content, notes in slides:
        if content and isinstance(content[0], list):
            slide = deck.slides.add_slide(deck.slide_layouts[5])  # title only
            slide.shapes.title.text = heading
            rows, cols = len(content), len(content[0])
            shape = slide.shapes.add_table(
                rows, cols, Inches(0.5), Inches(1.6), Inches(9), Inches(0.4) * rows
            )
            for r, row in enumerate(content):
                for c, text in enumerate(row):
                    shape.table.cell(r, c).text = text
        else:
            slide = deck.slides.add_slide(deck.slide_layouts[1])  # title and content
            slide.shapes.title.text = heading
            body = slide.placeholders[1].text_frame
            body.text = str(content[0])
            for line in content[1:]:
                body.add_paragraph().text = str(line)
        if notes:
            slide.notes_slide.notes_text_frame.text = notes
    deck.save(str(out))
    restamp_zip(out)


def python_pptx(out: Path) -> None:
    _deck(
        [
            (
                "Python 3.11: what changes for us",
                ["A summary of the Python 3.11.2 documentation", "What's New, tomllib, venv"],
                "",
            ),
            (
                "Speed",
                [
                    "Python 3.11 is between 10-60% faster than Python 3.10.",
                    "On average, we measured a 1.25x speedup on the standard benchmark suite.",
                ],
                "Interpreter startup is now 10-15% faster in Python 3.11. This has a big impact "
                "for short-running programs using Python.",
            ),
            (
                "New syntax and standard library",
                [
                    "PEP 654: Exception Groups and except*",
                    "PEP 678: Exceptions can be enriched with notes",
                    "PEP 680: tomllib — Support for parsing TOML in the Standard Library",
                ],
                "tomllib: This module does not support writing TOML. The Tomli-W package is a "
                "TOML writer that can be used in conjunction with this module.",
            ),
            (
                "New typing features",
                [
                    ["PEP", "Feature"],
                    ["PEP 646", "Variadic generics"],
                    ["PEP 655", "Marking individual TypedDict items as required or not-required"],
                    ["PEP 673", "Self type"],
                    ["PEP 675", "Arbitrary literal string type"],
                    ["PEP 681", "Data class transforms"],
                ],
                "",
            ),
            (
                "Virtual environments",
                [
                    "Create: python3 -m venv tutorial-env",
                    "On Windows, run: tutorial-env\\Scripts\\activate.bat",
                    "On Unix or MacOS, run: source tutorial-env/bin/activate",
                ],
                "A common directory location for a virtual environment is .venv. This name "
                "keeps the directory typically hidden in your shell.",
            ),
        ],
        "Python 3.11 briefing",
        out,
    )


def llm_pptx(out: Path) -> None:
    _deck(
        [
            (
                "大语言模型的本地部署",
                ["从 API 调用到自主掌控", "根据《大语言模型(LLM)的本地部署与应用开发》整理"],
                "",
            ),
            (
                "为什么本地部署",
                [
                    "数据隐私与安全的绝对掌控",
                    "成本效益的长期优化",
                    "深度定制化与技术深耕",
                    "低延迟与离线可用",
                ],
                "在金融、医疗、法律等高度敏感的领域，将核心数据发送至第三方 API 存在不可接受的"
                "泄露风险。",
            ),
            (
                "成本",
                [
                    "按 Token 计费模式在长期来看成本高昂",
                    "一次性下载模型权重后，后续的推理过程几乎没有额外成本",
                ],
                "虽然初期硬件投入可能较高，但对于持续运行的服务或研究项目，其长期经济效益十分显著。",
            ),
            (
                "工具链",
                [
                    "模型获取：Hugging Face Hub",
                    "推理引擎：Transformers、llama.cpp、text-generation-webui",
                    "应用开发：LangChain、Gradio / Streamlit",
                ],
                "Hugging Face Hub 是全球最大的开源模型、数据集和代码库聚集地，它是本地部署的起点。",
            ),
        ],
        "大语言模型的本地部署",
        out,
    )


# ---------------------------------------------------------------- Word


def _docx(title: str, intro: str, rows: list[list[str]], out: Path) -> None:
    from docx import Document

    word = Document()
    word.core_properties.title = title
    word.core_properties.author = "kbqa"
    word.core_properties.created = WHEN
    word.core_properties.modified = WHEN
    word.core_properties.last_modified_by = "kbqa"
    word.core_properties.revision = 1
    word.add_heading(title, level=1)
    word.add_paragraph(intro)
    table = word.add_table(rows=len(rows), cols=len(rows[0]))
    table.style = "Table Grid"
    for r, row in enumerate(rows):
        for c, text in enumerate(row):
            table.cell(r, c).text = text
    word.save(str(out))
    restamp_zip(out)


def pgdump_docx(out: Path) -> None:
    _docx(
        "pg_dump output formats",
        "pg_dump --format=format selects the format of the output (PostgreSQL 15). "
        "Summary of the four formats:",
        [
            ["Format", "Letter", "Restore with", "Compressed", "Parallel dump (-j)"],
            ["plain", "p", "psql (a plain-text SQL script file, the default)", "no", "no"],
            ["custom", "c", "pg_restore", "compressed by default", "no"],
            ["directory", "d", "pg_restore", "compressed by default", "supports parallel dumps"],
            ["tar", "t", "pg_restore", "does not support compression", "no"],
        ],
        out,
    )


def tools_docx(out: Path) -> None:
    _docx(
        "本地 LLM 工具箱",
        "根据《大语言模型(LLM)的本地部署与应用开发》整理的工具一览。",
        [
            ["工具", "定位", "适用场景"],
            [
                "Hugging Face Hub",
                "全球最大的开源模型、数据集和代码库聚集地",
                "查找并下载预训练 LLM 及其量化版本",
            ],
            [
                "Transformers",
                "Python 生态中最主流、最核心的库",
                "快速原型验证、Python 应用开发",
            ],
            [
                "llama.cpp",
                "一个用 C/C++ 编写的轻量级、高性能推理库",
                "追求极致性能和低资源消耗的部署场景",
            ],
            [
                "text-generation-webui",
                "一个基于 Gradio 构建的网页用户界面工具",
                "快速上手体验、demo 演示",
            ],
            ["LangChain", "LLM 应用开发的“瑞士军刀”", "智能客服、AI 助手、知识库问答系统"],
            [
                "Gradio / Streamlit",
                "快速构建和分享机器学习 Web 应用的库",
                "为 LLM 应用快速创建演示界面",
            ],
        ],
        out,
    )


# ---------------------------------------------------------------- PDF


PG_DEFAULTS = [
    # each default as runtime-config-connection.html states it
    ["Parameter", "Type", "Default"],
    ["listen_addresses", "string", "localhost"],
    ["port", "integer", "5432"],
    ["max_connections", "integer", "100"],
    ["superuser_reserved_connections", "integer", "3"],
    ["unix_socket_permissions", "integer", "0777"],
    ["authentication_timeout", "integer", "1min"],
    ["password_encryption", "enum", "scram-sha-256"],
    ["ssl", "boolean", "off"],
    ["ssl_min_protocol_version", "enum", "TLSv1.2"],
]


def pg_pdf(out: Path) -> None:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_creation_date(WHEN.replace(tzinfo=dt.UTC))
    pdf.set_title("PostgreSQL 15 connection settings: defaults")
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 14)
    pdf.cell(0, 10, "PostgreSQL 15 connection settings: defaults", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=10)
    pdf.multi_cell(
        0,
        6,
        "Values from the PostgreSQL 15 documentation, chapter 20.3 Connections and Authentication.",
        new_x="LMARGIN",
        new_y="NEXT",
    )
    pdf.ln(2)
    with pdf.table(col_widths=(80, 40, 60), first_row_as_headings=True) as table:
        for row in PG_DEFAULTS:
            cells = table.row()
            for text in row:
                cells.cell(text)
    pdf.output(str(out))


# ---------------------------------------------------------------- scans


def _render(pdf: Path, page: int):  # type: ignore[no-untyped-def]
    import pypdfium2 as pdfium

    document = pdfium.PdfDocument(str(pdf))
    try:
        return document[page - 1].render(scale=DPI / 72).to_pil()
    finally:
        document.close()


def zoo_png(out: Path) -> None:
    page = _render(CORPUS / "en" / "zoo" / "zoo-faq.pdf", 1)
    top = page.crop((0, 0, page.width, page.height * 11 // 20))  # the first question and answer
    image = scan(top, NOISE, ROTATE, SEED)
    image.save(out, format="PNG", optimize=True)


def maint_guide_scan_pdf(out: Path) -> None:
    from fpdf import FPDF

    page = _render(CORPUS / "zh" / "maint-guide" / "maint-guide.zh-cn.pdf", 9)
    image = scan(page, NOISE, ROTATE, SEED)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=75)
    width_mm, height_mm = (px / DPI * 25.4 for px in image.size)
    pdf = FPDF(unit="mm", format=(width_mm, height_mm))
    pdf.set_creation_date(WHEN.replace(tzinfo=dt.UTC))
    pdf.add_page()
    pdf.image(buffer, x=0, y=0, w=width_mm, h=height_mm)
    pdf.output(str(out))


BUILDERS = {
    EN / "debian-releases.xlsx": debian_xlsx,
    EN / "python-3.11-briefing.pptx": python_pptx,
    EN / "pg_dump-formats.docx": pgdump_docx,
    EN / "postgresql-connection-defaults.pdf": pg_pdf,
    EN / "zoo-faq-scan.png": zoo_png,
    ZH / "journald-defaults.xlsx": journald_xlsx,
    ZH / "llm-local-deployment.pptx": llm_pptx,
    ZH / "llm-tools.docx": tools_docx,
    ZH / "maint-guide-scan.pdf": maint_guide_scan_pdf,
}


def main() -> None:
    for path, build in BUILDERS.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        build(path)
        print(f"{path.relative_to(ROOT)}  {path.stat().st_size:,} bytes")


if __name__ == "__main__":
    main()
