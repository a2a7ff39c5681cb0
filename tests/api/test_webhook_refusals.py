"""What the public webhook endpoint refuses, and how (issue 20, items 3, 4 and 10): a caller who cannot sign learns
nothing about a connection; bad input, signed or not, is a 4xx problem with nothing stored and no traceback logged;
a call stores each event's own part once, at most `MAX_EVENTS_PER_CALL` of them; the events listing pages by size.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlmodel import select
from structlog.testing import capture_logs

from enrolsync.api.deps import Services
from enrolsync.api.routes.events import PAGE_BYTES
from enrolsync.api.routes.webhooks import MAX_EVENTS_PER_CALL, NOT_VERIFIED
from enrolsync.connectors.bamboohr import BambooHRSource
from enrolsync.connectors.kit.webhooks import sign_timestamped
from enrolsync.connectors.memory import MemorySource, MemoryTarget
from enrolsync.connectors.registry import Registry
from enrolsync.sync.store.tables import Event
from tests.support.api import Clock
from tests.support.assertions import assert_problem
from tests.support.harness import RecordingQueue

SECRET = "webhook-refusals-key-5521"
NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


@pytest.fixture
def registry() -> Registry:
    """Memory, plus BambooHR for a second scheme whose connections may lack a key."""
    return Registry.from_classes(MemorySource, MemoryTarget, BambooHRSource)


@pytest.fixture(autouse=True)
def _fixed_clock(clock: Clock) -> Iterator[None]:
    clock.moment = NOW  # signatures are stamped with the app's clock, not the wall's
    yield


async def _source(client: httpx.AsyncClient, **config: Any) -> str:
    answer = await client.post("/connections", json={
        "name": uuid.uuid4().hex[:8], "connector": "memory-source", "config": {"dataset": uuid.uuid4().hex, **config},
    })  # fmt: skip
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def _signed(body: bytes, *, secret: str = SECRET) -> dict[str, str]:
    return {"Enrolsync-Signature": sign_timestamped(secret, body, int(NOW.timestamp()))}


def _events_body(items: list[dict[str, Any]], **extra: Any) -> bytes:
    return json.dumps({"events": items, **extra}).encode()


async def _stored(app: FastAPI) -> list[Event]:
    services: Services = app.state.services
    async with services.sessions() as session:
        return list((await session.exec(select(Event))).all())


def _comparable(answer: httpx.Response) -> tuple[Any, ...]:
    body = answer.json()
    return answer.status_code, answer.headers.get("www-authenticate"), body["type"], body["title"], body["detail"]


async def test_who_cannot_sign_learns_nothing_about_a_connection(
    client: httpx.AsyncClient, anonymous: httpx.AsyncClient
) -> None:
    keyed = await _source(client, webhook_secret=SECRET)
    keyless = await _source(client)
    bamboo_keyless = (await client.post("/connections", json={
        "name": "bamboo", "connector": "bamboohr", "config": {"company_domain": "acme", "api_key": "k-1"},
    })).json()["id"]  # fmt: skip
    body = _events_body([{"id": "ev-1", "type": "updated", "hr_id": "P1"}])
    forged = _signed(body, secret="a-guess")

    answers = [
        await anonymous.post(f"/webhooks/{target}", content=body, headers=forged)
        for target in ("no-such-connection", keyless, bamboo_keyless, keyed, "abc%00def")
    ]

    assert {_comparable(a) for a in answers} == {_comparable(answers[0])}, "one answer for all five"
    assert (answers[0].status_code, answers[0].json()["detail"]) == (401, NOT_VERIFIED)
    assert all(a.headers["content-type"] == "application/problem+json" for a in answers)


HUGE_DEPTH = 50_000
BAD_SIGNED_BODIES = {
    "nested-deeper-than-any-parser": b'{"events": ' + b"[" * HUGE_DEPTH + b"]" * HUGE_DEPTH + b"}",
    "lone-surrogate-event-id": b'{"events": [{"id": "\\ud800", "type": "updated", "hr_id": "P1"}]}',
    "nul-in-event-id": b'{"events": [{"id": "a\\u0000b", "type": "updated", "hr_id": "P1"}]}',
    "nul-in-person-id": b'{"events": [{"id": "ev-1", "type": "updated", "hr_id": "P\\u0000"}]}',
    "event-id-too-long": _events_body([{"id": "e" * 201, "type": "updated", "hr_id": "P1"}]),
    "empty-person-id": _events_body([{"id": "ev-1", "type": "updated", "hr_id": ""}]),
    "not-json": b"\xff\xfe not json",
}


@pytest.mark.parametrize("body", BAD_SIGNED_BODIES.values(), ids=BAD_SIGNED_BODIES.keys())
async def test_a_signed_call_that_is_not_a_storable_event_is_400_with_nothing_stored(
    client: httpx.AsyncClient,
    anonymous: httpx.AsyncClient,
    app: FastAPI,
    queue: RecordingQueue,
    caplog: pytest.LogCaptureFixture,
    body: bytes,
) -> None:
    source = await _source(client, webhook_secret=SECRET)
    caplog.set_level(logging.DEBUG)

    with capture_logs() as logs:
        answer = await anonymous.post(f"/webhooks/{source}", content=body, headers=_signed(body))

    assert_problem(answer, 400)
    assert await _stored(app) == [] and queue.ids == []
    assert not [e for e in logs if "exc_info" in e or e["log_level"] in ("error", "critical")], logs
    assert not [r for r in caplog.records if r.exc_info], "a refused call logged a traceback"


async def test_bamboohr_calls_nested_deeper_than_any_parser_are_400_too(
    client: httpx.AsyncClient, anonymous: httpx.AsyncClient, app: FastAPI, caplog: pytest.LogCaptureFixture
) -> None:
    bamboo = (await client.post("/connections", json={
        "name": "bamboo", "connector": "bamboohr",
        "config": {"company_domain": "acme", "api_key": "k-1", "webhook_private_key": SECRET},
    })).json()["id"]  # fmt: skip
    body = BAD_SIGNED_BODIES["nested-deeper-than-any-parser"]
    stamp = str(int(NOW.timestamp()))
    signature = hmac.new(SECRET.encode(), body + stamp.encode(), hashlib.sha256).hexdigest()
    headers = {"X-BambooHR-Signature": signature, "X-BambooHR-Timestamp": stamp}

    answer = await anonymous.post(f"/webhooks/{bamboo}", content=body, headers=headers)

    assert_problem(answer, 400)
    assert await _stored(app) == [] and not [r for r in caplog.records if r.exc_info]


async def test_a_signature_of_non_ascii_bytes_is_401_not_a_crash(
    client: httpx.AsyncClient, anonymous: httpx.AsyncClient, app: FastAPI, caplog: pytest.LogCaptureFixture
) -> None:
    source = await _source(client, webhook_secret=SECRET)
    body = _events_body([{"id": "ev-1", "type": "updated", "hr_id": "P1"}])
    header = f"t={int(NOW.timestamp())},v1=".encode() + "é".encode() * 32  # sent as raw bytes, read as latin-1

    with capture_logs() as logs:
        answer = await anonymous.post(f"/webhooks/{source}", content=body, headers={"Enrolsync-Signature": header})

    assert assert_problem(answer, 401)["detail"] == NOT_VERIFIED
    assert await _stored(app) == []
    assert not [e for e in logs if "exc_info" in e] and not [r for r in caplog.records if r.exc_info]


async def test_an_event_id_reused_for_a_different_event_is_a_conflict_and_the_call_is_not_kept(
    client: httpx.AsyncClient, anonymous: httpx.AsyncClient, app: FastAPI, clock: Clock
) -> None:
    source = await _source(client, webhook_secret=SECRET)
    first = _events_body([{"id": "ev-1", "type": "updated", "hr_id": "P1"}])
    assert (await anonymous.post(f"/webhooks/{source}", content=first, headers=_signed(first))).status_code == 202

    reused = _events_body([{"id": "ev-2", "type": "created", "hr_id": "P2"}, {"id": "ev-1", "type": "deleted",
                                                                              "hr_id": "P9"}])  # fmt: skip
    answer = await anonymous.post(f"/webhooks/{source}", content=reused, headers=_signed(reused))

    assert "ev-1" in assert_problem(answer, 409)["detail"]
    assert [e.event_id for e in await _stored(app)] == ["ev-1"], "nothing of the refused call was kept"
    # A retry of the first call, signed anew a minute later, is the same event delivered again.
    clock.moment = NOW.replace(minute=31)
    retry_headers = {"Enrolsync-Signature": sign_timestamped(SECRET, first, int(clock.moment.timestamp()))}
    again = await anonymous.post(f"/webhooks/{source}", content=first, headers=retry_headers)
    assert again.json() == {"accepted": 0, "duplicates": 1}


async def test_a_call_stores_each_event_once_not_its_body_per_event(
    client: httpx.AsyncClient, anonymous: httpx.AsyncClient, app: FastAPI
) -> None:
    source = await _source(client, webhook_secret=SECRET)
    items = [{"id": f"ev-{n}", "type": "updated", "hr_id": f"P{n % 40}"} for n in range(MAX_EVENTS_PER_CALL)]
    body = _events_body(items, note="x" * 400_000)  # a sender's extra fields ride along in the body

    answer = await anonymous.post(f"/webhooks/{source}", content=body, headers=_signed(body))

    assert answer.json() == {"accepted": MAX_EVENTS_PER_CALL, "duplicates": 0}
    stored = await _stored(app)
    kept = sum(len(e.body) + len(json.dumps(e.headers)) for e in stored)
    assert kept < len(body) / 2, f"{kept} bytes kept for a {len(body)}-byte call"
    assert {json.loads(e.body)["event_id"] for e in stored} == {item["id"] for item in items}
    listed = await client.get(f"/connections/{source}/events", params={"limit": 200})
    page = listed.json()
    assert len({e["id"] for e in page["items"]}) == 200 and page["next"] == page["items"][-1]["id"]
    assert len(listed.content) < 100_000


async def test_more_events_than_a_call_may_carry_is_413_with_nothing_stored(
    client: httpx.AsyncClient, anonymous: httpx.AsyncClient, app: FastAPI
) -> None:
    source = await _source(client, webhook_secret=SECRET)
    body = _events_body([{"id": f"ev-{n}", "type": "updated", "hr_id": "P1"} for n in range(MAX_EVENTS_PER_CALL + 1)])

    answer = await anonymous.post(f"/webhooks/{source}", content=body, headers=_signed(body))

    assert str(MAX_EVENTS_PER_CALL) in assert_problem(answer, 413)["detail"]
    assert await _stored(app) == []


async def test_the_events_listing_pages_by_size_as_well_as_by_count(client: httpx.AsyncClient, app: FastAPI) -> None:
    source = await _source(client, webhook_secret=SECRET)
    body = json.dumps({"events": [], "padding": "p" * 100_000})  # as events received before issue 20 were kept
    services: Services = app.state.services
    async with services.sessions() as session:
        for n in range(7):
            session.add(Event(connection_id=source, event_id=f"old-{n}", body=body, hr_ids=["P1"]))
            await session.commit()  # one at a time: distinct instants, a stable newest-first order

    seen: list[str] = []
    after: str | None = None
    pages = 0
    while pages < 7:
        params: dict[str, Any] = {"limit": 200} | ({"after": after} if after else {})
        answer = await client.get(f"/connections/{source}/events", params=params)
        pages += 1
        assert len(answer.content) < PAGE_BYTES + 110_000, "a page ends once its bodies pass the budget"
        seen += [e["event_id"] for e in answer.json()["items"]]
        after = answer.json()["next"]
        if after is None:
            break
    assert seen == [f"old-{n}" for n in reversed(range(7))], "every event once, newest first"
    assert pages == 4, "two 100 KB bodies fit the 256 KiB budget: seven events take four pages"
