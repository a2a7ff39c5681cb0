"""Running ops one request each, concurrently within the connection's budget (LearnUpon has no batch endpoint for
users or memberships). Auth errors stop the whole call; every other error is that op's result."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from enrolsync.connectors.errors import AuthError, ConnectorError
from enrolsync.connectors.learnupon.errors import op_failure
from enrolsync.connectors.ops import OpResult

Outcomes = dict[int, OpResult]
Item = TypeVar("Item")


async def each(
    items: Sequence[tuple[int, Item]],
    apply_one: Callable[[Item], Awaitable[OpResult]],
    out: Outcomes,
    *,
    concurrency: int,
) -> None:
    """Apply `apply_one` to every item, at most `concurrency` at a time; record each result under its index."""
    slots = asyncio.Semaphore(concurrency)

    async def run(index: int, item: Item) -> None:
        async with slots:
            try:
                out[index] = await apply_one(item)
            except AuthError:
                raise
            except ConnectorError as error:
                out[index] = op_failure(error)

    await asyncio.gather(*(run(index, item) for index, item in items))


def numeric(value: str | None) -> int | None:
    """A LearnUpon record id from an id string, or None when it is not one."""
    if value is None or not value.isdigit() or int(value) < 1:
        return None
    return int(value)
