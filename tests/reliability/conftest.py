"""Reliability fixtures: the session's `figures` (written to `.reliability.json` when the session ends), and the
API test fixtures (`tests/support/api_fixtures.py`) with their leak guard on, so the suite can drive the API as
the API tests do."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.figures import Figures
from tests.support.leaks import LeakGuard


@pytest.fixture(scope="session")
def figures() -> Iterator[Figures]:
    """The suite's running totals (see `tests/support/figures.py`)."""
    collected = Figures()
    yield collected
    collected.write()


@pytest.fixture(autouse=True)
def _guarded(leak_guard: LeakGuard) -> LeakGuard:
    """Every reliability test fails when a watched secret shows up in a response body or a log record."""
    return leak_guard
