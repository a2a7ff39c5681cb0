"""HR event webhooks: verified by signature, stored before 202, de-duplicated, handed to person-scoped runs."""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlmodel import select

from enrolsync.api.deps import Services
from enrolsync.connectors.kit.webhooks import sign_timestamped
from enrolsync.connectors.memory.state import dataset
from enrolsync.connectors.model import Person
from enrolsync.sync.run import steps
from enrolsync.sync.run.context import Runtime
from enrolsync.sync.store.tables import Event, Link, Run, RunStatus
from tests.support.harness import RecordingQueue

SECRET = "hr-webhook-secret-8812"


async def _setup(client: httpx.AsyncClient) -> tuple[str, str, str]:
    name = uuid.uuid4().hex
    data = dataset(name)
    for n in range(30):
        data.hris.put(Person(hr_id=f"P{n}", given_name="G", family_name=str(n), work_email=f"p{n}@example.com"))
    source = (await client.post("/connections", json={
        "name": "hr", "connector": "memory-source", "config": {"dataset": name, "webhook_secret": SECRET},
    })).json()  # fmt: skip
    target = (await client.post("/connections", json={
        "name": "lms", "connector": "memory-target", "config": {"dataset": name},
    })).json()  # fmt: skip
    spec = {"rules": [{"name": "all", "when": {"attr": "family_name", "op": "exists"}, "enrol": ["C1"]}]}
    pipeline = await client.post("/pipelines", json={"name": "p", "source_id": source["id"], "target_id": target["id"],
                                                     "spec": spec})  # fmt: skip
    assert pipeline.status_code == 201, pipeline.text
    return source["id"], pipeline.json()["id"], name


def _call(
    events: list[dict[str, str]], *, secret: str = SECRET, at: datetime | None = None
) -> tuple[bytes, dict[str, str]]:
    body = json.dumps({"events": events}).encode()
    stamp = int((at or datetime.now(UTC)).timestamp())
    return body, {"Enrolsync-Signature": sign_timestamped(secret, body, stamp), "Content-Type": "application/json"}


async def _events(app: FastAPI) -> list[Event]:
    services: Services = app.state.services
    async with services.sessions() as session:
        return list((await session.exec(select(Event))).all())


async def test_a_signed_event_is_stored_and_becomes_a_person_scoped_applied_run(
    client: httpx.AsyncClient, anonymous: httpx.AsyncClient, app: FastAPI, queue: RecordingQueue
) -> None:
    source_id, pipeline_id, _ = await _setup(client)
    body, headers = _call([{"id": "ev-1", "type": "updated", "hr_id": "P3"}])

    answer = await anonymous.post(f"/webhooks/{source_id}", content=body, headers=headers)

    assert answer.status_code == 202 and answer.json() == {"accepted": 1, "duplicates": 0}
    [event] = await _events(app)
    assert (event.event_id, event.hr_ids) == ("ev-1", ["P3"])
    assert json.loads(event.body) | {"occurred_at": None} == {
        "event_id": "ev-1", "kind": "updated", "hr_id": "P3", "occurred_at": None,
    }, "the event's own part is kept, not the call's body"  # fmt: skip
    run = (await client.get(f"/runs/{event.run_id}")).json()
    assert (run["mode"], run["scope"], run["hr_ids"], run["trigger"]) == ("apply", "people", ["P3"], "webhook")
    assert queue.ids == [run["id"]]
    listed = (await client.get(f"/connections/{source_id}/events")).json()["items"]
    assert [(e["event_id"], e["run_ids"]) for e in listed] == [("ev-1", [run["id"]])]


async def test_a_redelivered_event_is_stored_once(
    client: httpx.AsyncClient, anonymous: httpx.AsyncClient, app: FastAPI
) -> None:
    source_id, _, _ = await _setup(client)
    body, headers = _call([{"id": "ev-7", "type": "updated", "hr_id": "P1"}])
    first = await anonymous.post(f"/webhooks/{source_id}", content=body, headers=headers)
    again = await anonymous.post(f"/webhooks/{source_id}", content=body, headers=headers)
    assert (first.json(), again.json()) == ({"accepted": 1, "duplicates": 0}, {"accepted": 0, "duplicates": 1})
    assert len(await _events(app)) == 1


