"""Handing HR events to the pipelines of their connection (issue 20, item 2): each (event, pipeline) once, and a
pipeline on hold never delays or multiplies the others' runs, whichever order the pipelines are visited in."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import col, select

from enrolsync.sync.jobs import events
from enrolsync.sync.store import repo
from enrolsync.sync.store.tables import Event, PipelineHealth, Run, RunStatus, utcnow
from tests.support.database import Database
from tests.support.harness import RecordingQueue


async def _two_pipelines(db: Database) -> tuple[str, list[str]]:
    """A source feeding two pipelines; returns (source id, pipeline ids in the order dispatch visits them)."""
    async with db.sessions() as s:
        hr = await repo.create_connection(s, name="hr", connector="memory-source", config={})
        ids = []
        for name in ("a", "b"):
            lms = await repo.create_connection(s, name=f"lms-{name}", connector="memory-target", config={})
            ids.append((await repo.create_pipeline(s, name=name, source_id=hr.id, target_id=lms.id, spec={})).id)
        await s.commit()
    return hr.id, sorted(ids)


async def _runs(db: Database, pipeline_id: str) -> list[Run]:
    async with db.sessions() as s:
        return list((await s.exec(select(Run).where(Run.pipeline_id == pipeline_id))).all())


async def _event(db: Database, event_id: str) -> Event:
    async with db.sessions() as s:
        return (await s.exec(select(Event).where(Event.event_id == event_id))).one()


@pytest.mark.parametrize("held_index", [0, 1], ids=["held-visited-first", "held-visited-last"])
async def test_a_held_pipeline_keeps_its_events_while_the_others_get_each_once(db: Database, held_index: int) -> None:
    source, pipelines = await _two_pipelines(db)
    held, healthy = pipelines[held_index], pipelines[1 - held_index]
    queue = RecordingQueue()
    async with db.sessions() as s:
        s.add(PipelineHealth(pipeline_id=held, failures=1, hold_until=utcnow() + timedelta(hours=1)))
        s.add(Event(connection_id=source, event_id="ev-1", body="{}", hr_ids=["P1"]))
        await s.commit()

    async with db.sessions() as s:
        assert await events.dispatch(s, connection_id=source, queue=queue) == 1
    [first] = await _runs(db, healthy)
    assert first.hr_ids == ["P1"] and await _runs(db, held) == []
    event = await _event(db, "ev-1")
    assert (event.run_ids, event.dispatched_at) == ([first.id], None), "pending for the held pipeline only"

    # The healthy pipeline's run ends; the maintenance loop dispatches again, many times, while the hold lasts.
    async with db.sessions() as s:
        await s.exec(sa.update(Run).where(col(Run.id) == first.id).values(status=RunStatus.SUCCEEDED))
        await s.commit()
    for _ in range(5):
        async with db.sessions() as s:
            assert await events.dispatch(s, connection_id=source, queue=queue) == 0
    assert [r.id for r in await _runs(db, healthy)] == [first.id], "the healthy pipeline got the event once"
    assert queue.ids == [first.id]

    async with db.sessions() as s:
        await s.exec(sa.update(PipelineHealth).values(hold_until=None))
        await s.commit()
        assert await events.dispatch(s, connection_id=source, queue=queue) == 1
    [second] = await _runs(db, held)
    event = await _event(db, "ev-1")
    assert second.hr_ids == ["P1"] and sorted(event.run_ids) == sorted([first.id, second.id])
    assert event.dispatched_at is not None and len(await _runs(db, healthy)) == 1


async def test_an_event_waits_for_a_queued_dry_run_but_a_queued_full_apply_run_covers_it(db: Database) -> None:
    source, [one, two] = await _two_pipelines(db)
    queue = RecordingQueue()
    async with db.sessions() as s:
        dry, _ = await repo.create_run(s, pipeline_id=one, trigger="admin", mode="plan", scope="full")
        full, _ = await repo.create_run(s, pipeline_id=two, trigger="admin", mode="apply", scope="full")
        s.add(Event(connection_id=source, event_id="ev-1", body="{}", hr_ids=["P1"]))
        await s.commit()

    async with db.sessions() as s:
        assert await events.dispatch(s, connection_id=source, queue=queue) == 1

    event = await _event(db, "ev-1")
    assert (event.run_ids, event.dispatched_at) == ([full.id], None), "a full run re-reads everyone; a dry run no one"
    assert (await _runs(db, one))[0].id == dry.id


class Dispatches:
    """A dispatch that counts its rounds; the first waits for `release` (or fails, when told to)."""

    def __init__(self, *, first_fails: bool = False) -> None:
        self.rounds = 0
        self.started, self.release = asyncio.Event(), asyncio.Event()
        self.first_fails = first_fails

    async def __call__(self) -> None:
        self.rounds += 1
        if self.rounds == 1:
            self.started.set()
            await self.release.wait()
            if self.first_fails:
                raise RuntimeError("the database went away")


async def test_calls_arriving_while_a_dispatch_round_runs_share_the_next_round() -> None:
    rounds, dispatch = events.Rounds(), Dispatches()
    first = asyncio.create_task(rounds.after_commit("hr", dispatch))
    await dispatch.started.wait()
    later = [asyncio.create_task(rounds.after_commit("hr", dispatch)) for _ in range(5)]
    await asyncio.sleep(0)  # each later call has arrived and queues behind the round in flight

    dispatch.release.set()
    await asyncio.gather(first, *later)

    assert dispatch.rounds == 2, "the first round may have missed the later calls' events; one more covers them all"
    await rounds.after_commit("hr", dispatch)
    assert dispatch.rounds == 3, "a call arriving with no round in flight gets a round of its own"


async def test_a_failed_round_covers_nobody_waiting_for_it() -> None:
    rounds, dispatch = events.Rounds(), Dispatches(first_fails=True)
    first = asyncio.create_task(rounds.after_commit("hr", dispatch))
    await dispatch.started.wait()
    later = [asyncio.create_task(rounds.after_commit("hr", dispatch)) for _ in range(3)]
    await asyncio.sleep(0)

    dispatch.release.set()

    with pytest.raises(RuntimeError):
        await first
    await asyncio.gather(*later)
    assert dispatch.rounds == 2, "the calls behind the failed round had a round of their own, shared"


async def test_rounds_of_different_connections_do_not_wait_for_each_other() -> None:
    rounds, blocked, free = events.Rounds(), Dispatches(), Dispatches()
    free.rounds = 1  # its calls never block
    stuck = asyncio.create_task(rounds.after_commit("hr-a", blocked))
    await blocked.started.wait()

    await rounds.after_commit("hr-b", free)

    assert free.rounds == 2 and not stuck.done()
    blocked.release.set()
    await stuck
