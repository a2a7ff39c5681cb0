"""One run as idempotent steps keyed by run id (begin -> plan -> guard -> apply -> finish), and the one sequence
that runs them.

`run_sequence` is parametrised by how each step runs: `execute` calls each directly (tests, benchmarks), and
`sync/jobs/workflow.py` makes each a durable step, so a worker that dies resumes at the first unfinished step and
every test exercises what a worker runs. Every step is safe to repeat: planning is skipped once the plan is
complete, applying takes only ops still `planned`, finishing recomputes from the recorded outcomes.

Somewhat over 300 lines on purpose: the steps and the one sequence that orders them (and decides what a failure
in any of them does to the run) are read together, and `steps.execute` is the entry point every harness calls.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from contextlib import suppress
from typing import Any, Protocol, TypeVar

import sqlalchemy as sa
import structlog
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from enrolsync.connectors.errors import ConnectorError
from enrolsync.sync.plan.guard import GuardVerdict
from enrolsync.sync.run import progress, quarantine, runlog
from enrolsync.sync.run.apply import RunAborted, apply_run
from enrolsync.sync.run.context import RunContext, RunGone, Runtime, load_context
from enrolsync.sync.run.lease import Claim, LeaseLost, claim, holding, release, renew
from enrolsync.sync.run.planning import plan_run, recorded_verdict
from enrolsync.sync.run.reading import read_source, snapshot_source
from enrolsync.sync.store import ledger, repo, repo_runs, stats
from enrolsync.sync.store.tables import FINISHED_RUN_STATUSES, Run, RunOp, RunOpStatus, RunStatus, utcnow

log = structlog.get_logger("enrolsync.run")
T = TypeVar("T")

# How long a run waiting for its pipeline's other run sleeps at most before it looks again. The run that ends
# wakes it at once (`Wake`), so this only bounds the wait when that wake-up is lost (its worker died).
WAIT_SECONDS = 2.0


class StepRunner(Protocol):
    """How the sequence runs one step: call `fn` and return its result, recording it under `name` if durable.

    A step's result is stored by the durable engine, so steps return only None, bool, str or a `Claim`.
    """

    async def __call__(self, name: str, fn: Callable[[], Coroutine[Any, Any, T]]) -> T: ...


Pause = Callable[[float], Awaitable[None]]  # sleep until woken or the seconds have passed
Wake = Callable[[str, int], Awaitable[None]]  # wake the run (id, generation) sleeping in `Pause`, if it is


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
        if (
            run is None
            or run.status in FINISHED_RUN_STATUSES
            or run.status == RunStatus.BLOCKED
            or run.generation > generation
        ):
            return Claim.SKIP
    taken = await claim(rt, run_id, generation)
    if taken is Claim.GO:
        async with rt.sessions() as session:
            run = await session.get(Run, run_id)
            if run is not None:
                runlog.started(run, worker=rt.owner)
    return taken


async def plan(rt: Runtime, run_id: str) -> None:
    """Read the source and store the plan, unless an earlier attempt of this step already stored all of it.

    A plan is complete only once `run.planned` says so; ops left by an attempt that died halfway are a partial
    plan, dropped and planned again (matching and snapshots are idempotent, so nothing else repeats). The read
    starts over too, so `people_read` counts from zero: a worker taking over does not count people twice.
    """
    async with rt.sessions() as session:
        run = await session.get(Run, run_id)
        if run is None or run.planned:
            return
        if await ledger.has_ops(session, run_id=run_id):
            await ledger.delete_ops(session, run_id=run_id)
        run.people_read = 0
        session.add(run)
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
        run.rejected = read.rejected
        session.add(run)
        await session.commit()
        # The executor reads the plan's ops a chunk at a time: the run's ops must be in the planner's statistics.
        await stats.refresh(session)
    log.info("planned", run_id=run_id, ops=summary.ops, invalid=summary.invalid, conflicts=len(summary.conflicted))


# A planned run without a verdict was planned by code older than the verdict (migration 0005 found nothing to
# carry over): it needs an admin's eyes rather than a guess.
NO_VERDICT = GuardVerdict(
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
        verdict = recorded_verdict(run) or NO_VERDICT
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
    """Settle the run's status and counters; move the pipeline's checkpoint only after a clean apply. A full run
    reads enrolment progress back first (`run.progress`), so it reflects the enrolments just applied."""
    ctx = await load_context(rt, run_id)
    read = await progress.read_back(rt, ctx)
    async with rt.sessions() as session:
        run = await session.get(Run, run_id)
        if run is None:
            return "gone"
        if run.status in FINISHED_RUN_STATUSES:
            return str(run.status)
        if run.error and ctx.mode == "apply":
            await _abandon_planned(session, run_id, run.error)
        counts = await ledger.op_counts(session, run_id=run_id)
        status = _status(ctx, counts, run.error)
        people = run.counters.get("people", {})
        # A snapshot source's checkpoint marks the last file (report) it accepted, not a place in a change feed:
        # moving it past people who could not be planned skips nobody (the next read returns them again), and
        # holding it back would leave the source comparing new files with an ever older one.
        skipped = not snapshot_source(ctx) and (people.get("invalid") or people.get("conflicts"))
        clean = status == RunStatus.SUCCEEDED and not skipped
        if ctx.mode == "apply" and clean and ctx.scope != "people" and run.cursor:
            await repo.save_checkpoint(session, pipeline_id=ctx.pipeline_id, cursor=run.cursor)
        run.status, run.finished_at = status, utcnow()
        run.counters = {**run.counters, "ops": counts} | ({"progress": read} if read is not None else {})
        session.add(run)
        await quarantine.note_run_end(session, run)
        await session.commit()
        runlog.ended(run, counts)
    return str(status)


async def _abandon_planned(session: AsyncSession, run_id: str, error: str) -> None:
    """Ops a stopped run never reached say so, instead of staying `planned` forever."""
    stmt = (
        sa.update(RunOp)
        .where(col(RunOp.run_id) == run_id, col(RunOp.status) == RunOpStatus.PLANNED)
        .values(status=RunOpStatus.NOT_ATTEMPTED, last_error=f"not attempted: the run stopped ({error[:300]})")
    )
    await (await session.connection()).execute(stmt)


async def fail(rt: Runtime, run_id: str, reason: str, generation: int = 0) -> None:
    """Mark a run failed for a reason outside the ops (source unreachable, bad stored config); a run-level
    failure counts toward the pipeline's quarantine. A newer generation's run is not this worker's to fail."""
    async with rt.sessions() as session:
        run = await session.get(Run, run_id)
        if run is None or run.status in FINISHED_RUN_STATUSES or run.generation > generation:
            return
        run.status, run.error, run.finished_at = RunStatus.FAILED, reason[:2000], utcnow()
        session.add(run)
        await quarantine.note_run_end(session, run)
        await session.commit()
        runlog.ended(run, await ledger.op_counts(session, run_id=run_id))


