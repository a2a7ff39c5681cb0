"""Links, checkpoints and webhook events on both databases: upserts round-trip JSON and tz-aware times."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone

from enrolsync.sync.store import ledger, repo
from enrolsync.sync.store.tables import Link, utcnow
from tests.support.database import Database

PERSON = {
    "hr_id": "1",
    "name": {"given": "Zoë", "family": "Ørsted"},
    "hire_date": "2024-02-29",
    "custom": {"badges": [1, 2.5, None, True], "empty": {}},
}


async def _pipeline(db: Database) -> tuple[str, str]:
    async with db.sessions() as s:
        hr = await repo.create_connection(s, name="hr", connector="memory-source", config={})
        lms = await repo.create_connection(s, name="lms", connector="memory-target", config={})
        pipeline = await repo.create_pipeline(s, name="p", source_id=hr.id, target_id=lms.id, spec={})
        await s.commit()
    return pipeline.id, hr.id


async def test_person_snapshots_round_trip_json_and_update_links_in_place(db: Database) -> None:
    pipeline_id, _ = await _pipeline(db)
    applied = {"fields": {"email": "zoe@example.test"}, "courses": ["C1", "C2"], "active": True}
    async with db.sessions() as s:
        await ledger.upsert_persons(s, pipeline_id=pipeline_id, persons={"1": PERSON})
        await s.commit()
        made = (await repo.get_links(s, pipeline_id=pipeline_id))["1"]
        assert made.account_id is None and made.person == PERSON and made.applied == {}
        made.account_id, made.applied = "u-9", applied  # what an apply records
        s.add(made)
        await s.commit()
    moved = {**PERSON, "department": "Sales"}
    async with db.sessions() as s:
        await ledger.upsert_persons(s, pipeline_id=pipeline_id, persons={"1": moved})
        await s.commit()
    async with db.sessions() as s:
        links = await repo.get_links(s, pipeline_id=pipeline_id)
    # The next read replaces the snapshot and keeps what was applied to the account.
    assert list(links) == ["1"]
    assert (links["1"].account_id, links["1"].applied, links["1"].person) == ("u-9", applied, moved)
    assert links["1"].updated_at.tzinfo is not None


async def test_timestamps_come_back_as_the_same_instant_in_utc(db: Database) -> None:
    pipeline_id, _ = await _pipeline(db)
    local = datetime(2031, 3, 30, 1, 30, 15, 123456, tzinfo=timezone(timedelta(hours=-5)))
    async with db.sessions() as s:
        s.add(Link(pipeline_id=pipeline_id, hr_id="1", last_error="x", last_error_at=local))
        await s.commit()
    async with db.sessions() as s:
        link = (await repo.get_links(s, pipeline_id=pipeline_id, hr_ids=["1"]))["1"]
    assert link.last_error_at == local
    assert link.last_error_at is not None and link.last_error_at.tzinfo == UTC


async def test_links_are_fetched_by_hr_id_in_chunks_and_paged(db: Database) -> None:
    pipeline_id, _ = await _pipeline(db)
    hr_ids = [f"{n:04d}" for n in range(1200)]
    async with db.sessions() as s:
        s.add_all(Link(pipeline_id=pipeline_id, hr_id=hr_id, account_id=f"u{hr_id}") for hr_id in hr_ids[::2])
        await s.commit()
        # More ids than one IN list takes; the unknown half is simply absent.
        found = await repo.get_links(s, pipeline_id=pipeline_id, hr_ids=hr_ids)
        assert sorted(found) == hr_ids[::2]
        assert found["0010"].account_id == "u0010"
        first = await repo.list_links(s, pipeline_id=pipeline_id, limit=2)
        assert [link.hr_id for link in first] == ["0000", "0002"]
        assert [link.hr_id for link in await repo.list_links(s, pipeline_id=pipeline_id, after="0002", limit=1)] == [
            "0004"
        ]
        assert await repo.get_links(s, pipeline_id="other", hr_ids=["0000"]) == {}


async def test_checkpoint_is_saved_replaced_and_forgotten(db: Database) -> None:
    pipeline_id, _ = await _pipeline(db)
    async with db.sessions() as s:
        assert await repo.get_checkpoint(s, pipeline_id=pipeline_id) is None
        await repo.save_checkpoint(s, pipeline_id=pipeline_id, cursor="2024-01-01T00:00:00Z")
        await repo.save_checkpoint(s, pipeline_id=pipeline_id, cursor="opaque:2")
        await s.commit()
    async with db.sessions() as s:
        assert await repo.get_checkpoint(s, pipeline_id=pipeline_id) == "opaque:2"
        await repo.save_checkpoint(s, pipeline_id=pipeline_id, cursor=None)
        await s.commit()
        assert await repo.get_checkpoint(s, pipeline_id=pipeline_id) is None


async def test_a_redelivered_event_is_stored_once(db: Database) -> None:
    _, connection_id = await _pipeline(db)
    body = '{"employees": [{"id": "1"}]}'
    async with db.sessions() as s:
        first, new = await repo.store_event(
            s, connection_id=connection_id, event_id="evt-1", body=body, headers={"x-signature": "abc"}, hr_ids=["1"]
        )
        await s.commit()
    assert new and first.body == body and first.headers == {"x-signature": "abc"} and first.hr_ids == ["1"]
    async with db.sessions() as s:
        again, new_again = await repo.store_event(s, connection_id=connection_id, event_id="evt-1", body="changed")
        # The caller's transaction is still usable after the duplicate.
        other, other_new = await repo.store_event(s, connection_id=connection_id, event_id="evt-2", body=body)
        await s.commit()
    assert (again.id, again.body, new_again) == (first.id, body, False)
    assert other_new and other.id != first.id
    async with db.sessions() as s:
        assert {e.event_id for e in await repo.list_events(s, connection_id=connection_id)} == {"evt-1", "evt-2"}


async def test_concurrent_deliveries_of_one_event_store_one_row(db: Database) -> None:
    _, connection_id = await _pipeline(db)

    async def deliver() -> bool:
        async with db.sessions() as s:
            _, new = await repo.store_event(s, connection_id=connection_id, event_id="evt-1", body="{}")
            await s.commit()
            return new

    assert sorted(await asyncio.gather(*(deliver() for _ in range(4)))) == [False, False, False, True]


async def test_events_list_newest_first_and_pending_until_a_run_takes_them(db: Database) -> None:
    _, connection_id = await _pipeline(db)
    async with db.sessions() as s:
        stored = []
        for n in range(3):
            event, _ = await repo.store_event(s, connection_id=connection_id, event_id=f"e{n}", body="{}")
            stored.append(event)
            await s.commit()  # separate deliveries, separate instants
        stored[0].dispatched_at = utcnow()  # a run took it (`jobs/events.py`)
        s.add(stored[0])
        await s.commit()
        assert [e.event_id for e in await repo.list_events(s)] == ["e2", "e1", "e0"]
        assert [e.event_id for e in await repo.list_events(s, pending=True)] == ["e2", "e1"]
        assert [e.event_id for e in await repo.list_events(s, limit=1)] == ["e2"]


async def test_stored_persons_are_compared_by_digest_and_only_changes_are_written(db: Database) -> None:
    pipeline_id, _ = await _pipeline(db)
    ann = {"hr_id": "1", "manager_hr_id": "9"}
    bob = {"hr_id": "2", "manager_hr_id": "8"}
    async with db.sessions() as s:
        managers = await ledger.store_persons(
            s, pipeline_id=pipeline_id, persons={"1": ann, "2": bob}, digests={"1": "a1", "2": "b1"}
        )
        await s.commit()
        before = {
            h: (lk.person_fp, lk.updated_at) for h, lk in (await repo.get_links(s, pipeline_id=pipeline_id)).items()
        }
    assert managers == {"9", "8"} and {h: fp for h, (fp, _) in before.items()} == {"1": "a1", "2": "b1"}

    moved = {"hr_id": "2", "manager_hr_id": "7"}
    async with db.sessions() as s:
        # Ann's digest is unchanged: her link is not written (nor her stored record read).
        managers = await ledger.store_persons(
            s, pipeline_id=pipeline_id, persons={"1": ann, "2": moved}, digests={"1": "a1", "2": "b2"}
        )
        await s.commit()
        after = await repo.get_links(s, pipeline_id=pipeline_id)
    assert (after["1"].person, after["1"].updated_at) == (ann, before["1"][1])
    assert (after["2"].person, after["2"].person_fp) == (moved, "b2")
    assert managers == {"9", "8", "7"}, "a changed person's old manager and new one are both re-planned"


async def test_a_changed_person_is_looked_for_again_by_matching(db: Database) -> None:
    pipeline_id, _ = await _pipeline(db)
    async with db.sessions() as s:
        s.add(
            Link(
                pipeline_id=pipeline_id, hr_id="1", person=PERSON, person_fp="p1", sought_on=datetime(2031, 1, 2).date()
            )
        )
        await s.commit()
        await ledger.store_persons(s, pipeline_id=pipeline_id, persons={"1": PERSON}, digests={"1": "p1"})
        await s.commit()
        assert (await repo.get_links(s, pipeline_id=pipeline_id))["1"].sought_on is not None
        await ledger.store_persons(s, pipeline_id=pipeline_id, persons={"1": PERSON}, digests={"1": "p2"})
        await s.commit()
        assert (await repo.get_links(s, pipeline_id=pipeline_id))["1"].sought_on is None
