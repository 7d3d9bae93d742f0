"""Offline, proven: ingest, ask, eval and the app run with every non-loopback connection refused
and logged, with telemetry off in Chroma and Streamlit and no model or tokenizer fetched.

Every Python process a command starts gets the guard through a ``sitecustomize.py`` on
``PYTHONPATH`` (``tests/offline_guard.py``): the command itself, the Streamlit server that
``kbqa app`` execs, and any worker process. Each writes a line to ``LOG.armed`` when it starts,
so a test can tell the guard really ran where it claims.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.app.app_support import app_environment, prepare_store
from tests.app.kbqa_browser import (
    ask,
    chromium,
    free_port,
    missing_browser,
    open_app,
    running_app,
)
from tests.conftest import MODEL_CACHE, REPO
from tests.offline_guard import LOG_ENV, bootstrap, netns_problem, run_in_empty_netns

GUARD = Path(__file__).with_name("offline_guard.py")
OUTSIDE = "93.184.216.34"


def guarded(log: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(GUARD), str(log), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )


def bare_env(tmp_path: Path, log: Path) -> dict[str, str]:
    """Nothing inherited tells the libraries to stay offline; HOME is empty (no HF cache)."""
    return {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path / "home"),
        "PYTHONPATH": f"{bootstrap(tmp_path / 'guard')}{os.pathsep}{REPO}",
        LOG_ENV: str(log),
        "KBQA_PERSIST_DIR": str(tmp_path / "store"),
        "KBQA_MODEL_CACHE_DIR": str(MODEL_CACHE),
        "KBQA_LLM_MODEL": "smollm2-135m",
        "KBQA_MAX_NEW_TOKENS": "16",
    }


def kbqa(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "rag.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )


def armed(log: Path) -> str:
    return Path(f"{log}.armed").read_text(encoding="utf-8")


def test_guard_refuses_outside_connections(tmp_path):
    log = tmp_path / "net.log"
    out = guarded(log, "--selftest", env=dict(os.environ))
    assert out.returncode == 0 and "refused" in out.stdout
    assert OUTSIDE in log.read_text()


def test_guard_reaches_child_processes_and_every_way_out(tmp_path):
    """A grandchild's TCP connect, a UDP send and a name lookup are all refused and logged;
    loopback is left alone."""
    log = tmp_path / "net.log"
    probe = (
        "import socket, subprocess, sys\n"
        "for attempt in (\n"
        f"    lambda: socket.socket(type=socket.SOCK_DGRAM).sendto(b'x', ('{OUTSIDE}', 53)),\n"
        "    lambda: socket.getaddrinfo('example.com', 443),\n"
        "    lambda: socket.create_connection(('127.0.0.1', 9), timeout=1),\n"
        "):\n"
        "    try:\n"
        "        attempt()\n"
        "    except OSError as exc:\n"
        "        print(type(exc).__name__, exc)\n"
        f"child = \"import socket; socket.socket().connect(('{OUTSIDE}', 80))\"\n"
        "sys.exit(subprocess.run([sys.executable, '-c', child]).returncode)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        env=bare_env(tmp_path, log),
        timeout=60,
    )
    assert out.returncode != 0 and "offline guard" in out.stderr  # the grandchild was refused
    assert log.read_text().splitlines() == [
        f"socket.sendto {OUTSIDE}",
        "socket.getaddrinfo example.com",
        f"socket.connect {OUTSIDE}",
    ]
    assert len(armed(log).splitlines()) == 2  # child and grandchild both ran the guard


def tiny_dataset(path: Path) -> Path:
    rows = [
        ("Which planet is the largest?", "Jupiter", "Planets", "Jupiter is the largest planet."),
        ("What colour is Mars?", "red", "Planets", "Mars is called the red planet."),
        ("What feeds a sourdough starter?", "flour and water", "Bread", "Feed it flour and water."),
        ("Where is Mount Etna?", "Sicily", "Volcanoes", "Mount Etna is a volcano on Sicily."),
    ]
    path.write_text(
        "".join(
            json.dumps({"question": q, "answers": [a], "article": t, "context": c}) + "\n"
            for q, a, t, c in rows
        ),
        encoding="utf-8",
    )
    return path


@pytest.mark.slow
@pytest.mark.integration
def test_ingest_ask_eval_and_models_make_no_outside_connection(tmp_path, docs):
    log = tmp_path / "net.log"
    env = bare_env(tmp_path, log)
    dataset = tiny_dataset(tmp_path / "tiny.jsonl")
    commands = (
        ("ingest", str(docs)),
        ("ask", "Which planet is the largest?"),
        ("status",),
        ("models",),
        ("eval", str(dataset), "--limit", "2", "--out", str(tmp_path / "eval")),
    )
    for args in commands:
        out = kbqa(*args, env=env)
        assert out.returncode == 0, f"{args}: {out.stderr[-2000:]}"
    assert (tmp_path / "eval" / "report.md").is_file()
    assert len(armed(log).splitlines()) >= len(commands)
    assert not log.exists(), log.read_text()
    # Nothing was fetched into the (empty) home's Hugging Face cache either.
    assert not (tmp_path / "home" / ".cache" / "huggingface").exists()


def empty_netns_or_skip() -> None:
    """Outside CI a non-root user skips, with the reason; in CI, or as root, it must work."""
    problem = netns_problem()
    if problem is None:
        return
    if os.geteuid() != 0 and not os.environ.get("CI"):
        pytest.skip(f"the empty-network-namespace proof needs root: {problem}")
    pytest.fail(f"cannot create an empty network namespace: {problem}")


@pytest.mark.slow
@pytest.mark.integration
def test_native_code_reaches_nothing_in_an_empty_network_namespace(tmp_path, docs):
    """Ingest, ask with each in-process generator (transformers, and llama.cpp's native
    engine), and eval, all in a network namespace with loopback only: every packet bound
    outside goes into a sink that counts it, whichever library (Python or native) sent it.
    The Python guard runs too, so a refused Python call is named in its log."""
    empty_netns_or_skip()
    log = tmp_path / "net.log"
    env = bare_env(tmp_path, log)
    dataset = tiny_dataset(tmp_path / "tiny.jsonl")
    kbqa_argv = [sys.executable, "-m", "rag.cli"]
    commands = [
        {"argv": [*kbqa_argv, "ingest", str(docs)]},
        {"argv": [*kbqa_argv, "ask", "Which planet is the largest?"]},
        {
            "argv": [*kbqa_argv, "ask", "Which planet is the largest?"],
            "env": {"KBQA_LLM_BACKEND": "llamacpp"},
        },
        {"argv": [*kbqa_argv, "eval", str(dataset), "--limit", "1", "--out", str(tmp_path / "e")]},
    ]
    report = run_in_empty_netns(commands, env, tmp_path / "netns.json", timeout=600)
    assert report["interfaces"] == ["kbqa-out", "lo"]
    for result in report["results"]:
        assert result["returncode"] == 0, f"{result['argv'][3:]}: {result['stderr']}"
    assert report["sink_packets"] == 0, "a packet was sent towards the outside"
    assert not log.exists(), log.read_text()


@pytest.mark.slow  # namespaces and a 2 s connect that must hang
def test_the_network_namespace_sink_counts_native_and_python_sends(tmp_path):
    """The sink is a real detector: a connect from native code the audit hook cannot see
    (bash's ``/dev/tcp``, no Python) and a name lookup through libc are both counted."""
    empty_netns_or_skip()
    probe = (
        "import socket\n"
        "try:\n"
        "    socket.getaddrinfo('example.com', 443)\n"
        "except OSError:\n"
        "    pass\n"
    )
    env = {"PATH": os.environ.get("PATH", "")}
    report = run_in_empty_netns(
        [
            {"argv": ["timeout", "2", "bash", "-c", f"exec 3<>/dev/tcp/{OUTSIDE}/80"]},
            {"argv": [sys.executable, "-c", probe]},
        ],
        env,
        tmp_path / "netns.json",
        timeout=60,
    )
    assert report["interfaces"] == ["kbqa-out", "lo"]
    native, python = report["results"]
    assert native["returncode"] == 124 and python["returncode"] == 0, report  # the SYN hung
    assert native["sink_packets"] >= 1 and python["sink_packets"] >= 1, report


def test_importing_kbqa_turns_hugging_face_offline_and_telemetry_off(tmp_path):
    """In a bare environment, ``import rag`` is enough: hub and transformers refuse downloads."""
    code = (
        "import rag, os\n"
        "from huggingface_hub import constants\n"  # transformers asks the hub whether it is offline
        "print(constants.HF_HUB_OFFLINE, constants.is_offline_mode(),"
        " constants.HF_HUB_DISABLE_TELEMETRY, os.environ['TRANSFORMERS_OFFLINE'],"
        " os.environ['ANONYMIZED_TELEMETRY'])\n"
    )
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "PYTHONPATH": str(REPO)}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "True", "True", "1", "False"]


