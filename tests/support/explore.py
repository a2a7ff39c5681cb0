"""Driving an async check with hypothesis: examples are drawn in a worker thread and each one is checked on the
test's own event loop (hypothesis's `@given` is synchronous; the engine and the database are not).

Only tests/reliability/test_bad_input.py uses it today; it lives here because it knows nothing of that module's
inputs (any async property check can use it) and that module is near the 300-line bound."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

T = TypeVar("T")
Check = Callable[[T], Coroutine[Any, Any, Any]]


def _drive(strategy: st.SearchStrategy[T], check: Check[T], loop: asyncio.AbstractEventLoop, n: int) -> None:
    @settings(
        max_examples=n,
        deadline=None,
        derandomize=True,  # the same inputs on every run: CI and a developer see the same failure
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(value=strategy)
    def run(value: T) -> None:
        asyncio.run_coroutine_threadsafe(check(value), loop).result(timeout=120)

    run()


async def explore(strategy: st.SearchStrategy[T], check: Check[T], *, examples: int) -> None:
    """Check `examples` values drawn from `strategy` (shrinking a failure to its smallest example)."""
    await asyncio.to_thread(_drive, strategy, check, asyncio.get_running_loop(), examples)
