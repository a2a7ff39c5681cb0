"""Retries for reads and other idempotent calls (the one retry layer on that path).

Writes are never retried here: `sync/apply.py` re-reads the target and retries ops that came back `retry`, so a
lost response cannot duplicate an effect.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    stop_after_delay,
    wait_exponential_jitter,
)

from enrolsync.connectors.base import ReadRetryPolicy
from enrolsync.connectors.errors import TransientError
from enrolsync.connectors.kit.clock import SYSTEM_CLOCK, Clock

T = TypeVar("T")


@dataclass(frozen=True)
class ReadRetry:
    """How a connector retries its reads: attempts, a total time budget, and the clock it sleeps on.

    The engine's `ReadRetryPolicy` (the contract names the shape, so it does not depend on this module)."""

    attempts: int = 5
    max_seconds: float = 300.0
    initial_wait: float = 1.0
    max_wait: float = 60.0
    clock: Clock = field(default=SYSTEM_CLOCK)
    on_retry: Callable[[], None] | None = None  # told before each retry's wait (the engine counts them)


def _wait(policy: ReadRetryPolicy) -> Callable[[RetryCallState], float]:
    backoff = wait_exponential_jitter(initial=policy.initial_wait, max=policy.max_wait)

    def wait(state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, TransientError) and error.retry_after is not None:
            # The remote system said when it is ready: waiting less is refused again, waiting more wastes time.
            return min(error.retry_after, policy.max_seconds)
        return backoff(state)

    return wait


async def with_retry(call: Callable[[], Awaitable[T]], policy: ReadRetryPolicy) -> T:
    """Run `call`, retrying on `TransientError` per `policy`; re-raises the last error when out of tries."""
    on_retry: Callable[[], None] | None = getattr(policy, "on_retry", None)  # optional beyond the contract's shape

    def before_sleep(state: RetryCallState) -> None:
        if on_retry is not None:
            on_retry()

    retrying = AsyncRetrying(
        retry=retry_if_exception_type(TransientError),
        before_sleep=before_sleep,
        wait=_wait(policy),
        stop=stop_after_attempt(policy.attempts) | stop_after_delay(policy.max_seconds),
        sleep=policy.clock.sleep,
        reraise=True,
    )
    async for attempt in retrying:
        with attempt:
            return await call()
    raise AssertionError("unreachable: tenacity re-raises")  # pragma: no cover