def test_chroma_telemetry_is_off_even_when_the_environment_asks_for_it(tmp_path, monkeypatch):
    from rag.settings import Settings
    from rag.store import chroma_client

    monkeypatch.setenv("ANONYMIZED_TELEMETRY", "True")
    client = chroma_client(Settings(persist_dir=tmp_path / "store"))
    assert client.get_settings().anonymized_telemetry is False


def test_streamlit_usage_stats_are_off_and_the_app_binds_loopback(tmp_path):
    """``kbqa app``'s own flags switch Streamlit's usage statistics off, even where no
    ``.streamlit/config.toml`` is read (another working folder, an empty home)."""
    probe = (
        "import os, sys\n"
        "from rag.cli import main\n"
        "def load_streamlit_config(file, argv, env):\n"  # instead of exec'ing Streamlit
        "    os.environ.update(env)\n"
        "    from streamlit import config\n"
        "    from streamlit.web import bootstrap, cli\n"
        "    bootstrap.run = lambda *a, **k: None\n"
        "    cli.main_run.main(args=argv[4:], standalone_mode=False)\n"
        "    print(config.get_option('browser.gatherUsageStats'),"
        " config.get_option('server.address'))\n"
        "    sys.exit(0)\n"
        "os.execvpe = load_streamlit_config\n"
        "main(['app'])\n"
    )
    (tmp_path / "home").mkdir()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path / "home"),
        "PYTHONPATH": str(REPO),
    }
    out = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["False", "127.0.0.1"]
    # And a bare `streamlit run app/streamlit_app.py` from the repository reads the same.
    config = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text(encoding="utf-8"))
    assert config["browser"]["gatherUsageStats"] is False
    assert config["server"]["address"] == "127.0.0.1"


@pytest.mark.slow
@pytest.mark.integration
def test_app_server_answers_in_a_browser_with_no_outside_connection(tmp_path, models):
    """The real ``kbqa app`` server, guarded, serves the page and answers a question asked in
    headless Chromium; the server process never tries to reach beyond 127.0.0.1."""
    problem = missing_browser()
    if problem:
        pytest.fail(problem)
    log = tmp_path / "net.log"
    store = prepare_store(tmp_path / "store", models)
    env = {**bare_env(tmp_path, log), **app_environment(store), "KBQA_KB": "default"}
    server_log = tmp_path / "app.log"
    with running_app(env, free_port(), server_log) as url, chromium() as driver:
        open_app(driver, url)
        answer = ask(driver, "Which planet is the largest planet in the Solar System?")
    assert "Sources" in answer and "solar.md" in answer, answer
    assert "Traceback" not in server_log.read_text(errors="replace")
    assert any("streamlit_app.py" in line for line in armed(log).splitlines())
    assert not log.exists(), log.read_text()