async def direct(name: str, fn: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """The plain `StepRunner`: run the step now, in this process, with nothing recorded around it."""
    return await fn()


async def run_sequence(
    rt: Runtime, run_id: str, generation: int, *, step: StepRunner, pause: Pause, wake: Wake | None = None
) -> str:
    """Take the run and run its steps in order: the one sequence tests and workers execute.

    Args:
        step: how each step runs: `direct` in-process, or as a durable step (`sync/jobs/workflow.py`).
        pause: how a run waiting for its pipeline's other run sleeps, until `wake` or `WAIT_SECONDS`: the
            runtime's clock in tests (no test waits on wall time), the durable engine's wait for a message in
            production (a recovered workflow skips waits it finished).
        wake: how a run that stops executing wakes the pipeline's waiting run, so it starts now rather than
            when its pause ends (a burst of webhook events queues behind one run after another).

    Returns:
        The run's final status, `blocked`, `interrupted` (handed back between batches: shutdown, takeover or our
        database gone; another worker continues it), `superseded` (a newer generation owns it), `gone`, or
        `skipped` (nothing to do: finished, cancelled, blocked, or held by a live worker).
    """
    ended = await _guarded(rt, run_id, generation, step, pause)
    if wake is not None and ended != "skipped":
        await step("wake_step", lambda: wake_waiting(rt, run_id, wake))
    return ended


async def wake_waiting(rt: Runtime, run_id: str, wake: Wake) -> None:
    """Wake the queued run of this run's pipeline, if there is one: it may start now. A wake-up the waiting run
    does not need (this run was taken over and still runs) costs it one more look."""
    async with rt.sessions() as session:
        run = await session.get(Run, run_id)
        waiting = None if run is None else await repo_runs.queued_run(session, pipeline_id=run.pipeline_id)
        target = None if waiting is None else (waiting.id, waiting.generation)
    if target is not None:
        await wake(*target)


async def _guarded(rt: Runtime, run_id: str, generation: int, step: StepRunner, pause: Pause) -> str:
    try:
        return await _sequence(rt, run_id, generation, step, pause)
    except LeaseLost:
        log.warning("stopped", run_id=run_id, reason="LeaseLost")
        return "superseded"
    except RunGone as error:
        log.warning("stopped", run_id=run_id, reason="RunGone")
        gone = str(error)  # our own message: ids only
        await step("fail_step", lambda: fail(rt, run_id, gone, generation))  # for when the run's row is left
        return "gone"
    except DBAPIError as error:
        if not database_gone(error):
            return await _crashed(rt, run_id, generation, step, error)
        # Our own database went away mid-step: that step's transaction rolled back whole, so the run's records
        # are consistent. Hand the run back; once the database answers again a worker takes it over and
        # continues where the records say (the lease lapses by itself if even this release cannot be written).
        log.warning("run.database_unavailable", run_id=run_id, error=type(error).__name__)
        await step("release_step", lambda: _release_if_reachable(rt, run_id, generation))
        return "interrupted"
    except ConnectorError as error:
        # A remote system failed the whole run (down, throttling past every retry, looping pages): expected
        # in operation, so no stack trace; the run's error says what the system answered.
        reason = describe(error)
        log.warning("run failed", run_id=run_id, error=reason)
        await step("fail_step", lambda: fail(rt, run_id, reason, generation))
        return str(RunStatus.FAILED)
    except Exception as error:  # the run must end visibly failed, whatever broke
        return await _crashed(rt, run_id, generation, step, error)


async def _sequence(rt: Runtime, run_id: str, generation: int, step: StepRunner, pause: Pause) -> str:
    # Step names are the durable engine's record of the sequence: a recovered workflow replays recorded results
    # by position and name, so the order below may depend only on earlier steps' results. They keep the names
    # the steps had as decorated functions, so a workflow in flight across an upgrade still replays.
    def held(fn: Callable[[], Awaitable[T]]) -> Callable[[], Coroutine[Any, Any, T]]:
        return lambda: holding(rt, run_id, generation, fn)

    claim = Claim(await step("begin_step", lambda: begin(rt, run_id, generation)))
    while claim is Claim.WAIT:
        await pause(WAIT_SECONDS)  # one executing run per pipeline: this one starts when the other ends
        claim = Claim(await step("begin_step", lambda: begin(rt, run_id, generation)))
    if claim is not Claim.GO:
        return "skipped"
    await step("plan_step", held(lambda: plan(rt, run_id)))
    may_apply = await step("guard_step", held(lambda: guard(rt, run_id)))
    if may_apply and not await step("apply_step", lambda: _apply_or_hand_back(rt, run_id, generation)):
        return "interrupted"  # shutting down or taken over: the run's records say where it stopped
    if await step("blocked_step", lambda: is_blocked(rt, run_id)):
        return str(RunStatus.BLOCKED)
    return await step("finish_step", held(lambda: finish(rt, run_id)))


async def _apply_or_hand_back(rt: Runtime, run_id: str, generation: int) -> bool:
    """Apply while holding the lease; an apply interrupted between batches hands the run back at once."""
    done = await holding(rt, run_id, generation, lambda: apply(rt, run_id, generation))
    if not done:
        await release(rt, run_id, generation)
    return done


async def _release_if_reachable(rt: Runtime, run_id: str, generation: int) -> None:
    with suppress(DBAPIError):  # still unreachable: the lease lapses by itself
        await release(rt, run_id, generation)


async def execute(rt: Runtime, run_id: str, generation: int = 0) -> str:
    """`run_sequence` in this process, each step called directly, pausing on the runtime's clock.

    What tests and benchmarks drive; a worker runs the same sequence with each step made durable.
    """
    return await run_sequence(rt, run_id, generation, step=direct, pause=rt.clock.sleep)


async def _crashed(rt: Runtime, run_id: str, generation: int, step: StepRunner, error: Exception) -> str:
    log.exception("run crashed", run_id=run_id)
    reason = describe(error)
    await step("fail_step", lambda: fail(rt, run_id, reason, generation))
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
