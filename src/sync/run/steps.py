"""One run as idempotent steps keyed by run id: begin -> read -> plan -> guard -> apply -> finish.

`sync/jobs/workflow.py` wraps each step in the durable engine, so a worker that dies resumes at the first unfinished
step; tests call the steps directly. Every step is safe to repeat: planning is skipped once ops exist, applying
takes only ops still `planned`, finishing recomputes from the recorded outcomes.
"""

from __future__ import annotations

from contextlib import suppress

import sqlalchemy as sa
import structlog
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from enrolsync.connectors.errors import ConnectorError
from enrolsync.sync.plan.order import GuardVerdict
from enrolsync.sync.run import quarantine
from enrolsync.sync.run.apply import RunAborted, apply_run
from enrolsync.sync.run.context import RunContext, RunGone, Runtime, load_context
from enrolsync.sync.run.lease import Claim, LeaseLost, claim, holding, release, renew
from enrolsync.sync.run.planning import plan_run, recorded_verdict
from enrolsync.sync.run.reading import read_source
from enrolsync.sync.store import ledger
from enrolsync.sync.store.tables import Checkpoint, Run, RunOp, RunOpStatus, RunStatus, utcnow

log = structlog.get_logger("enrolsync.run")

FINAL = {RunStatus.SUCCEEDED, RunStatus.PARTIALLY_FAILED, RunStatus.FAILED, RunStatus.CANCELLED}


async def _set(rt: Runtime, run_id: str, **changes: object) -> Run | None:
    async with rt.sessions() as session:
        run = await session.get(Run, run_id)
        if run is None:
            return None
        for name, value in changes.items():
            setattr(run, name, value)
        session.add(run)
        await session.commit()
        return run


async def begin(rt: Runtime, run_id: str, generation: int = 0) -> Claim:
    """Take the run for this worker: GO, WAIT (the pipeline's other run is executing) or SKIP (nothing to do)."""
    async with rt.sessions() as session:
        run = await session.get(Run, run_id)
        if run is None or run.status in FINAL or run.status == RunStatus.BLOCKED or run.generation > generation:
            return Claim.SKIP
    return await claim(rt, run_id, generation)


async def plan(rt: Runtime, run_id: str) -> None:
    """Read the source and store the plan, unless an earlier attempt of this step already stored all of it.

    A plan is complete only once `run.planned` says so; ops left by an attempt that died halfway are a partial
    plan, dropped and planned again (matching and snapshots are idempotent, so nothing else repeats).
    """
    async with rt.sessions() as session:
        run = await session.get(Run, run_id)
        if run is None or run.planned:
            return
        if await ledger.has_ops(session, run_id=run_id):
            await ledger.delete_ops(session, run_id=run_id)
            await session.commit()
    ctx = await load_context(rt, run_id)
    read = await read_source(rt, ctx)
    summary = await plan_run(rt, ctx, read)
    async with rt.sessions() as session:
        run = await session.get(Run, run_id)
        if run is None:
            return
        # One commit: a run marked planned always has the guard's verdict on the plan it holds.
        summary.record(run)
        run.cursor, run.planned = read.cursor, True
        session.add(run)
        await session.commit()
    log.info("planned", run_id=run_id, ops=summary.ops, invalid=summary.invalid, conflicts=len(summary.conflicted))


# A planned run without a verdict was planned by code older than the verdict (migration 0005 found nothing to
# carry over): it needs an admin's eyes rather than a guess.
_NO_VERDICT = GuardVerdict(
    blocked=True, deactivations=0, allowed=0, reason="the plan has no recorded deletion guard verdict; approve to apply"
)


async def guard(rt: Runtime, run_id: str) -> bool:
    """True when the run may apply. Planning recorded the deletion guard's verdict (`check_deactivations`); a
    blocked verdict stops an applied run as `blocked` until an operator approves it."""
    ctx = await load_context(rt, run_id)
    async with rt.sessions() as session:
        run = await session.get(Run, run_id)
        if run is None:
            return False
        if run.approved_by:
            return True
        verdict = recorded_verdict(run) or _NO_VERDICT
        # A dry run reports what the guard would do; only an applied run stops on it.
        blocked = verdict.blocked and ctx.mode == "apply"
        if blocked:
            run.status = RunStatus.BLOCKED
            session.add(run)
            await session.commit()
    if blocked:
        log.warning("blocked", run_id=run_id, deactivations=verdict.deactivations, allowed=verdict.allowed)
    return ctx.mode == "apply" and not blocked


async def apply(rt: Runtime, run_id: str, generation: int = 0) -> bool:
    """Apply the planned ops; False when interrupted (shutdown, cancel, takeover) with progress recorded."""
    ctx = await load_context(rt, run_id)
    try:
        return await apply_run(rt, ctx, still_ours=lambda: renew(rt, run_id, generation))
    except RunAborted as error:
        await _set(rt, run_id, error=str(error))
        return True


def _status(ctx: RunContext, counts: dict[str, dict[str, int]], error: str | None) -> RunStatus:
    total = {s: sum(by.get(s, 0) for by in counts.values()) for s in RunOpStatus}
    bad = total[RunOpStatus.FAILED] + total[RunOpStatus.NOT_ATTEMPTED]
    good = total[RunOpStatus.DONE] + total[RunOpStatus.ALREADY]
    if error and ctx.mode == "apply":
        return RunStatus.FAILED if good == 0 else RunStatus.PARTIALLY_FAILED
    if ctx.mode == "apply" and (bad or total[RunOpStatus.PLANNED]):
        return RunStatus.FAILED if good == 0 else RunStatus.PARTIALLY_FAILED
    return RunStatus.SUCCEEDED


