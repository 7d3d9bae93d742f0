"""Every rag.eval module's docstring examples run, and pass: a module without any fails here."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import rag.eval

MODULES = sorted(m.name for m in pkgutil.iter_modules(rag.eval.__path__, "rag.eval."))


def test_every_module_is_listed() -> None:
    # A module added to rag/eval joins the check below without editing this file.
    assert {"rag.eval.harness", "rag.eval.gold", "rag.eval.report", "rag.eval.devset"} <= set(
        MODULES
    )


@pytest.mark.parametrize("name", ["rag.eval", *MODULES])
def test_docstring_examples_run_and_hold(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0, f"{name} has no docstring example"
    assert result.failed == 0