async def test_events_page_newest_first_and_an_unknown_cursor_is_400(
    client: httpx.AsyncClient, anonymous: httpx.AsyncClient
) -> None:
    source_id, _, _ = await _setup(client)
    for n in range(3):  # separate deliveries, separate instants
        body, headers = _call([{"id": f"ev-{n}", "type": "updated", "hr_id": "P1"}])
        assert (await anonymous.post(f"/webhooks/{source_id}", content=body, headers=headers)).status_code == 202
    url = f"/connections/{source_id}/events"

    first = (await client.get(url, params={"limit": 2})).json()
    rest = (await client.get(url, params={"limit": 2, "after": first["next"]})).json()

    assert [e["event_id"] for e in first["items"] + rest["items"]] == ["ev-2", "ev-1", "ev-0"]
    assert rest["next"] is None
    # As every other list: a cursor that names no event of this connection is refused, not an empty page.
    assert (await client.get(url, params={"after": "no-such-event"})).status_code == 400


@pytest.mark.parametrize(
    "tamper, status",
    [
        pytest.param(lambda b, h: (b + b" ", h), 401, id="body-changed"),
        pytest.param(lambda b, h: (b, {**h, "Enrolsync-Signature": "t=1,v1=00"}), 401, id="stale-and-wrong"),
        pytest.param(lambda b, h: (b, {k: v for k, v in h.items() if k != "Enrolsync-Signature"}), 401, id="unsigned"),
    ],
)
async def test_a_call_that_does_not_verify_is_401_and_stored_nowhere(
    client: httpx.AsyncClient,
    anonymous: httpx.AsyncClient,
    app: FastAPI,
    queue: RecordingQueue,
    tamper: Any,
    status: int,
) -> None:
    source_id, _, _ = await _setup(client)
    body, headers = tamper(*_call([{"id": "ev-2", "type": "updated", "hr_id": "P2"}]))

    answer = await anonymous.post(f"/webhooks/{source_id}", content=body, headers=headers)

    assert answer.status_code == status
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert await _events(app) == [] and queue.ids == []


async def test_a_replayed_call_from_long_ago_is_rejected(
    client: httpx.AsyncClient, anonymous: httpx.AsyncClient
) -> None:
    source_id, _, _ = await _setup(client)
    body, headers = _call([{"id": "ev-3", "type": "updated", "hr_id": "P2"}], at=datetime(2020, 1, 1, tzinfo=UTC))
    assert (await anonymous.post(f"/webhooks/{source_id}", content=body, headers=headers)).status_code == 401


async def test_a_malformed_body_is_400_with_a_reason(
    client: httpx.AsyncClient, anonymous: httpx.AsyncClient, app: FastAPI
) -> None:
    source_id, _, _ = await _setup(client)
    body = b'{"events": [{"id": 1}]'
    headers = {"Enrolsync-Signature": sign_timestamped(SECRET, body, int(datetime.now(UTC).timestamp()))}
    answer = await anonymous.post(f"/webhooks/{source_id}", content=body, headers=headers)
    assert answer.status_code == 400 and "expected" in answer.json()["detail"]
    assert await _events(app) == []


async def test_an_oversized_body_is_refused(
    client: httpx.AsyncClient, anonymous: httpx.AsyncClient, app: FastAPI
) -> None:
    source_id, _, _ = await _setup(client)
    body, headers = _call([{"id": f"ev-{n}", "type": "updated", "hr_id": "P1" * 20} for n in range(20_000)])
    assert len(body) > 1024 * 1024
    assert (await anonymous.post(f"/webhooks/{source_id}", content=body, headers=headers)).status_code == 413
    assert await _events(app) == []


async def test_unknown_connection_is_answered_as_a_bad_signature(anonymous: httpx.AsyncClient) -> None:
    body, headers = _call([{"id": "ev-1", "type": "updated", "hr_id": "P1"}])
    answer = await anonymous.post("/webhooks/nope", content=body, headers=headers)
    assert answer.status_code == 401 and answer.json()["detail"] == "the call's signature does not verify"


async def test_a_target_connection_is_answered_as_a_bad_signature(
    client: httpx.AsyncClient, anonymous: httpx.AsyncClient
) -> None:
    target = (await client.post("/connections", json={
        "name": "lms", "connector": "memory-target", "config": {"dataset": uuid.uuid4().hex},
    })).json()  # fmt: skip
    body, headers = _call([{"id": "ev-1", "type": "updated", "hr_id": "P1"}])
    answer = await anonymous.post(f"/webhooks/{target['id']}", content=body, headers=headers)
    assert answer.status_code == 401 and answer.json()["detail"] == "the call's signature does not verify"


