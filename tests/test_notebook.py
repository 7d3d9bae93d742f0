"""CI executes the quickstart notebook with the small model, so it cannot rot."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tests.conftest import MODEL_CACHE

NOTEBOOK = Path(__file__).resolve().parents[1] / "examples" / "quickstart.ipynb"


@pytest.mark.slow
@pytest.mark.integration
def test_quickstart_notebook_runs(monkeypatch):
    monkeypatch.setenv("KBQA_LLM_MODEL", "smollm2-135m")
    monkeypatch.setenv("KBQA_MODEL_CACHE_DIR", str(MODEL_CACHE))
    monkeypatch.setenv("KBQA_MAX_NEW_TOKENS", "40")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(
        nb,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOK.parent)}},
    ).execute()
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    outputs = [o for cell in code for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    rich = [o for o in outputs if "text/html" in o.get("data", {})]
    assert rich, "an Answer should render as HTML in Jupyter"
    # The notebook's own first cell shows the settings its kernel built: the small model, so the
    # kernel read KBQA_* from this environment (not the 1.5B default).
    [shown] = [o["data"]["text/plain"] for o in code[0]["outputs"] if "data" in o]
    assert shown.startswith("('smollm2-135m', "), shown
