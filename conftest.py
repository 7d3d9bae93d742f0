"""Test-tier switches for the whole repository: the doctests in ``rag``, ``ingest`` and ``app``
as well as ``tests/`` (the fixtures live in ``tests/conftest.py``).

- ``KBQA_TEST_NO_WEIGHTS=1`` (``make test-fast``): loading any model's weights fails the test
  (``tests/no_weights.py``).
- ``HYPOTHESIS_PROFILE``: ``fast`` (``make test-fast``) or ``full`` (the default: ``make test``
  and CI).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from tests import no_weights

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

# Importing these runs an app or a command; their doctests (none) are not worth the side effects.
collect_ignore = ["app/streamlit_app.py", "ingest/__main__.py"]
TESTS = Path(__file__).resolve().parent / "tests"


@pytest.hookimpl(wrapper=True)
def pytest_collect_file(file_path: Path, parent: pytest.Collector):
    """``--doctest-modules`` is for the library: the test files hold no doctests, and collecting
    their ``conftest.py`` files as modules would import them a second time."""
    collected = yield
    if TESTS in file_path.parents:
        return [c for c in collected if type(c).__name__ != "DoctestModule"]
    return collected


# Derandomized with no example database, so every run sees the same examples.
_PROFILE = dict(
    deadline=10_000,  # ms; generous for a shared CPU, yet a quadratic blow-up would still show
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile("full", max_examples=150, **_PROFILE)
settings.register_profile("fast", max_examples=10, **_PROFILE)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "full"))

pytest_plugins = ["pytester"]  # tests/test_tiers.py runs the tiers' rules on small suites

NO_WEIGHTS = os.environ.get(no_weights.ENV) == "1"
if NO_WEIGHTS:
    no_weights.install()


def pytest_runtest_setup(item: pytest.Item) -> None:
    no_weights.attempts.clear()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """A refused load fails its test even where the exception was swallowed (a worker thread,
    an ``except BaseException``)."""
    report = yield
    if NO_WEIGHTS and no_weights.attempts and report.passed and call.when != "teardown":
        report.outcome = "failed"
        report.longrepr = (
            f"{no_weights.ENV}=1: this test tried to load weights: {no_weights.attempts}"
        )
    return report
