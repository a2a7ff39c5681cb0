"""Who executes a run: leases, take-over of a dead worker's run, fencing of the old attempt, hand-over on stop."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from datetime import timedelta
from typing import Any, TypeVar, cast

import pytest
import sqlalchemy as sa
from sqlmodel import col

from enrolsync.connectors.testing.fakes import FakeClock
from enrolsync.sync.jobs import control, maintenance
from enrolsync.sync.run import apply as apply_module
from enrolsync.sync.run import lease, steps
from enrolsync.sync.run.context import load_context
from enrolsync.sync.run.reading import read_source
from enrolsync.sync.store.tables import Run, RunOp, RunOpStatus, RunStatus, utcnow
from tests.support.harness import Engine

pytestmark = pytest.mark.usefixtures("cleanup_datasets")
T = TypeVar("T")


class FakeJobs:
    """The job engine as maintenance sees it: what was enqueued and abandoned, and workflow states."""

    def __init__(self) -> None:
        self.enqueued: list[tuple[str, int]] = []
        self.abandoned: list[tuple[str, int]] = []
        self.states: dict[tuple[str, int], str] = {}

    async def enqueue(self, run_id: str, *, generation: int = 0) -> None:
        self.enqueued.append((run_id, generation))

    async def state(self, run_id: str, generation: int) -> str | None:
        return self.states.get((run_id, generation))

    async def abandon(self, run_id: str, generation: int) -> None:
        self.abandoned.append((run_id, generation))

    def engine(self) -> maintenance.Engine:
        return maintenance.Engine(queue=self, state=self.state, abandon=self.abandon)


async def _queued(engine: Engine) -> str:
    return await engine.request()


async def _lapse(engine: Engine, run_id: str) -> None:
    async with engine.db.sessions() as session:
        stmt = sa.update(Run).where(col(Run.id) == run_id).values(lease_expires_at=utcnow() - timedelta(seconds=5))
        await (await session.connection()).execute(stmt)
        await session.commit()


async def test_a_live_lease_keeps_other_workers_out(engine: Engine) -> None:
    run_id = await _queued(engine)
    other = dataclasses.replace(engine.rt, owner="worker-b")
    assert await steps.begin(engine.rt, run_id) is lease.Claim.GO
    assert await steps.begin(other, run_id) is lease.Claim.SKIP
    assert (await engine.get_run(run_id)).lease_owner == "local"


async def test_a_dead_workers_run_is_taken_over_and_the_old_attempt_fenced(engine: Engine) -> None:
    run_id = await _queued(engine)
    assert await steps.begin(engine.rt, run_id) is lease.Claim.GO
    await steps.plan(engine.rt, run_id)
    await _lapse(engine, run_id)  # the worker died: nobody renews
    jobs = FakeJobs()

    await maintenance.pass_once(engine.rt, jobs.engine())

    assert jobs.abandoned == [(run_id, 0)] and jobs.enqueued == [(run_id, 1)]
    assert await lease.renew(engine.rt, run_id, 0) is False, "the old generation may write nothing more"
    survivor = dataclasses.replace(engine.rt, owner="worker-b")
    assert await steps.execute(survivor, run_id, generation=1) == "succeeded"
    assert len(engine.data.lms.accounts) == 4
    await maintenance.pass_once(engine.rt, jobs.engine())
    assert jobs.enqueued == [(run_id, 1)], "a finished run is not taken over again"


async def test_a_run_waits_while_its_pipelines_other_run_executes(engine: Engine) -> None:
    first = await _queued(engine)
    assert await steps.begin(engine.rt, first) is lease.Claim.GO
    second = await _queued(engine)
    assert second != first
    assert await steps.begin(engine.rt, second) is lease.Claim.WAIT
    assert await steps.finish(engine.rt, first) in ("succeeded", "partially_failed", "failed")
    assert await steps.begin(engine.rt, second) is lease.Claim.GO


class OtherRunEnds(FakeClock):
    """A clock on which something happens during the `at`th pause of a waiting run (no test waits on wall time)."""

    def __init__(self, at: int, meanwhile: Callable[[], Awaitable[object]]) -> None:
        super().__init__()
        self.at, self.meanwhile = at, meanwhile

    async def sleep(self, seconds: float) -> None:
        await super().sleep(seconds)
        if len(self.sleeps) == self.at:
            await self.meanwhile()


async def test_a_run_requested_while_another_executes_waits_for_it_then_runs(engine: Engine) -> None:
    first = await _queued(engine)
    assert await steps.begin(engine.rt, first) is lease.Claim.GO  # executing, on another worker say
    second = await _queued(engine)
    clock = OtherRunEnds(at=3, meanwhile=lambda: steps.execute(engine.rt, first))

    assert await steps.execute(dataclasses.replace(engine.rt, clock=clock), second) == "succeeded"

    assert clock.sleeps == [steps.WAIT_SECONDS] * 3, "it looked again every few seconds until the other ended"
    runs = [await engine.get_run(run_id) for run_id in (first, second)]
    assert [run.status for run in runs] == [RunStatus.SUCCEEDED, RunStatus.SUCCEEDED]
    assert runs[0].finished_at is not None and runs[1].started_at is not None
    assert runs[1].started_at >= runs[0].finished_at, "never two executing runs of one pipeline"


async def test_a_waiting_run_cancelled_meanwhile_is_skipped(engine: Engine) -> None:
    first = await _queued(engine)
    assert await steps.begin(engine.rt, first) is lease.Claim.GO
    second = await _queued(engine)

    async def cancel() -> None:
        async with engine.db.sessions() as session:
            await control.cancel_run(session, run_id=second, actor="token:test", now=utcnow())

    clock = OtherRunEnds(at=1, meanwhile=cancel)

    assert await steps.execute(dataclasses.replace(engine.rt, clock=clock), second) == "skipped"
    assert (await engine.get_run(second)).status == RunStatus.CANCELLED
    assert engine.data.lms.writes == 0


class Journal:
    """A `StepRunner` that records each step's name and result, as the durable engine does, and replays a
    recorded prefix instead of running those steps again (a worker restarted after a crash)."""

    def __init__(self, replay: Sequence[tuple[str, Any]] = (), crash_at: str | None = None) -> None:
        self.replay, self.crash_at = list(replay), crash_at
        self.recorded: list[tuple[str, Any]] = []
        self.ran: list[str] = []

    async def __call__(self, name: str, fn: Callable[[], Coroutine[Any, Any, T]]) -> T:
        position = len(self.recorded)
        if position < len(self.replay):
            recorded_name, result = self.replay[position]
            assert recorded_name == name, f"step {position} was {recorded_name}, now asked for {name}"
        else:
            if name == self.crash_at:
                raise Crash(name)
            self.ran.append(name)
            result = await fn()
        self.recorded.append((name, result))
        return cast(T, result)


class Crash(BaseException):
    """The worker process died (a BaseException: nothing in the sequence may catch it)."""


CLEAN_RUN = ["begin_step", "plan_step", "guard_step", "apply_step", "blocked_step", "finish_step"]


async def test_the_sequence_asks_for_the_same_steps_in_the_same_order_when_replayed(engine: Engine) -> None:
    clean_writes = engine.data.lms.writes
    run_id = await _queued(engine)
    first = Journal(crash_at="finish_step")
    with pytest.raises(Crash):
        await steps.run_sequence(engine.rt, run_id, 0, step=first, pause=engine.clock.sleep)
    writes = engine.data.lms.writes - clean_writes
    assert first.ran == CLEAN_RUN[:-1] and writes > 0

    recovered = Journal(replay=first.recorded)
    result = await steps.run_sequence(engine.rt, run_id, 0, step=recovered, pause=engine.clock.sleep)

    assert result == "succeeded"
    assert [name for name, _ in recovered.recorded] == CLEAN_RUN
    assert recovered.ran == ["finish_step"], "finished steps are not run again"
    assert engine.data.lms.writes - clean_writes == writes


async def test_stopping_hands_the_run_over_between_batches_without_repeating_effects(engine: Engine) -> None:
    run_id = await _queued(engine)
    stopping = dataclasses.replace(engine.rt, chunk=1, stopping=asyncio.Event())
    stopping.stopping.set()  # SIGTERM arrived: the worker stops at its first batch boundary
    assert await steps.execute(stopping, run_id) == "interrupted"
    run = await engine.get_run(run_id)
    assert run.status == RunStatus.RUNNING and run.lease_expires_at is not None and run.lease_expires_at < utcnow()
    assert {op.status for op in await engine.ops(run_id)} == {RunOpStatus.PLANNED}
    jobs = FakeJobs()

    await maintenance.pass_once(engine.rt, jobs.engine())
    resumed = dataclasses.replace(engine.rt, owner="worker-b", stopping=asyncio.Event())

    assert jobs.enqueued == [(run_id, 1)]
    assert await steps.execute(resumed, run_id, generation=1) == "succeeded"
    assert engine.data.lms.writes == len(await engine.ops(run_id))


async def test_a_queued_run_whose_enqueue_was_lost_is_enqueued_again(engine: Engine) -> None:
    run_id = await _queued(engine)
    jobs = FakeJobs()
    async with engine.db.sessions() as session:
        stmt = sa.update(Run).where(col(Run.id) == run_id).values(created_at=utcnow() - timedelta(minutes=5))
        await (await session.connection()).execute(stmt)
        await session.commit()

    await maintenance.pass_once(engine.rt, jobs.engine())
    assert jobs.enqueued == [(run_id, 0)]

    jobs.states[(run_id, 0)] = "ENQUEUED"  # now the engine has it: nothing more to do
    await maintenance.pass_once(engine.rt, jobs.engine())
    assert jobs.enqueued == [(run_id, 0)]


async def test_a_plan_left_half_written_by_a_crash_is_planned_again(engine: Engine) -> None:
    run_id = await _queued(engine)
    assert await steps.begin(engine.rt, run_id) is lease.Claim.GO
    await steps.plan(engine.rt, run_id)
    complete = sorted((op.kind, op.hr_id, op.op.get("course_id")) for op in await engine.ops(run_id))
    # The worker died while planning: some ops stored, the plan not marked complete.
    async with engine.db.sessions() as session:
        run = await session.get(Run, run_id)
        assert run is not None
        run.planned = False
        session.add(run)
        ops = await session.exec(sa.select(RunOp).where(col(RunOp.run_id) == run_id))  # type: ignore[call-overload]
        for op in list(ops.scalars())[3:]:
            await session.delete(op)
        await session.commit()

    await steps.plan(engine.rt, run_id)

    assert sorted((op.kind, op.hr_id, op.op.get("course_id")) for op in await engine.ops(run_id)) == complete
    assert (await engine.get_run(run_id)).people_read == len(engine.data.hris.persons), "each person counted once"


async def test_a_worker_taking_over_mid_read_counts_each_person_once(engine: Engine) -> None:
    run_id = await _queued(engine)
    assert await steps.begin(engine.rt, run_id) is lease.Claim.GO
    # The first worker read every page, then died before planning stored anything.
    await read_source(engine.rt, await load_context(engine.rt, run_id))
    assert (await engine.get_run(run_id)).people_read == len(engine.data.hris.persons)

    await steps.plan(engine.rt, run_id)

    assert (await engine.get_run(run_id)).people_read == len(engine.data.hris.persons)


async def _planned(engine: Engine) -> str:
    run_id = await _queued(engine)
    assert await steps.begin(engine.rt, run_id) is lease.Claim.GO
    await steps.plan(engine.rt, run_id)
    return run_id


def _count_waves(monkeypatch: pytest.MonkeyPatch, after_each: Callable[[int], Awaitable[None]]) -> list[int]:
    """Count the waves the executor sends, calling `after_each(n)` once the nth is recorded."""
    sent = [0]
    real = apply_module._send_wave

    async def counted(*args: Any) -> None:
        await real(*args)
        sent[0] += 1
        await after_each(sent[0])

    monkeypatch.setattr(apply_module, "_send_wave", counted)
    return sent


async def test_the_lease_is_renewed_once_per_interval_not_before_every_wave(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_id = await _planned(engine)
    renewals = 0

    async def still_ours() -> bool:
        nonlocal renewals
        renewals += 1
        return await lease.renew(engine.rt, run_id, 0)

    async def nothing(_: int) -> None:
        return None

    sent = _count_waves(monkeypatch, nothing)  # the clock stands still: the first renewal covers every wave
    assert await apply_module.apply_run(engine.rt, await load_context(engine.rt, run_id), still_ours=still_ours)

    assert sent[0] > 1 and renewals == 1
    assert {op.status for op in await engine.ops(run_id)} <= {RunOpStatus.DONE, RunOpStatus.ALREADY}


async def test_a_run_cancelled_between_waves_stops_at_the_next_renewal(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_id = await _planned(engine)
    every = engine.rt.lease_seconds / apply_module.RENEWALS_PER_LEASE
    writes: list[int] = []

    async def cancel_after_the_first(n: int) -> None:
        writes.append(engine.data.lms.writes)
        if n == 1:
            async with engine.db.sessions() as session:
                await control.cancel_run(session, run_id=run_id, actor="token:test", now=utcnow())
        await engine.clock.sleep(every)  # each wave takes the renewal interval

    sent = _count_waves(monkeypatch, cancel_after_the_first)
    assert await steps.apply(engine.rt, run_id) is False

    assert sent[0] == 1, "the renewal before the second wave saw the cancel"
    assert engine.data.lms.writes == writes[0]
    assert RunOpStatus.PLANNED in {op.status for op in await engine.ops(run_id)}


class Doorbell:
    """A `Pause` that ends only when rung, and the `Wake` that rings it: no timer anywhere, so a waiting run that
    goes on did so because the run before it woke it."""

    def __init__(self) -> None:
        self.rung, self.waiting = asyncio.Event(), asyncio.Event()
        self.pauses = 0
        self.woken: list[tuple[str, int]] = []

    async def pause(self, seconds: float) -> None:
        self.pauses += 1
        self.waiting.set()
        await self.rung.wait()
        self.rung.clear()

    async def wake(self, run_id: str, generation: int) -> None:
        self.woken.append((run_id, generation))
        self.rung.set()


async def test_a_waiting_run_starts_when_the_running_one_ends_woken_not_by_its_pause_running_out(
    engine: Engine,
) -> None:
    first = await _queued(engine)
    assert await steps.begin(engine.rt, first) is lease.Claim.GO  # executing
    second = await _queued(engine)
    bell = Doorbell()
    waiting = asyncio.create_task(
        steps.run_sequence(engine.rt, second, 0, step=steps.direct, pause=bell.pause, wake=bell.wake)
    )
    await bell.waiting.wait()  # the second found the first executing and waits

    ended = await steps.run_sequence(engine.rt, first, 0, step=steps.direct, pause=bell.pause, wake=bell.wake)

    assert ended == "succeeded"
    assert await waiting == "succeeded"
    assert bell.woken == [(second, 0)], "the run that ended woke the one waiting, and nothing else"
    assert bell.pauses == 1
    runs = [await engine.get_run(run_id) for run_id in (first, second)]
    assert runs[0].finished_at is not None and runs[1].started_at is not None
    assert runs[1].started_at >= runs[0].finished_at, "never two executing runs of one pipeline"


async def test_a_run_with_nobody_waiting_wakes_no_one(engine: Engine) -> None:
    run_id = await _queued(engine)
    bell = Doorbell()

    assert await steps.run_sequence(engine.rt, run_id, 0, step=steps.direct, pause=bell.pause, wake=bell.wake) == (
        "succeeded"
    )

    assert bell.woken == [] and bell.pauses == 0