async def test_a_burst_with_duplicates_and_forgeries_loses_nothing(
    client: httpx.AsyncClient, anonymous: httpx.AsyncClient, app: FastAPI, queue: RecordingQueue
) -> None:
    source_id, pipeline_id, name = await _setup(client)
    rng = random.Random(4)
    valid = [{"id": f"ev-{n}", "type": "updated", "hr_id": f"P{rng.randrange(30)}"} for n in range(600)]
    calls: list[tuple[bytes, dict[str, str], int]] = []
    for event in valid:
        calls.append((*_call([event]), 202))
    for event in rng.sample(valid, 250):  # redeliveries
        calls.append((*_call([event]), 202))
    for n in range(150):  # forgeries: signed with the wrong secret
        calls.append((*_call([{"id": f"forged-{n}", "type": "deleted", "hr_id": "P0"}], secret="guess"), 401))
    rng.shuffle(calls)
    assert len(calls) == 1000

    async def send(call: tuple[bytes, dict[str, str], int]) -> None:
        answer = await anonymous.post(f"/webhooks/{source_id}", content=call[0], headers=call[1])
        assert answer.status_code == call[2], answer.text

    for start in range(0, len(calls), 8):  # concurrent deliveries race on the same event ids and the queued run
        await asyncio.gather(*(send(c) for c in calls[start : start + 8]))

    stored = await _events(app)
    assert sorted(e.event_id for e in stored) == sorted(e["id"] for e in valid), "every valid event stored once"
    assert all(e.dispatched_at is not None and e.run_ids for e in stored), "every event handed to a run"
    services: Services = app.state.services
    rt = Runtime(sessions=services.sessions, registry=services.registry, box=services.box)
    for run_id in dict.fromkeys(queue.ids):
        await steps.execute(rt, run_id)
    async with services.sessions() as session:
        runs = list((await session.exec(select(Run).where(Run.pipeline_id == pipeline_id))).all())
        linked = {link.hr_id for link in (await session.exec(select(Link))).all() if link.account_id}
    assert {r.status for r in runs} == {RunStatus.SUCCEEDED}
    named = {e["hr_id"] for e in valid}
    assert named <= linked, "every person an event named was provisioned"
    covered = {h for r in runs for h in r.hr_ids}
    assert covered == named
    held = {r.id: set(r.hr_ids) for r in runs}
    told_wrong = [e.event_id for e in stored if not all(set(e.hr_ids) <= held[run_id] for run_id in e.run_ids)]
    assert not told_wrong, "an event marked handed to a run that does not hold its person"
    assert {
        ("C1" in {c for a, c in dataset(name).lms.enrolments if a == acc}) for acc in dataset(name).lms.accounts
    } == {True}


async def test_calls_arriving_while_a_run_executes_land_in_one_waiting_run_each_answered_once_handed_to_it(
    client: httpx.AsyncClient, anonymous: httpx.AsyncClient, app: FastAPI, queue: RecordingQueue
) -> None:
    source_id, pipeline_id, _ = await _setup(client)
    services: Services = app.state.services
    rt = Runtime(sessions=services.sessions, registry=services.registry, box=services.box)
    body, headers = _call([{"id": "ev-first", "type": "updated", "hr_id": "P29"}])
    assert (await anonymous.post(f"/webhooks/{source_id}", content=body, headers=headers)).status_code == 202
    [executing] = queue.ids
    assert await steps.begin(rt, executing) == "go"  # the first run executes while the burst arrives

    async def send(n: int) -> None:
        body, headers = _call([{"id": f"ev-{n}", "type": "updated", "hr_id": f"P{n}"}])
        answer = await anonymous.post(f"/webhooks/{source_id}", content=body, headers=headers)
        assert answer.status_code == 202, answer.text
        async with services.sessions() as session:
            event = (await session.exec(select(Event).where(Event.event_id == f"ev-{n}"))).one()
        assert event.run_ids and event.dispatched_at is not None, "answered before its person was handed to a run"

    await asyncio.gather(*(send(n) for n in range(20)))

    async with services.sessions() as session:
        runs = list((await session.exec(select(Run).where(Run.pipeline_id == pipeline_id))).all())
    waiting = [run for run in runs if run.id != executing]
    assert len(waiting) == 1, "every call in the burst joined the one waiting run"
    assert sorted(waiting[0].hr_ids) == sorted(f"P{n}" for n in range(20))
    assert queue.ids == [executing, waiting[0].id], "the waiting run was handed to the queue once"
