"""Offline, proven: ingest and ask run with every non-loopback connection refused and logged."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import MODEL_CACHE

GUARD = Path(__file__).with_name("offline_guard.py")


def guarded(log: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(GUARD), str(log), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )


def test_guard_refuses_outside_connections(tmp_path):
    log = tmp_path / "net.log"
    out = guarded(log, "--selftest", env=dict(os.environ))
    assert out.returncode == 0 and "refused" in out.stdout
    assert "93.184.216.34" in log.read_text()


@pytest.mark.slow
@pytest.mark.integration
def test_ingest_ask_and_models_make_no_outside_connection(tmp_path, docs):
    log = tmp_path / "net.log"
    # A bare environment: nothing inherited tells the libraries to stay offline.
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "KBQA_PERSIST_DIR": str(tmp_path / "store"),
        "KBQA_MODEL_CACHE_DIR": str(MODEL_CACHE),
        "KBQA_LLM_MODEL": "smollm2-135m",
        "KBQA_MAX_NEW_TOKENS": "16",
    }
    for args in (
        ("ingest", str(docs)),
        ("ask", "Which planet is the largest?"),
        ("status",),
        ("models",),
    ):
        out = guarded(log, *args, env=env)
        assert out.returncode == 0, f"{args}: {out.stderr[-2000:]}"
    assert not log.exists(), log.read_text()
