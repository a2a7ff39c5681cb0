"""Isolating the bad record of an all-or-nothing batch call.

Moodle runs create_users, enrol_users and assign_roles in one delegated transaction: one bad record rolls the whole
call back and the error does not say which record it was. Bisecting lands every good record and leaves the bad one
alone with Moodle's error, in about 2*log2(n) extra calls per bad record. Nothing applied is ever re-sent, since a
rejected call changed nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

import structlog

from enrolsync.connectors.errors import AuthError, ConnectorError, TransientError
from enrolsync.connectors.moodle.errors import op_failure
from enrolsync.connectors.ops import OpResult

Item = TypeVar("Item")
Answer = TypeVar("Answer")

log = structlog.get_logger("enrolsync.connectors.moodle")


async def send_isolated(
    items: Sequence[Item],
    send: Callable[[Sequence[Item]], Awaitable[Sequence[Answer]]],
    record: Callable[[Item, Answer | ConnectorError], None],
) -> None:
    """Send `items` in one call; when it is refused for a record, split and resend until the bad one stands alone.

    `send` returns one answer per item. `record` gets each item's answer or the error that refused it alone, as soon
    as it is known, so progress survives a later failure. Auth and transient errors refuse every record alike:
    they propagate at once.
    """
    if not items:
        return
    try:
        answers = await send(items)
    except (AuthError, TransientError):
        raise
    except ConnectorError as error:
        if len(items) == 1:
            record(items[0], error)
            return
        log.debug("moodle.batch_split", size=len(items), reason=error.reason)
        middle = len(items) // 2
        await send_isolated(items[:middle], send, record)
        await send_isolated(items[middle:], send, record)
        return
    for item, answer in zip(items, answers, strict=True):
        record(item, answer)


def record_into(out: dict[int, OpResult]) -> Callable[[tuple[int, object], OpResult | ConnectorError], None]:
    """A `record` for items `(op index, payload)` whose answers are op results."""

    def record(item: tuple[int, object], answer: OpResult | ConnectorError) -> None:
        out[item[0]] = op_failure(answer) if isinstance(answer, ConnectorError) else answer

    return record
