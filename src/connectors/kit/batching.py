"""Per-op application for targets without batch endpoints: bounded concurrency, one result per op, in order; and
`all_of`, for independent calls a connector sends at once."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Sequence
from typing import Any, TypeVar

from enrolsync.connectors.errors import ConnectorError, TransientError
from enrolsync.connectors.ops import Op, OpResult

T = TypeVar("T")


def result_for_error(error: ConnectorError) -> OpResult:
    """A per-op outcome for a connector error: transient ones are `retry`, the rest `failed`."""
    if isinstance(error, TransientError):
        return OpResult.retry(error.reason, status=error.status, retry_after=error.retry_after)
    return OpResult.failed(error.reason, status=error.status)


async def apply_each(
    ops: Sequence[Op], apply_one: Callable[[Op], Awaitable[OpResult]], *, concurrency: int = 4
) -> list[OpResult]:
    slots = asyncio.Semaphore(concurrency)

    async def run(op: Op) -> OpResult:
        async with slots:
            try:
                return await apply_one(op)
            except ConnectorError as error:
                return result_for_error(error)

    return list(await asyncio.gather(*(run(op) for op in ops)))


async def all_of(calls: Iterable[Coroutine[Any, Any, T]]) -> list[T]:
    """Await independent calls at once; their answers in the order given.

    How many are in flight is the client's business (its concurrency cap and rate limiter), not this function's.
    The first failure cancels the calls still running and is raised as itself, not as an exception group, so a
    caller handles it as it would the failure of one call.
    """
    pending = list(calls)
    if len(pending) <= 1:
        return [await call for call in pending]
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(call) for call in pending]
    except* Exception as failed:
        raise failed.exceptions[0] from None
    return [task.result() for task in tasks]
