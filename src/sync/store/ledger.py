"""The engine's set-based queries: person snapshots, link updates and op outcomes, written in bulk.

CRUD for the control plane lives in `repo.py`; this module holds what a run does thousands of times, so each
call works on a chunk of rows in one statement and one transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from enrolsync.sync.store.tables import Link, Pipeline, Run, RunOp, RunOpStatus, utcnow


async def _execute(session: AsyncSession, stmt: Any, params: Any = None) -> Any:
    # Core statements go through the session's connection: sqlmodel deprecates `session.execute` for ORM use.
    connection = await session.connection()
    return await connection.execute(stmt, params) if params is not None else await connection.execute(stmt)


_LINK = Link.__table__  # type: ignore[attr-defined]
_RUN_OP = RunOp.__table__  # type: ignore[attr-defined]
_IN_CHUNK = 500  # well under SQLite's bound-parameter cap


def _insert(session: AsyncSession, table: Any) -> Any:
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


async def upsert_persons(
    session: AsyncSession,
    *,
    pipeline_id: str,
    persons: Mapping[str, dict[str, Any]],
    digests: Mapping[str, str] | None = None,
) -> None:
    """Store the person as last read for each hr_id, with its digest (`digests`, else none), creating links
    (without an account) as needed. A person the source returns is no longer gone from it, and a changed person
    is looked for again by matching (`Link.sought_on`)."""
    if not persons:
        return
    now = utcnow()
    rows = [
        {
            "pipeline_id": pipeline_id,
            "hr_id": hr_id,
            "person": person,
            "person_fp": None if digests is None else digests.get(hr_id),
            "applied": {},
            "gone_at": None,
            "sought_on": None,
            "updated_at": now,
        }
        for hr_id, person in persons.items()
    ]
    stmt = _insert(session, _LINK).values(rows)
    stmt = stmt.on_conflict_do_update(
        index_elements=["pipeline_id", "hr_id"],
        set_={
            "person": stmt.excluded.person,
            "person_fp": stmt.excluded.person_fp,
            "gone_at": None,
            "sought_on": None,
            "updated_at": stmt.excluded.updated_at,
        },
    )
    await _execute(session, stmt)


async def _select_in(
    session: AsyncSession, columns: Sequence[Any], pipeline_id: str, hr_ids: Sequence[str]
) -> list[Any]:
    rows: list[Any] = []
    for start in range(0, len(hr_ids), _IN_CHUNK):
        stmt = sa.select(*columns).where(
            _LINK.c.pipeline_id == pipeline_id, _LINK.c.hr_id.in_(hr_ids[start : start + _IN_CHUNK])
        )
        rows.extend((await _execute(session, stmt)).all())
    return rows


async def store_persons(
    session: AsyncSession, *, pipeline_id: str, persons: Mapping[str, dict[str, Any]], digests: Mapping[str, str]
) -> set[str]:
    """Store a page of persons as read (`upsert_persons`), writing only the links whose record changed, that are
    new, or that were gone from the source: an unchanged person costs a comparison of `digests` (each person's
    digest, stored as `Link.person_fp`), not a write; only a changed person's stored record is read.

    Returns:
        The managers of the persons read, before and after: a report's change (a move, a leave) can change
        what their manager's account holds.
    """
    c = _LINK.c
    stored = {
        hr_id: (fp, gone_at is not None)
        for hr_id, fp, gone_at in await _select_in(
            session, [c.hr_id, c.person_fp, c.gone_at], pipeline_id, sorted(persons)
        )
    }
    changed = {
        hr_id: person
        for hr_id, person in persons.items()
        if hr_id not in stored or stored[hr_id][1] or stored[hr_id][0] != digests[hr_id]
    }
    # A manager change moves the manager role's scope: both the old and the new manager are re-planned. An
    # unchanged person's old manager is their manager now.
    managers = {m for person in persons.values() if (m := person.get("manager_hr_id"))}
    known = sorted(h for h in changed if h in stored)
    for _, old in await _select_in(session, [c.hr_id, c.person], pipeline_id, known):
        if m := (old or {}).get("manager_hr_id"):
            managers.add(m)
    await upsert_persons(session, pipeline_id=pipeline_id, persons=changed, digests=digests)
    return managers


def _owners_query(*, by_target: bool) -> Any:
    link, pipeline = _LINK, Pipeline.__table__  # type: ignore[attr-defined]
    scope = (
        pipeline.c.target_id == sa.bindparam("b_target_id")
        if by_target
        else link.c.pipeline_id == sa.bindparam("b_pipeline_id")
    )
    return (
        sa.select(link.c.account_id, link.c.hr_id, link.c.pipeline_id, pipeline.c.name)
        .join(pipeline, pipeline.c.id == link.c.pipeline_id)
        .where(link.c.account_id.in_(sa.bindparam("b_account_ids", expanding=True)), scope)
    )


# Built once: the executor asks for every batch of creates, and building a statement costs more than running it.
_OWNERS_IN_PIPELINE = _owners_query(by_target=False)
_OWNERS_ON_TARGET = _owners_query(by_target=True)


async def account_owners(
    session: AsyncSession, *, pipeline_id: str, account_ids: Sequence[str], target_id: str | None = None
) -> dict[str, str]:
    """Who each of `account_ids` is already linked to (for conflict detection when matching): the hr_id in this
    pipeline; with `target_id`, also links of other pipelines writing to that connection, named with their
    pipeline (`A7 of pipeline 'emea'`) so the conflict says whose the account is."""
    owners: dict[str, str] = {}
    others: dict[str, str] = {}
    stmt = _OWNERS_IN_PIPELINE if target_id is None else _OWNERS_ON_TARGET
    for start in range(0, len(account_ids), 900):
        params = {"b_account_ids": list(account_ids[start : start + 900]), "b_pipeline_id": pipeline_id}
        params |= {"b_target_id": target_id} if target_id is not None else {}
        for account_id, hr_id, owner_pipeline, name in (await _execute(session, stmt, params)).all():
            if owner_pipeline == pipeline_id:
                owners[account_id] = hr_id
            else:
                others[account_id] = f"{hr_id} of pipeline {name!r}"
    # This pipeline's own link wins: it is the one this pipeline keeps in step.
    return others | owners


async def add_ops(session: AsyncSession, *, run_id: str, ops: Sequence[tuple[int, str, str, dict[str, Any]]]) -> None:
    """Insert planned ops: (seq, hr_id, kind, op JSON) each."""
    if ops:
        now = utcnow()
        await _execute(
            session,
            sa.insert(RunOp),
            [
                {
                    "run_id": run_id,
                    "seq": seq,
                    "hr_id": hr_id,
                    "kind": kind,
                    "op": op,
                    "status": "planned",
                    "attempts": 0,
                    "updated_at": now,
                }
                for seq, hr_id, kind, op in ops
            ],
        )


_RUN = Run.__table__  # type: ignore[attr-defined]
_COUNT_APPLIED = (
    sa.update(_RUN)
    .where(_RUN.c.id == sa.bindparam("b_run_id"))
    .values(ops_applied=_RUN.c.ops_applied + sa.bindparam("b_applied", type_=sa.Integer))
)


async def count_applied(session: AsyncSession, *, run_id: str, applied: int) -> None:
    """Add `applied` to the run's `ops_applied` in one statement, so concurrent batches never lose a count."""
    await _execute(session, _COUNT_APPLIED, {"b_run_id": run_id, "b_applied": applied})


