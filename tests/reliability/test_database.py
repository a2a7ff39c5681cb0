"""Database faults: our own database going away mid-run stops the run cleanly (every batch's outcomes and link
updates commit together, or not at all) and a worker resumes it later, as the next generation, without
repeating an effect on the target.

SQLite: a session factory whose commits fail from the Nth on. PostgreSQL: the test database's connections are
terminated (`pg_terminate_backend`) while a batch is in flight; the shared server is never restarted.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence
from datetime import timedelta
from typing import Any, ClassVar

import psycopg
import pytest
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from enrolsync.connectors.base import ConnectorInfo
from enrolsync.connectors.memory import MemorySource, MemoryTarget
from enrolsync.connectors.ops import OP_ADAPTER, CreateUser, Op, OpResult
from enrolsync.connectors.registry import Registry
from enrolsync.sync.jobs import maintenance
from enrolsync.sync.plan.diff import record
from enrolsync.sync.rules.desired import DesiredState
from enrolsync.sync.run import steps
from enrolsync.sync.store.tables import Link, Run, RunOp, RunOpStatus, RunStatus, utcnow
from tests.support.database import Database
from tests.support.factories import employee as person
from tests.support.factories import seed
from tests.support.figures import Figures
from tests.support.harness import Engine, RecordingQueue, make_engine

DONE = (RunOpStatus.DONE, RunOpStatus.ALREADY)


pytestmark = pytest.mark.usefixtures("cleanup_datasets")  # forget the memory systems made


def company(engine: Engine, size: int = 12) -> None:
    seed(engine.data, person("M"), *(person(f"P{i:02d}", manager="M") for i in range(size - 1)))


async def requested(engine: Engine) -> str:
    return await engine.request()


async def consistent_links(engine: Engine, run_id: str) -> int:
    """Each link holds exactly what the run's recorded outcomes say was applied: no outcome without its link
    update, no link update without its outcome. Returns the number of ops checked."""
    async with engine.db.sessions() as session:
        ops = list((await session.exec(select(RunOp).where(col(RunOp.run_id) == run_id))).all())
        links = {
            link.hr_id: link
            for link in (await session.exec(select(Link).where(col(Link.pipeline_id) == engine.pipeline_id))).all()
        }
    expected: dict[str, DesiredState | None] = {}
    accounts: dict[str, str | None] = {}
    for row in sorted(ops, key=lambda r: r.seq):
        if row.status in DONE:
            op: Op = OP_ADAPTER.validate_python(row.op)
            expected[row.hr_id] = record(expected.get(row.hr_id), op)
            if isinstance(op, CreateUser):
                accounts[row.hr_id] = row.ref
    for hr_id, link in links.items():
        want = expected.get(hr_id)
        assert link.applied == (want.model_dump(mode="json") if want else {}), hr_id
        assert link.account_id == accounts.get(hr_id), hr_id
    return len(ops)


async def resume(engine: Engine, run_id: str) -> Run:
    """What a worker's maintenance loop does once the database answers: take the run over once its lease
    lapsed (at once when the run could be handed back, after the lease time when even that failed)."""
    fake = maintenance.Engine(queue=engine.queue, state=_no_workflow, abandon=_nothing)
    later = utcnow() + timedelta(seconds=engine.rt.lease_seconds + 1)
    assert await maintenance.reap(engine.rt, fake, later) == 1
    run = await engine.get_run(run_id)
    assert await steps.execute(engine.rt, run_id, run.generation) == str(RunStatus.SUCCEEDED)
    return await engine.get_run(run_id)


async def _no_workflow(run_id: str, generation: int) -> str | None:
    return None


async def _nothing(run_id: str, generation: int) -> None:
    return None


# -- SQLite: commits fail from the Nth on ----------------------------------------------------------------------


@dataclasses.dataclass
class Outage:
    """The database accepts `budget` more commits, then is gone until `restore()`."""

    budget: int
    commits: int = 0

    def spend(self) -> None:
        if self.budget <= 0:
            raise OperationalError("COMMIT", {}, ConnectionError("the database went away"))
        self.budget -= 1
        self.commits += 1

    def restore(self) -> None:
        self.budget = 1_000_000


def flaky(sessions: async_sessionmaker[AsyncSession], outage: Outage) -> async_sessionmaker[AsyncSession]:
    class FlakySession(AsyncSession):
        async def commit(self) -> None:
            outage.spend()  # raising here leaves the transaction to roll back when the session closes
            await super().commit()

    return async_sessionmaker(sessions.kw["bind"], class_=FlakySession, expire_on_commit=False)


async def _commits_of_a_clean_run(db: Database) -> int:
    engine = await make_engine(db)
    company(engine)
    run_id = await requested(engine)
    outage = Outage(1_000_000)
    engine.rt.sessions = flaky(engine.rt.sessions, outage)
    assert await steps.execute(engine.rt, run_id) == str(RunStatus.SUCCEEDED)
    return outage.commits


async def _clean_writes(db: Database) -> int:
    control = await make_engine(db)
    company(control)
    assert (await control.run()).status == RunStatus.SUCCEEDED
    return control.data.lms.writes


async def test_commits_failing_at_every_point_never_half_write_and_the_run_resumes(
    db: Database, figures: Figures
) -> None:
    if db.kind != "sqlite":
        pytest.skip("the PostgreSQL half terminates real connections below")
    writes = await _clean_writes(db)
    total = await _commits_of_a_clean_run(db)
    outages = checked = 0
    for budget in range(1, total):
        engine = await make_engine(db)
        company(engine)
        run_id = await requested(engine)
        outage = Outage(budget)
        sessions = engine.rt.sessions
        engine.rt.sessions = flaky(sessions, outage)

        result = await steps.execute(engine.rt, run_id)

        engine.rt.sessions = sessions
        assert result == "interrupted", (budget, result)
        assert (await engine.get_run(run_id)).status == RunStatus.RUNNING, "handed back, not failed"
        checked += await consistent_links(engine, run_id)
        outage.restore()
        run = await resume(engine, run_id)
        assert run.status == RunStatus.SUCCEEDED and run.generation == 1
        checked += await consistent_links(engine, run_id)
        assert engine.data.lms.writes == writes, f"an effect was repeated or lost (outage after {budget} commits)"
        outages += 1
    assert outages >= 10, "the run is too short to cut at several points"
    figures.add("database", database_outages=outages, operations_checked=checked, runs=outages)


# -- PostgreSQL: terminate the test database's connections while a batch is in flight ---------------------------


class CuttingTarget(MemoryTarget):
    """A memory target that, after applying its `cut_at`th batch, has every other connection to the test
    database terminated: the batch took effect, the transaction recording it is lost."""

    info: ClassVar[ConnectorInfo] = dataclasses.replace(MemoryTarget.info, key="cutting-target")
    cut_at: ClassVar[int] = 0
    calls: ClassVar[int] = 0
    terminate: ClassVar[Any] = None

    async def apply(self, ops: Sequence[Op]) -> Sequence[OpResult]:
        results = await super().apply(ops)
        type(self).calls += 1
        if type(self).calls == type(self).cut_at:
            await asyncio.to_thread(type(self).terminate)
        return results


async def test_terminated_connections_mid_apply_leave_no_half_written_link(
    db: Database, request: pytest.FixtureRequest, figures: Figures
) -> None:
    if db.kind != "postgresql":
        pytest.skip("SQLite has no server connections to terminate; the commit-failure test covers it")
    keep = request.getfixturevalue("_postgres").admin.info.backend_pid  # the suite's own cleanup connection

    def terminate() -> None:
        with psycopg.connect(db.url, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid() AND pid <> %s",
                (keep,),
            )

    writes = await _clean_writes(db)
    registry = Registry.from_classes(MemorySource, CuttingTarget)
    for cut_at in (1, 2, 3):
        CuttingTarget.cut_at, CuttingTarget.calls, CuttingTarget.terminate = cut_at, 0, terminate
        engine = await make_engine(db, registry=registry)
        company(engine)
        run_id = await requested(engine)

        assert await steps.execute(engine.rt, run_id) == "interrupted"

        checked = await consistent_links(engine, run_id)
        run = await resume(engine, run_id)
        assert run.status == RunStatus.SUCCEEDED
        checked += await consistent_links(engine, run_id)
        assert engine.data.lms.writes == writes, "the batch applied before the cut is not applied twice"
        figures.add("database", database_outages=1, operations_checked=checked, runs=1)
    assert isinstance(engine.queue, RecordingQueue)
