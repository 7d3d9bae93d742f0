"""Drive ``kbqa app`` in a real browser: Debian's chromium and chromedriver through selenium.

Used by ``test_browser.py``, and run directly to refresh the README screenshot::

    .venv/bin/python tests/app/kbqa_browser.py docs/img/app-answer.png ["question" ...]

(ingests ``data/`` into a temporary store and uses the default generator unless
``KBQA_LLM_MODEL`` is set). Nothing is downloaded: the driver path is explicit, so
selenium-manager never runs.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
APT_HINT = "apt-get install -y chromium chromium-driver"
CHROME_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
)


def missing_browser() -> str | None:
    """Why the browser test cannot run here, or None when chromium and its driver exist."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if missing:
        return f"{' and '.join(missing)} not found; install them with: {APT_HINT}"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def kbqa_command() -> list[str]:
    """``kbqa`` from this interpreter's environment (``python -m rag.cli`` when not installed)."""
    script = Path(sys.executable).with_name("kbqa")
    return [str(script)] if script.exists() else [sys.executable, "-m", "rag.cli"]


@contextlib.contextmanager
def running_app(
    env: dict[str, str], port: int, log_path: Path, timeout: float = 120
) -> Iterator[str]:
    """Start ``kbqa app --port PORT``, wait until Streamlit is healthy, yield its URL, stop it."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [*kbqa_command(), "app", "--port", str(port)],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so stopping it stops only it
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + timeout
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(
                        f"kbqa app exited with {proc.returncode}: {log_path.read_text(errors='replace')[-2000:]}"
                    )
                try:
                    with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                        if r.status == 200:
                            break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    raise TimeoutError(f"kbqa app did not answer on {url} within {timeout:.0f}s")
                time.sleep(0.5)
            yield url
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=15)


@contextlib.contextmanager
def chromium(width: int = 1280, height: int = 1000) -> Iterator[Any]:
    """A headless Debian chromium with a fresh profile; no network beyond 127.0.0.1 is needed."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError as exc:
        raise RuntimeError("selenium is not installed: pip install 'selenium>=4.20'") from exc

    problem = missing_browser()
    if problem:
        raise RuntimeError(problem)
    with tempfile.TemporaryDirectory(prefix="kbqa-chromium-") as profile:
        options = webdriver.ChromeOptions()
        options.binary_location = str(CHROMIUM)
        for flag in CHROME_FLAGS:
            options.add_argument(flag)
        options.add_argument(f"--user-data-dir={profile}")
        options.add_argument(f"--window-size={width},{height}")
        driver = webdriver.Chrome(
            service=Service(executable_path=str(CHROMEDRIVER)), options=options
        )
        try:
            yield driver
        finally:
            driver.quit()


def wait_idle(driver: Any, timeout: float) -> None:
    """Until Streamlit has finished running the script."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, timeout).until(
        ec.presence_of_element_located(
            (By.CSS_SELECTOR, '[data-testid="stApp"][data-test-script-state="notRunning"]')
        )
    )


def open_app(driver: Any, url: str, timeout: float = 120) -> None:
    """Load the page and wait until its first run is over (models loaded, chat box drawn)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(url)
    WebDriverWait(driver, timeout).until(
        ec.presence_of_element_located((By.CSS_SELECTOR, '[data-testid="stChatInputTextArea"]'))
    )
    wait_idle(driver, timeout)


def ask(driver: Any, question: str, timeout: float = 180) -> str:
    """Type ``question`` into the chat box, wait for the answer and its sources; return the
    visible text of the newest answer."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    def messages() -> list[Any]:
        return list(driver.find_elements(By.CSS_SELECTOR, '[data-testid="stChatMessage"]'))

    before = len(messages())
    box = driver.find_element(By.CSS_SELECTOR, '[data-testid="stChatInputTextArea"]')
    box.send_keys(question)
    box.send_keys(Keys.ENTER)
    # The assistant's message appears, then the script finishes (streaming done, sources drawn).
    WebDriverWait(driver, timeout).until(lambda d: len(messages()) >= before + 2)
    time.sleep(0.5)
    wait_idle(driver, timeout)
    return str(messages()[-1].text)


def choose(driver: Any, label: str, expect: str | None = None, timeout: float = 120) -> None:
    """Click the radio option or button whose text is ``label`` once it is enabled; wait for
    ``expect`` to show on the page (when given) and for the rerun to finish."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    xpath = f"//label[.//p[text()='{label}']] | //button[.//p[text()='{label}']]"
    wait = WebDriverWait(driver, timeout)
    wait.until(ec.element_to_be_clickable((By.XPATH, xpath))).click()
    if expect is not None:
        wait.until(lambda d: expect in page_text(d))
    time.sleep(0.5)
    wait_idle(driver, timeout)


def button(driver: Any, label: str) -> Any:
    """The button whose text is ``label``."""
    from selenium.webdriver.common.by import By

    return driver.find_element(By.XPATH, f"//button[.//p[text()='{label}']]")