class _JsonText(sa.types.TypeDecorator[str]):
    """A JSON column written from text that is already JSON (pydantic's `model_dump_json`), not from a dict:
    SQLAlchemy's JSON type would serialise it once more. The column type stays JSON, so PostgreSQL's driver
    casts and stores the text as JSON."""

    impl = sa.JSON
    cache_ok = True

    def bind_processor(self, dialect: sa.Dialect) -> None:
        return None


@dataclass
class AppliedLink:
    """The part of a link the executor reads and writes: no ORM object, so a batch costs one SELECT and one
    executemany UPDATE instead of an object and a flush per row. `applied` is the stored JSON text: the executor
    parses it with pydantic once per batch and writes pydantic's JSON back, never through a dict."""

    hr_id: str
    account_id: str | None
    applied: str
    last_error: str | None
    last_error_at: datetime | None
    updated_at: datetime
    # The digest of `applied` (`Link.applied_fp`) when the executor wrote it, else None ("unknown"): `save_links`
    # stores it with `applied`, so a link whose state this run did not record gets no digest it might not match.
    applied_fp: str | None = None


_APPLIED_LINKS = sa.select(
    _LINK.c.hr_id,
    _LINK.c.account_id,
    sa.cast(_LINK.c.applied, sa.Text).label("applied"),  # the text as stored, on SQLite and PostgreSQL alike
    _LINK.c.last_error,
    _LINK.c.last_error_at,
    _LINK.c.updated_at,
).where(
    _LINK.c.pipeline_id == sa.bindparam("b_pipeline_id"), _LINK.c.hr_id.in_(sa.bindparam("b_hr_ids", expanding=True))
)


