"""How LangChain's standard test suites (``langchain-tests``) are collected here.

The suites are classes whose ``async def`` tests need pytest-asyncio; they are marked here as
they are collected, so nothing outside this folder runs in an event loop.
"""

from __future__ import annotations

import inspect

import pytest


@pytest.hookimpl(tryfirst=True)
def pytest_pycollect_makeitem(collector: pytest.Collector, name: str, obj: object) -> None:
    if collector.funcnamefilter(name) and inspect.iscoroutinefunction(obj):
        pytest.mark.asyncio(obj)