async def finish(rt: Runtime, run_id: str) -> str:
    """Settle the run's status and counters; move the pipeline's checkpoint only after a clean apply."""
    ctx = await load_context(rt, run_id)
    async with rt.sessions() as session:
        run = await session.get(Run, run_id)
        if run is None:
            return "gone"
        if run.status in FINAL:
            return str(run.status)
        if run.error and ctx.mode == "apply":
            await _abandon_planned(session, run_id, run.error)
        counts = await ledger.op_counts(session, run_id=run_id)
        status = _status(ctx, counts, run.error)
        people = run.counters.get("people", {})
        clean = status == RunStatus.SUCCEEDED and not people.get("invalid") and not people.get("conflicts")
        if ctx.mode == "apply" and clean and ctx.scope != "people" and run.cursor:
            checkpoint = await session.get(Checkpoint, ctx.pipeline_id) or Checkpoint(pipeline_id=ctx.pipeline_id)
            checkpoint.cursor, checkpoint.updated_at = run.cursor, utcnow()
            session.add(checkpoint)
        run.status, run.finished_at = status, utcnow()
        run.counters = {**run.counters, "ops": counts}
        session.add(run)
        await quarantine.note_run_end(session, run)
        await session.commit()
    log.info("finished", run_id=run_id, status=str(status))
    return str(status)


async def _abandon_planned(session: AsyncSession, run_id: str, error: str) -> None:
    """Ops a stopped run never reached say so, instead of staying `planned` forever."""
    stmt = (
        sa.update(RunOp)
        .where(col(RunOp.run_id) == run_id, col(RunOp.status) == RunOpStatus.PLANNED)
        .values(status=RunOpStatus.NOT_ATTEMPTED, last_error=f"not attempted: the run stopped ({error[:300]})")
    )
    await (await session.connection()).execute(stmt)


async def fail(rt: Runtime, run_id: str, reason: str) -> None:
    """Mark a run failed for a reason outside the ops (source unreachable, bad stored config); a run-level
    failure counts toward the pipeline's quarantine."""
    async with rt.sessions() as session:
        run = await session.get(Run, run_id)
        if run is None or run.status in FINAL:
            return
        run.status, run.error, run.finished_at = RunStatus.FAILED, reason[:2000], utcnow()
        session.add(run)
        await quarantine.note_run_end(session, run)
        await session.commit()
    log.warning("failed", run_id=run_id, reason=reason[:200])


async def execute(rt: Runtime, run_id: str, generation: int = 0) -> str:
    """All steps in order, in-process, holding the lease (the worker runs the same steps under the engine)."""
    try:
        if await begin(rt, run_id, generation) is not Claim.GO:
            return "skipped"
        await holding(rt, run_id, generation, lambda: plan(rt, run_id))
        may_apply = await holding(rt, run_id, generation, lambda: guard(rt, run_id))
        if may_apply and not await holding(rt, run_id, generation, lambda: apply(rt, run_id, generation)):
            await release(rt, run_id, generation)
            return "interrupted"
        if await is_blocked(rt, run_id):
            return str(RunStatus.BLOCKED)
        return await holding(rt, run_id, generation, lambda: finish(rt, run_id))
    except (RunGone, LeaseLost) as error:
        log.warning("stopped", run_id=run_id, reason=type(error).__name__)
        return "superseded" if isinstance(error, LeaseLost) else "gone"
    except DBAPIError as error:
        if not database_gone(error):
            return await _crashed(rt, run_id, error)
        # Our own database went away mid-step: that step's transaction rolled back whole, so the run's records
        # are consistent. Hand the run back; once the database answers again a worker takes it over and
        # continues where the records say (the lease lapses by itself if even this release cannot be written).
        log.warning("run.database_unavailable", run_id=run_id, error=type(error).__name__)
        with suppress(DBAPIError):
            await release(rt, run_id, generation)
        return "interrupted"
    except ConnectorError as error:
        # A remote system failed the whole run (down, throttling past every retry, looping pages): expected
        # in operation, so no stack trace; the run's error says what the system answered.
        log.warning("run failed", run_id=run_id, error=describe(error))
        await fail(rt, run_id, describe(error))
        return str(RunStatus.FAILED)
    except Exception as error:  # the run must end visibly failed, whatever broke
        return await _crashed(rt, run_id, error)


async def _crashed(rt: Runtime, run_id: str, error: Exception) -> str:
    log.exception("run crashed", run_id=run_id)
    await fail(rt, run_id, describe(error))
    return str(RunStatus.FAILED)


def database_gone(error: BaseException) -> bool:
    """True for errors that mean the database could not be reached or dropped the connection (restart,
    failover, terminated backend), as opposed to errors in what was asked of it."""
    return isinstance(error, OperationalError | InterfaceError) or (
        isinstance(error, DBAPIError) and error.connection_invalidated
    )


def describe(error: BaseException) -> str:
    """A run's error text: connector errors say what the remote system answered; others only their type, since
    their text may carry data we do not show (connection strings, payloads)."""
    if isinstance(error, ConnectorError):
        return f"{type(error).__name__}: {error}"
    return f"internal error ({type(error).__name__}); see the worker log"


async def is_blocked(rt: Runtime, run_id: str) -> bool:
    async with rt.sessions() as session:
        run = await session.get(Run, run_id)
        return run is not None and run.status == RunStatus.BLOCKED
