"""The layers hold: ``lint-imports`` keeps the contract in ``.importlinter`` (README "Layout").

The second test proves the check can fail: a copy of the source with one import pointing back
up a layer (the chain importing the facade, as it did before issue 14) breaks the contract.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
PACKAGES = ("rag", "ingest", "app")


def lint(root: Path) -> subprocess.CompletedProcess[str]:
    assert LINT_IMPORTS.exists(), "import-linter is missing: pip install -e '.[test]'"
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(root / ".importlinter"), "--no-cache"],
        cwd=root,
        env={"PYTHONPATH": str(root), "PATH": str(LINT_IMPORTS.parent)},
        capture_output=True,
        text=True,
        timeout=120,
    )


def copy_source(target: Path) -> Path:
    for package in PACKAGES:
        shutil.copytree(
            REPO / package, target / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copy(REPO / ".importlinter", target / ".importlinter")
    return target


def test_layers_have_no_arrow_back_up():
    result = lint(REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "back_import", "broken"),
    [
        # the chain reaching back into the facade (the cycle issue 14 removed)
        ("rag/chain.py", "from rag.kb import KnowledgeBase", "kbqa layers"),
        # ingest reaching up into a component for a type
        ("ingest/pipeline.py", "from rag.store import FileRegistry", "kbqa layers"),
        # a command module reaching back into the CLI for its private helper
        ("ingest/reindex.py", "from rag.cli import _kb", "kbqa layers"),
        # model loading reaching back into the backends (rag/llm ⇄ rag/models)
        ("rag/models.py", "from rag.llm import load_chat_model", "components"),
        # two sibling modules importing each other inside one layer (app/chat imports app/ui)
        ("app/ui.py", "from app.chat import new_chat", "no import cycle"),
    ],
)
def test_a_back_import_breaks_the_contract(tmp_path, module, back_import, broken):
    root = copy_source(tmp_path)
    path = root / module
    text = path.read_text(encoding="utf-8")
    anchor = "from __future__ import annotations\n"
    assert anchor in text
    path.write_text(text.replace(anchor, f"{anchor}\n{back_import}\n", 1), encoding="utf-8")
    result = lint(root)
    assert result.returncode != 0
    assert f"{broken}" in result.stdout and "BROKEN" in result.stdout, result.stdout
