"""``kbqa app`` in a real browser: start the server, ask in the chat box, see the answer and its
sources. Needs Debian's chromium and chromedriver (``apt-get install -y chromium
chromium-driver``); without them the test fails, since CI installs them."""

from __future__ import annotations

from pathlib import Path

import pytest
from app_support import ARTIFACTS, app_environment, prepare_store
from kbqa_browser import (
    app_env,
    ask,
    button,
    choose,
    chromium,
    close_dialog,
    free_port,
    missing_browser,
    open_app,
    page_text,
    reload,
    running_app,
    screenshot,
    show_passage,
    upload,
)

pytestmark = [pytest.mark.slow, pytest.mark.integration]

SATURN = "What are the rings of Saturn made of?"


def add_pdf(store: Path, models) -> None:
    """A two-page PDF beside the sample documents; page 2 holds the passage about Saturn."""
    from fpdf import FPDF

    from app.library import documents_dir
    from rag.kb import KnowledgeBase
    from tests.conftest import SMALL

    pdf = FPDF()
    pdf.set_font("helvetica", size=12)
    pdf.add_page()
    pdf.multi_cell(0, 10, "Planetary rings\n\nA survey of the ring systems of the giant planets.")
    pdf.add_page()
    pdf.multi_cell(
        0,
        10,
        "Saturn has the most spectacular rings of any planet. The rings of Saturn are made"
        " mostly of water ice, with a smaller amount of rocky debris and dust. They are"
        " thousands of kilometres wide but often less than a kilometre thick.",
    )
    kb = KnowledgeBase(models=models, **SMALL, persist_dir=store, kb="default")
    folder = documents_dir(kb.settings)
    (folder / "rings.pdf").write_bytes(bytes(pdf.output()))
    report = kb.ingest(folder)
    assert report.ok and report.files_added == 1, report.to_dict()
    kb.close()


def element_y(driver, css: str, containing: str = "") -> int:
    """The page position of the first element matching ``css`` whose text holds ``containing``."""
    from selenium.webdriver.common.by import By

    found = [e for e in driver.find_elements(By.CSS_SELECTOR, css) if containing in e.text]
    assert found, (css, containing)
    return int(found[0].location["y"])


def test_question_in_the_browser_gets_a_streamed_answer_with_sources(tmp_path, models):
    problem = missing_browser()
    if problem:
        pytest.fail(problem)
    from selenium.webdriver.common.by import By

    store = prepare_store(tmp_path / "store", models)
    add_pdf(store, models)
    env = {**app_env(store), **app_environment(store), "KBQA_KB": "default"}
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    (uploads / "etna.txt").write_text("Mount Etna is an active volcano on the island of Sicily.")
    (uploads / "setup.exe").write_bytes(b"MZ")
    log = ARTIFACTS / "browser-app.log"
    with running_app(env, free_port(), log) as url, chromium() as driver:
        try:
            open_app(driver, url)
            assert "kbqa — ask your documents" in page_text(driver)
            answer = ask(driver, "What is the largest planet in the Solar System?")
            shot = screenshot(driver, ARTIFACTS / "browser-answer.png")

            # A reload is a new session: the chat comes back from the server (the URL names it).
            url_with_chat = driver.current_url
            reload(driver)
            after_reload = page_text(driver)

            # A citation opens the viewer: the PDF page drawn, the passage highlighted.
            ask(driver, SATURN)
            dialog = show_passage(driver, "rings.pdf, p. 2", "rings.pdf")
            viewer = dialog.text
            images = [
                (img.get_attribute("naturalWidth"), img.get_attribute("naturalHeight"))
                for img in dialog.find_elements(By.TAG_NAME, "img")
            ]
            screenshot(driver, ARTIFACTS / "browser-viewer.png")
            close_dialog(driver)

            # The real upload widget: a good file is saved and ingested.
            choose(driver, "Library", expect="Re-ingest folder")
            upload(driver, uploads / "etna.txt")
            choose(driver, "Add to knowledge base", expect="Ingest finished")
            library = page_text(driver)

            # A file type kbqa does not read: the uploader takes any file and kbqa says, next to
            # it, why it refuses it (not the browser's "… files are not allowed"); nothing can
            # be added, and the banners of the last upload are gone.
            from selenium.webdriver.support.ui import WebDriverWait

            upload(driver, uploads / "setup.exe")
            WebDriverWait(driver, 60).until(lambda d: "kbqa reads" in page_text(d))
            refusal = page_text(driver)
            add_enabled = button(driver, "Add to knowledge base").is_enabled()
            order = [
                element_y(driver, "[data-testid='stFileUploader']"),
                element_y(driver, "[data-testid='stAlert']", "setup.exe"),
                button(driver, "Add to knowledge base").location["y"],
            ]
        finally:
            screenshot(driver, ARTIFACTS / "browser-last.png")
    assert shot.stat().st_size > 10_000
    assert "Sources" in answer, answer
    assert "solar.md" in answer and "score" not in answer, answer
    assert "Show passage" in answer, answer
    assert "chat=" in url_with_chat, url_with_chat
    assert "What is the largest planet in the Solar System?" in after_reload
    assert "solar.md" in after_reload and "Chats" in after_reload, after_reload
    assert "rings.pdf, p." in viewer, viewer
    assert "The cited page, the passage highlighted" in viewer, viewer
    assert images and int(images[0][0]) > 500 and int(images[0][1]) > 700, images
    assert "Download solar.md" in answer, answer
    assert "Traceback" not in answer + library
    assert "Saved 1 file(s)." in library and "1 added" in library, library
    assert (store / "documents" / "default" / "etna.txt").is_file()
    assert "setup.exe: kbqa reads PDF, Word (.docx)" in refusal, refusal
    assert "this one is a program (an executable)" in refusal, refusal
    assert "not allowed" not in refusal and "Saved 1 file(s)." not in refusal, refusal
    assert order == sorted(order), order  # the message sits between the file and the button
    assert not add_enabled, "the Add button accepts a refused upload"
    assert not list(store.rglob("setup.exe"))
    assert "127.0.0.1" in log.read_text(errors="replace")  # it bound the loopback address
