"""Queries the control plane needs that `sync.store.repo` does not offer yet, and cursor pagination.

Lists are keyset-paginated: the cursor is the id of the last item of a page, and the next page starts after that
row's sort key, so items added or removed meanwhile never shift a page.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import SQLModel, col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

from enrolsync.api.problems import BAD_REQUEST, Problem, conflict
from enrolsync.sync.store.tables import Connection, Event, Pipeline, Run, RunOp

M = TypeVar("M", bound=SQLModel)

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


@dataclass(frozen=True)
class Keyset(Generic[M]):
    """How a list is ordered: sort columns ending with the unique id column, all ascending or all descending."""

    model: type[M]
    columns: tuple[Any, ...]
    descending: bool = False

    @property
    def id_column(self) -> Any:
        return self.columns[-1]


def _after(keyset: Keyset[M], values: Sequence[Any]) -> sa.ColumnElement[bool]:
    # (a, b) > (x, y) spelt out as a > x OR (a = x AND b > y): row values compare differently across dialects.
    clauses: list[sa.ColumnElement[bool]] = []
    for index, column in enumerate(keyset.columns):
        beyond = column < values[index] if keyset.descending else column > values[index]
        equal = [keyset.columns[i] == values[i] for i in range(index)]
        clauses.append(sa.and_(*equal, beyond))
    return sa.or_(*clauses)


async def page(
    session: AsyncSession,
    stmt: SelectOfScalar[M],
    keyset: Keyset[M],
    *,
    after: str | None,
    limit: int,
) -> tuple[list[M], str | None]:
    """One page of `stmt` in `keyset` order after the item whose id is `after`; returns (items, next cursor).

    Raises:
        Problem: 400 when `after` is not the id of an item in this list.
    """
    if after is not None:
        key_stmt = select(keyset.model).where(keyset.id_column == _id_value(keyset, after))
        if stmt.whereclause is not None:
            key_stmt = key_stmt.where(stmt.whereclause)  # a cursor from another list (or filter) is refused
        last = (await session.exec(key_stmt)).first()
        if last is None:
            raise _bad_cursor(after)
        stmt = stmt.where(_after(keyset, [getattr(last, column.key) for column in keyset.columns]))
    order = [column.desc() if keyset.descending else column.asc() for column in keyset.columns]
    rows = list((await session.exec(stmt.order_by(*order).limit(limit + 1))).all())
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    return rows, str(getattr(rows[-1], keyset.id_column.key))


def _bad_cursor(after: str) -> Problem:
    return Problem(400, f"the cursor {after!r} names no item of this list", type_=BAD_REQUEST, title="Bad cursor")


def _id_value(keyset: Keyset[Any], after: str) -> Any:
    if keyset.id_column.type.python_type is int:
        try:
            return int(after)
        except ValueError:
            raise _bad_cursor(after) from None
    return after


CONNECTIONS_ORDER: Keyset[Connection] = Keyset(Connection, (col(Connection.created_at), col(Connection.id)))
PIPELINES_ORDER: Keyset[Pipeline] = Keyset(Pipeline, (col(Pipeline.created_at), col(Pipeline.id)))
RUNS_ORDER: Keyset[Run] = Keyset(Run, (col(Run.created_at), col(Run.id)), descending=True)
OPS_ORDER: Keyset[RunOp] = Keyset(RunOp, (col(RunOp.seq), col(RunOp.id)))
EVENTS_ORDER: Keyset[Event] = Keyset(Event, (col(Event.received_at), col(Event.id)), descending=True)


async def pipelines_using(session: AsyncSession, *, connection_id: str) -> int:
    """How many pipelines read from or write to a connection."""
    stmt = (
        select(func.count())
        .select_from(Pipeline)
        .where(sa.or_(col(Pipeline.source_id) == connection_id, col(Pipeline.target_id) == connection_id))
    )
    return int((await session.exec(stmt)).one())


async def commit_or_conflict(session: AsyncSession, detail: str) -> None:
    """Commit; a unique or foreign-key violation rolls back and answers 409 with `detail`."""
    async with conflicts(session, detail):
        await session.commit()


@asynccontextmanager
async def conflicts(session: AsyncSession, detail: str) -> AsyncIterator[None]:
    """Inside the block, a unique or foreign-key violation (at flush or commit) rolls back and answers 409."""
    try:
        yield
    except IntegrityError:
        await session.rollback()
        raise conflict(detail) from None


async def delete_where(session: AsyncSession, model: type[SQLModel], *where: sa.ColumnElement[bool]) -> None:
    """Delete the rows of `model` matching `where`; the caller commits."""
    await session.exec(sa.delete(model).where(*where))
