"""Per-op application for targets without batch endpoints: bounded concurrency, one result per op, in order."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from enrolsync.connectors.errors import ConnectorError, TransientError
from enrolsync.connectors.ops import Op, OpResult


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