async def applied_links(session: AsyncSession, *, pipeline_id: str, hr_ids: Iterable[str]) -> dict[str, AppliedLink]:
    """The links of `hr_ids` (unknown ids are absent), as the executor needs them."""
    wanted = sorted(set(hr_ids))
    found: dict[str, AppliedLink] = {}
    for start in range(0, len(wanted), _IN_CHUNK):
        params = {"b_pipeline_id": pipeline_id, "b_hr_ids": wanted[start : start + _IN_CHUNK]}
        for row in (await _execute(session, _APPLIED_LINKS, params)).all():
            found[row.hr_id] = AppliedLink(
                hr_id=row.hr_id,
                account_id=row.account_id,
                applied=row.applied or "{}",
                last_error=row.last_error,
                last_error_at=row.last_error_at,
                updated_at=row.updated_at,
            )
    return found


async def save_links(session: AsyncSession, *, pipeline_id: str, links: Iterable[AppliedLink]) -> None:
    """Write the executor's link changes back, all in one executemany UPDATE."""
    params = [
        {
            "b_pipeline_id": pipeline_id,
            "b_hr_id": link.hr_id,
            "b_account_id": link.account_id,
            "b_applied": link.applied,
            "b_applied_fp": link.applied_fp,
            "b_last_error": link.last_error,
            "b_last_error_at": link.last_error_at,
            "b_updated_at": link.updated_at,
        }
        for link in links
    ]
    if params:
        await _execute(session, _SAVE_LINK, params)


def _bound(table: Any, *names: str) -> dict[str, Any]:
    # Typed bind parameters: the JSON and UTC timestamp columns convert values as the ORM would.
    return {name: sa.bindparam(f"b_{name}", type_=table.c[name].type) for name in names}


_SAVE_LINK = (
    sa.update(_LINK)
    .where(_LINK.c.pipeline_id == sa.bindparam("b_pipeline_id"), _LINK.c.hr_id == sa.bindparam("b_hr_id"))
    .values(
        **_bound(_LINK, "account_id", "last_error", "last_error_at", "updated_at"),
        applied=sa.bindparam("b_applied", type_=_JsonText()),
        applied_fp=sa.bindparam("b_applied_fp", type_=sa.String()),
    )
)
_OUTCOME = ("status", "attempts", "last_error", "ref", "updated_at")
_SAVE_OUTCOME = sa.update(_RUN_OP).where(_RUN_OP.c.id == sa.bindparam("b_id")).values(**_bound(_RUN_OP, *_OUTCOME))
_SAVE_OUTCOME_AND_OP = (
    sa.update(_RUN_OP)
    .where(_RUN_OP.c.id == sa.bindparam("b_id"))
    .values(**_bound(_RUN_OP, *_OUTCOME), op=sa.bindparam("b_op", type_=_JsonText()))
)


