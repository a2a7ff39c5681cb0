"""What `enrolsync pipelines`, `enrolsync runs PIPELINE` and `enrolsync run PIPELINE` do, apart from the command
line's wiring (`cli.py`): read pipelines and runs from the database, request a run and watch it to its end with
a progress bar of people read and operations applied, printing failed operations as they come.

The run is executed by a worker (`enrolsync worker`), never by this process: the command records it, hands it
to the queue, and reads its progress from the database every half second, as the web page and the API do.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from enrolsync.settings import Settings
from enrolsync.sync.jobs.root import open_root
from enrolsync.sync.jobs.run_requests import RunQueue, request_run
from enrolsync.sync.store import repo_gauges
from enrolsync.sync.store.tables import (
    FINISHED_RUN_STATUSES,
    Connection,
    Pipeline,
    PipelineHealth,
    Run,
    RunOp,
    RunOpStatus,
    RunScope,
    RunStatus,
    utcnow,
)

POLL_SECONDS = 0.5


class NotFound(LookupError):
    """No pipeline by that id or name."""


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment else "-"


def _duration(run: Run) -> str:
    if run.started_at is None:
        return "-"
    seconds = ((run.finished_at or utcnow()) - run.started_at).total_seconds()
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


async def find_pipeline(session: AsyncSession, ref: str) -> Pipeline:
    """A pipeline by id or by name."""
    stmt = select(Pipeline).where(or_(col(Pipeline.id) == ref, col(Pipeline.name) == ref))
    found = (await session.exec(stmt)).first()
    if found is None:
        raise NotFound(f"no pipeline with id or name {ref!r} (see: enrolsync pipelines)")
    return found


async def pipelines_table(settings: Settings) -> Table:
    async with await open_root(settings, migrate=False) as root, root.runtime.sessions() as session:
        pipelines = (await session.exec(select(Pipeline).order_by(col(Pipeline.name)))).all()
        connections = {c.id: c for c in (await session.exec(select(Connection))).all()}
        table = Table("ID", "NAME", "SOURCE -> TARGET", "SCHEDULE", "LAST RUN", "HEALTH", box=None, pad_edge=False)
        for pipeline in pipelines:
            last = (
                await session.exec(
                    select(Run).where(col(Run.pipeline_id) == pipeline.id).order_by(col(Run.created_at).desc())
                )
            ).first()
            health = await session.get(PipelineHealth, pipeline.id)
            source, target = connections.get(pipeline.source_id), connections.get(pipeline.target_id)
            ends = f"{source.name if source else '?'} -> {target.name if target else '?'}"
            table.add_row(
                pipeline.id,
                pipeline.name,
                ends,
                pipeline.spec.get("schedule") or "-",
                f"{last.status} {_when(last.finished_at or last.created_at)}" if last else "never",
                _health(health),
            )
        return table


def _health(health: PipelineHealth | None) -> str:
    if health is None or (not health.failures and health.quarantined_at is None):
        return "ok"
    if health.quarantined_at is not None:
        return f"quarantined since {_when(health.quarantined_at)}"
    return f"{health.failures} failed run(s) in a row"


async def runs_table(settings: Settings, ref: str, limit: int) -> Table:
    async with await open_root(settings, migrate=False) as root, root.runtime.sessions() as session:
        pipeline = await find_pipeline(session, ref)
        stmt = select(Run).where(col(Run.pipeline_id) == pipeline.id).order_by(col(Run.created_at).desc()).limit(limit)
        runs = (await session.exec(stmt)).all()
        table = Table(
            "RUN",
            "CREATED",
            "TRIGGER",
            "MODE",
            "SCOPE",
            "STATUS",
            "PEOPLE",
            "OPS",
            "DURATION",
            box=None,
            pad_edge=False,
        )
        for run in runs:
            ops = f"{run.ops_applied}/{run.ops_planned}" if run.mode == "apply" else f"{run.ops_planned} planned"
            table.add_row(
                run.id, _when(run.created_at), run.trigger, run.mode, run.scope, str(run.status),
                str(run.people_read), ops, _duration(run),
            )  # fmt: skip
        return table


@dataclass
class Outcome:
    run: Run
    failed_ops: int


async def _failed_since(session: AsyncSession, run_id: str, after: int) -> list[RunOp]:
    stmt = (
        select(RunOp)
        .where(col(RunOp.run_id) == run_id, col(RunOp.status) == RunOpStatus.FAILED, col(RunOp.id) > after)
        .order_by(col(RunOp.id))
        .limit(50)
    )
    return list((await session.exec(stmt)).all())


async def request_and_watch(
    settings: Settings,
    ref: str,
    *,
    mode: str,
    scope: RunScope,
    queue: RunQueue,
    console: Console,
    wait: bool = True,
    hr_ids: Sequence[str] = (),
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> Outcome:
    """Request a run of the pipeline `ref` and, with `wait`, show its progress until it settles."""
    async with await open_root(settings) as root:
        sessions = root.runtime.sessions
        async with sessions() as session:
            pipeline = await find_pipeline(session, ref)
            run, created = await request_run(
                session, pipeline_id=pipeline.id, mode=mode, scope=scope, trigger="cli",  # type: ignore[arg-type]
                hr_ids=hr_ids, queue=queue,
            )  # fmt: skip
            since = utcnow() - timedelta(seconds=settings.worker_seen_seconds)
            workers = await repo_gauges.live_workers(session, since=since)
        verb = "requested" if created else "joined the waiting"
        console.print(f"{verb} run {run.id} of {pipeline.name} ({run.mode}, {run.scope})", highlight=False)
        if not workers:
            console.print(
                f"[yellow]no worker seen in the last {settings.worker_seen_seconds:g} s: the run waits in the queue "
                "until one runs (enrolsync worker)[/]"
            )
        if not wait:
            return Outcome(run=run, failed_ops=0)
        return await _watch(sessions, run.id, console, sleep)


async def _watch(
    sessions: async_sessionmaker[AsyncSession], run_id: str, console: Console, sleep: Callable[[float], Awaitable[None]]
) -> Outcome:
    last_failed, failed = 0, 0
    columns = (TextColumn("{task.description:<22}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        status = progress.add_task("queued", total=None)
        people = progress.add_task("people read", total=None, visible=False)
        ops = progress.add_task("operations applied", total=None, visible=False)
        while True:
            async with sessions() as session:
                run = await session.get(Run, run_id)
                if run is None:
                    raise NotFound(f"run {run_id} is gone")
                for op in await _failed_since(session, run_id, last_failed):
                    last_failed, failed = op.id or last_failed, failed + 1
                    progress.console.print(f"[red]failed[/] {op.hr_id}: {op.last_error}", highlight=False)
            progress.update(status, description=str(run.status))
            progress.update(people, completed=run.people_read, visible=run.status != RunStatus.QUEUED)
            if run.planned and run.mode == "apply":
                progress.update(ops, completed=run.ops_applied, total=run.ops_planned, visible=True)
            if run.status in FINISHED_RUN_STATUSES or run.status == RunStatus.BLOCKED:
                progress.update(status, total=1, completed=1)
                return Outcome(run=run, failed_ops=failed)
            await sleep(POLL_SECONDS)
