"""rag.eval's modules import one way: from the reading and scoring modules up to the harness."""

from __future__ import annotations

import grimp
import pytest

# Each module may import only modules listed before it (the order of rag/eval/__init__.py).
ORDER = (
    "rag.eval.metrics",
    "rag.eval.questions",
    "rag.eval.devset",
    "rag.eval.datasets",
    "rag.eval.naming",
    "rag.eval.gold",
    "rag.eval.scoring",
    "rag.eval.aggregate",
    "rag.eval.results",
    "rag.eval.plots",
    "rag.eval.report",
    "rag.eval.harness",
    "rag.eval.cli",
)


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("rag", include_external_packages=False)


def test_every_module_has_a_place(graph: grimp.ImportGraph) -> None:
    modules = {m for m in graph.modules if m.startswith("rag.eval.")}
    assert modules == set(ORDER)


@pytest.mark.parametrize("position", range(len(ORDER)))
def test_no_module_imports_one_above_it(graph: grimp.ImportGraph, position: int) -> None:
    lower = ORDER[position]
    for higher in ORDER[position + 1 :]:
        assert not graph.direct_import_exists(importer=lower, imported=higher), (lower, higher)