async def save_outcomes(session: AsyncSession, *, rows: Sequence[PlannedOp], with_op: Iterable[int] = ()) -> None:
    """Write ops' outcomes (status, attempts, error, ref) in one executemany UPDATE; the op JSON too for the rows
    whose ids are in `with_op` (ops the executor completed with an account id known only at apply time)."""
    rewritten = set(with_op)
    plain: list[dict[str, Any]] = []
    full: list[dict[str, Any]] = []
    for row in rows:
        params = {"b_id": row.id, **{f"b_{name}": getattr(row, name) for name in _OUTCOME}}
        if row.id in rewritten:
            full.append({**params, "b_op": row.op})
        else:
            plain.append(params)
    if plain:
        await _execute(session, _SAVE_OUTCOME, plain)
    if full:
        await _execute(session, _SAVE_OUTCOME_AND_OP, full)


@dataclass
class PlannedOp:
    """One run op as the executor holds it: read with one SELECT per chunk, its outcome written back with
    `save_outcomes` (a plain object: setting fields on an ORM instance costs more than the op's whole record).
    `op` is the op's stored JSON text, which pydantic parses straight into an `Op` (`OP_ADAPTER.validate_json`)."""

    id: int
    seq: int
    hr_id: str
    kind: str
    op: str
    status: str
    attempts: int
    last_error: str | None = None
    ref: str | None = None
    updated_at: datetime | None = None


_NEXT_PLANNED = (
    sa.select(
        *(_RUN_OP.c[name] for name in ("id", "seq", "hr_id", "kind")),
        sa.cast(_RUN_OP.c.op, sa.Text).label("op"),  # the text as stored, on SQLite and PostgreSQL alike
        *(_RUN_OP.c[name] for name in ("status", "attempts", "last_error", "ref", "updated_at")),
    )
    .where(
        _RUN_OP.c.run_id == sa.bindparam("b_run_id"),
        _RUN_OP.c.status == RunOpStatus.PLANNED,
        _RUN_OP.c.seq > sa.bindparam("b_after", type_=sa.Integer),
    )
    .order_by(_RUN_OP.c.seq)
    .limit(sa.bindparam("b_limit", type_=sa.Integer))
)
_BEFORE_ALL = -(2**31)  # below every op's number (a 32-bit column)


async def next_planned(session: AsyncSession, *, run_id: str, limit: int, after: int | None = None) -> list[PlannedOp]:
    """The run's first `limit` ops still `planned`, in plan order (`seq`); with `after`, only those numbered
    after it. The executor passes the last number it took, so each call reads on from there through the
    (run_id, seq) index instead of passing over every op already applied (quadratic over a large run)."""
    params = {"b_run_id": run_id, "b_after": _BEFORE_ALL if after is None else after, "b_limit": limit}
    return [PlannedOp(**row._mapping) for row in (await _execute(session, _NEXT_PLANNED, params)).all()]


async def op_counts(session: AsyncSession, *, run_id: str) -> dict[str, dict[str, int]]:
    """{kind: {status: n}} for a run."""
    stmt = (
        sa.select(RunOp.kind, RunOp.status, sa.func.count())  # type: ignore[call-overload]
        .where(RunOp.run_id == run_id)
        .group_by(RunOp.kind, RunOp.status)
    )
    counts: dict[str, dict[str, int]] = {}
    for kind, status, n in (await _execute(session, stmt)).all():
        counts.setdefault(kind, {})[status] = int(n)
    return counts


async def delete_ops(session: AsyncSession, *, run_id: str) -> None:
    """Drop a run's ops (a partial plan left by an attempt that died while planning)."""
    await _execute(session, sa.delete(RunOp).where(col(RunOp.run_id) == run_id))


async def has_ops(session: AsyncSession, *, run_id: str) -> bool:
    stmt = sa.select(sa.func.count()).where(col(RunOp.run_id) == run_id)
    return int((await _execute(session, stmt)).scalar_one()) > 0
