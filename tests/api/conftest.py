"""API tests: the fixtures of `tests/support/api_fixtures.py` (an app on the `db` database, clients per role), and
its leak guard on for every test here."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
import structlog

from tests.support.leaks import LeakGuard


@pytest.fixture(autouse=True)
def _guarded(leak_guard: LeakGuard) -> LeakGuard:
    """Every API test fails when a watched secret shows up in a response body or a log record."""
    return leak_guard


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """The CLI and `configure_logging` change process-wide logging; put it back so other tests keep pytest's
    capture."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers, root.level = handlers, level
    structlog.reset_defaults()