def upload(driver: Any, *paths: Path, timeout: float = 60) -> None:
    """Hand files to the page's file uploader, as picking them in the file dialog does."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    field = driver.find_element(By.CSS_SELECTOR, 'input[type="file"]')
    field.send_keys("\n".join(str(p) for p in paths))
    names = [p.name for p in paths]
    WebDriverWait(driver, timeout).until(
        lambda d: all(n in d.find_element(By.TAG_NAME, "body").text for n in names)
    )
    wait_idle(driver, timeout)


def reload(driver: Any, timeout: float = 120) -> None:
    """Reload the page (same URL, a new Streamlit session) and wait for its first run."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    driver.refresh()
    WebDriverWait(driver, timeout).until(
        ec.presence_of_element_located((By.CSS_SELECTOR, '[data-testid="stChatInputTextArea"]'))
    )
    time.sleep(0.5)
    wait_idle(driver, timeout)


_CARD_BUTTON = """
const [answer, wanted] = arguments;
const isView = (b) => b.innerText.includes('Show passage');
for (const b of [...answer.querySelectorAll('button')].filter(isView)) {
  // Up to the card: the largest block around the button that holds no other such button.
  for (let e = b.parentElement; e && e !== answer; e = e.parentElement) {
    if ([...e.querySelectorAll('button')].filter(isView).length > 1) break;
    if (e.innerText.includes(wanted)) return b;
  }
}
return null;
"""


def show_passage(driver: Any, *wanted: str, timeout: float = 60) -> Any:
    """Click "Show passage" on the newest answer's first card whose text holds one of
    ``wanted`` (tried in order), unfolding a refusal's closest passages first; return the
    viewer dialog once it is drawn."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    answer = driver.find_elements(By.CSS_SELECTOR, '[data-testid="stChatMessage"]')[-1]
    for summary in answer.find_elements(By.CSS_SELECTOR, '[data-testid="stExpander"] summary'):
        summary.click()
    time.sleep(0.5)
    button = None
    for text in wanted:
        button = button or driver.execute_script(_CARD_BUTTON, answer, text)
    if button is None:
        raise AssertionError(f"no card for {wanted} in: {answer.text}")
    # Scrolled to the middle: at the bottom the chat box lies over it.
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", button)
    time.sleep(0.3)
    button.click()
    dialog = WebDriverWait(driver, timeout).until(
        lambda d: next(iter(d.find_elements(By.CSS_SELECTOR, '[role="dialog"]')), None)
    )
    wait_idle(driver, timeout)
    WebDriverWait(driver, timeout).until(
        lambda d: dialog.find_elements(By.TAG_NAME, "img") or "surrounding" in dialog.text
    )
    time.sleep(0.5)
    return dialog


def close_dialog(driver: Any, timeout: float = 30) -> None:
    """Close the open dialog (its X button, else the Escape key) and wait for the rerun."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    buttons = driver.find_elements(By.CSS_SELECTOR, '[role="dialog"] button[aria-label="Close"]')
    if buttons:
        buttons[0].click()
    else:
        driver.find_element(By.TAG_NAME, "body").send_keys(Keys.ESCAPE)
    WebDriverWait(driver, timeout).until(
        lambda d: not d.find_elements(By.CSS_SELECTOR, '[role="dialog"]')
    )
    time.sleep(0.5)
    wait_idle(driver, timeout)


def page_text(driver: Any) -> str:
    from selenium.webdriver.common.by import By

    return str(driver.find_element(By.TAG_NAME, "body").text)


def screenshot(driver: Any, path: Path, first_message: int = -2) -> Path:
    """Save the page, scrolled so the chat from ``first_message`` (default: the last question)
    is at the top."""
    path.parent.mkdir(parents=True, exist_ok=True)
    driver.execute_script(
        "const m = document.querySelectorAll('[data-testid=\"stChatMessage\"]');"
        "const i = Math.max(0, m.length + arguments[0]);"
        "if (m.length) m[i].scrollIntoView({block: 'start'});",
        first_message,
    )
    time.sleep(0.5)
    driver.save_screenshot(str(path))
    return path


def app_env(persist_dir: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        KBQA_PERSIST_DIR=str(persist_dir),
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        ANONYMIZED_TELEMETRY="False",
        **extra,
    )
    return env


def main(argv: list[str]) -> int:
    """Screenshot the app answering a question about ``data/`` (for the README)."""
    out = Path(argv[0]) if argv else REPO / "docs" / "img" / "app-answer.png"
    questions = argv[1:] or [
        "What does kbqa do when the documents do not hold the answer?",
        "本地部署大语言模型如何保护数据隐私？",
    ]
    with tempfile.TemporaryDirectory(prefix="kbqa-shot-") as tmp:
        env = app_env(Path(tmp) / "store")
        subprocess.run(
            [*kbqa_command(), "ingest", str(REPO / "data")],
            cwd=REPO,
            env=env,
            check=True,
            timeout=1800,
        )
        with running_app(env, free_port(), Path(tmp) / "app.log") as url, chromium(1280, 1250) as d:
            open_app(d, url, timeout=600)
            for question in questions:
                ask(d, question, timeout=600)
            print(screenshot(d, out, first_message=-2 * len(questions)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
