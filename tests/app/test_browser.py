"""``kbqa app`` in a real browser: start the server, ask in the chat box, see the answer and its
sources. Needs Debian's chromium and chromedriver (``apt-get install -y chromium
chromium-driver``); without them the test fails, since CI installs them."""

from __future__ import annotations

import pytest
from app_support import ARTIFACTS, app_environment, prepare_store
from kbqa_browser import (
    app_env,
    ask,
    button,
    choose,
    chromium,
    free_port,
    missing_browser,
    open_app,
    page_text,
    running_app,
    screenshot,
    upload,
)

pytestmark = [pytest.mark.slow, pytest.mark.integration]


def test_question_in_the_browser_gets_a_streamed_answer_with_sources(tmp_path, models):
    problem = missing_browser()
    if problem:
        pytest.fail(problem)
    store = prepare_store(tmp_path / "store", models)
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
            answer = ask(driver, "Which planet is the largest planet in the Solar System?")
            shot = screenshot(driver, ARTIFACTS / "browser-answer.png")

            # The real upload widget: a good file is saved and ingested.
            choose(driver, "Library", expect="Re-ingest folder")
            upload(driver, uploads / "etna.txt")
            choose(driver, "Add to knowledge base", expect="Ingest finished")
            library = page_text(driver)

            # A file type kbqa does not read: the uploader kbqa configures (its `extensions`)
            # refuses it on the page, and nothing can be added.
            upload(driver, uploads / "setup.exe")
            refusal = page_text(driver)
            add_enabled = button(driver, "Add to knowledge base").is_enabled()
        finally:
            screenshot(driver, ARTIFACTS / "browser-last.png")
    assert shot.stat().st_size > 10_000
    assert "Sources" in answer, answer
    assert "solar.md" in answer and "score" in answer, answer
    assert "Download solar.md" in answer, answer
    assert "Traceback" not in answer + library
    assert "Saved 1 file(s)." in library and "1 added" in library, library
    assert (store / "documents" / "default" / "etna.txt").is_file()
    assert "setup.exe" in refusal and "files are not allowed" in refusal, refusal
    assert not add_enabled, "the Add button accepts a refused upload"
    assert not list(store.rglob("setup.exe"))
    assert "127.0.0.1" in log.read_text(errors="replace")  # it bound the loopback address
