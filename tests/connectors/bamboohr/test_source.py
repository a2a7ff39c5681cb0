"""BambooHRSource against the fake: pages, checkpoints, deltas, faults and webhooks."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from datetime import timedelta
from typing import cast

import pytest
from pydantic import SecretStr

from enrolsync.connectors.bamboohr import BambooHRSource
from enrolsync.connectors.bamboohr.fake.server import BambooHRFake
from enrolsync.connectors.base import Cursor
from enrolsync.connectors.errors import AuthError, Invalid, PermanentError, TransientError
from enrolsync.connectors.kit.client import build_client
from enrolsync.connectors.kit.retry import ReadRetry
from enrolsync.connectors.model import HrEventKind, Page, Person, PersonStatus
from enrolsync.connectors.testing.fakes import FakeClock
from tests.support.connectors import PAGE_SIZE, PAYLOADS, dataset_requests, make_config


async def pages_of(source: BambooHRSource, since: str | None = None) -> list[Page[Person]]:
    return [page async for page in source.read_persons(None if since is None else Cursor(since))]


def ids(pages: list[Page[Person]]) -> list[str]:
    return [person.hr_id for page in pages for person in page.items]


async def test_full_read_pages_through_everyone(source: BambooHRSource, fake: BambooHRFake) -> None:
    pages = await pages_of(source)
    assert [len(page.items) for page in pages] == [10, 10, 10, 10, 10, 7]
    assert sorted(ids(pages)) == sorted(fake.hr_ids())
    assert len(dataset_requests(fake)) == len(pages)
    bodies = [json.loads(r.content) for r in dataset_requests(fake)]
    assert [b["page"] for b in bodies] == [1, 2, 3, 4, 5, 6] and {b["pageSize"] for b in bodies} == {PAGE_SIZE}
    assert all(r.headers["Authorization"].startswith("Basic ") for r in fake.requests)


async def test_full_read_includes_leavers_and_people_on_leave(source: BambooHRSource, fake: BambooHRFake) -> None:
    people = {p.hr_id: p for page in await pages_of(source) for p in page.items}
    leavers = {hr_id for hr_id in fake.hr_ids() if fake.row(hr_id)["status"] == "Inactive"}
    assert leavers and {hr_id for hr_id, p in people.items() if p.status is PersonStatus.TERMINATED} == leavers
    assert any(p.status is PersonStatus.LEAVE for p in people.values())
    ceo = people["101"]
    assert (ceo.manager_hr_id, ceo.job_title) == (None, "Chief Executive Officer")


async def test_mid_read_checkpoint_resumes_after_that_page(source: BambooHRSource) -> None:
    everyone = await pages_of(source)
    resumed = await pages_of(source, everyone[1].checkpoint)
    assert ids(everyone[:2]) + ids(resumed) == ids(everyone)
    assert resumed[-1].checkpoint == everyone[-1].checkpoint


async def test_incremental_read_yields_exactly_the_changed(source: BambooHRSource, fake: BambooHRFake) -> None:
    full = await pages_of(source)
    hired = fake.hire("Noor", "Haddad", department="Sales", manager="102")
    fake.move("120", department="Legal", manager="101")
    fake.terminate("130", fake.today)
    fake.delete("140")
    delta = await pages_of(source, full[-1].checkpoint)
    people = {p.hr_id: p for page in delta for p in page.items}
    assert set(people) == {hired, "120", "130"}
    assert [hr_id for page in delta for hr_id in page.removed] == ["140"]
    assert (people["120"].department, people["120"].manager_hr_id) == ("Legal", "101")
    assert (people["130"].status, people["130"].termination_date) == (PersonStatus.TERMINATED, fake.today)
    assert people[hired].hire_date == fake.today
    quiet = await pages_of(source, delta[-1].checkpoint)
    assert [(page.items, page.removed) for page in quiet] == [((), ())]


async def test_incremental_read_batches_ids_and_resumes_mid_way(fake: BambooHRFake, sleeps: FakeClock) -> None:
    config = make_config(fake, id_batch_size=2)
    async with build_client(config, transport=fake.transport()) as http:
        source = BambooHRSource(config, http, retry=ReadRetry(clock=sleeps))
        start = (await pages_of(source))[-1].checkpoint
        for hr_id in ("110", "111", "112", "113", "114"):
            fake.move(hr_id, job_title="Staff Engineer")
        before = len(dataset_requests(fake))
        delta = await pages_of(source, start)
        assert [ids([page]) for page in delta] == [["110", "111"], ["112", "113"], ["114"]]
        assert len(dataset_requests(fake)) - before == 3  # one request per batch, not one per person
        fake.move("111", job_title="Principal Engineer")  # changed again after the first page was read
        resumed = await pages_of(source, delta[0].checkpoint)
        assert ids(resumed) == ["111", "112", "113", "114"]


async def test_throttling_waits_as_long_as_retry_after_says(
    source: BambooHRSource, fake: BambooHRFake, sleeps: FakeClock
) -> None:
    fake.fail_next(1, status=503, retry_after=7, headers={"x-bamboohr-error-message": "Service Unavailable"})
    fake.fail_next(1, status=429, retry_after=2)
    pages = await pages_of(source)
    assert sorted(ids(pages)) == sorted(fake.hr_ids())
    assert sleeps.sleeps == [7, 2]


async def test_throttling_beyond_the_retry_budget_is_transient(fake: BambooHRFake) -> None:
    config = make_config(fake)
    fake.fail_next(3, status=503, retry_after=30)
    async with build_client(config, transport=fake.transport()) as http:
        source = BambooHRSource(config, http, retry=ReadRetry(attempts=3, clock=FakeClock()))
        with pytest.raises(TransientError) as caught:
            await pages_of(source)
    assert (caught.value.status, caught.value.retry_after) == (503, 30)


async def test_wrong_key_is_an_auth_error_without_the_key(fake: BambooHRFake) -> None:
    config = make_config(fake, api_key=SecretStr("wrong-key-123"))
    async with build_client(config, transport=fake.transport()) as http:
        source = BambooHRSource(config, http, retry=ReadRetry(clock=FakeClock()))
        with pytest.raises(AuthError) as caught:
            await pages_of(source)
        result = await source.check()
    assert caught.value.status == 401 and "Invalid API key" in str(caught.value)
    assert not result.ok and "Invalid API key" in result.detail
    assert "wrong-key-123" not in str(caught.value) + result.detail
    assert len(fake.requests) == 2  # auth errors are not retried


async def test_check_reports_unknown_dataset_fields(fake: BambooHRFake) -> None:
    config = make_config(fake, fields={"username": "customLoginName"})
    async with build_client(config, transport=fake.transport()) as http:
        result = await BambooHRSource(config, http, retry=ReadRetry(clock=FakeClock())).check()
    assert not result.ok and "customLoginName" in result.detail


async def test_check_ok_counts_employees(source: BambooHRSource, fake: BambooHRFake) -> None:
    result = await source.check()
    assert result.ok and result.facts["employees"] == len(fake.hr_ids())


async def test_timeout_is_transient_and_retried(source: BambooHRSource, fake: BambooHRFake) -> None:
    fake.timeout_next(1)
    assert sorted(ids(await pages_of(source))) == sorted(fake.hr_ids())
    fake.timeout_next(4)
    with pytest.raises(TransientError, match="no HTTP answer"):
        await pages_of(source)


async def test_a_broken_body_is_asked_for_again_and_only_a_lasting_one_fails(
    source: BambooHRSource, fake: BambooHRFake
) -> None:
    fake.malformed_next(1)
    assert sorted(ids(await pages_of(source))) == sorted(fake.hr_ids()), "one cut-off body: read again"
    fake.malformed_next(4)
    with pytest.raises(TransientError, match="malformed"):
        await pages_of(source)


async def test_a_server_repeating_a_page_is_stopped(source: BambooHRSource, fake: BambooHRFake) -> None:
    fake.stuck_page = True
    with pytest.raises(PermanentError, match="pagination loop"):
        await pages_of(source)


async def test_foreign_cursor_is_invalid(source: BambooHRSource) -> None:
    with pytest.raises(Invalid):
        await pages_of(source, "page=2")


async def test_pages_are_fetched_as_consumed(source: BambooHRSource, fake: BambooHRFake) -> None:
    reader = cast(AsyncGenerator[Page[Person], None], source.read_persons(None))
    first = await anext(reader)
    await reader.aclose()
    assert len(first.items) == PAGE_SIZE
    assert len(fake.requests) == 1  # never the whole company up front


# -- webhooks -----------------------------------------------------------------------------------------------


def test_signed_event_is_accepted(source: BambooHRSource, fake: BambooHRFake) -> None:
    [event] = source.parse_event(fake.webhook_request("120"))
    assert (event.kind, event.hr_id) == (HrEventKind.UPDATED, "120")


def test_redelivery_has_the_same_event_id(source: BambooHRSource, fake: BambooHRFake) -> None:
    first = fake.webhook_request("120")
    fake.tick(60)  # BambooHR retries later with a fresh timestamp and signature over the same body
    again = first.model_copy(
        update={"headers": fake.sign(first.body, int(fake.now.timestamp())), "received_at": fake.now}
    )
    assert source.parse_event(first)[0].event_id == source.parse_event(again)[0].event_id


@pytest.mark.parametrize("header", ["X-BambooHR-Signature", "X-BambooHR-Timestamp"])
def test_event_without_signature_headers_is_rejected(source: BambooHRSource, fake: BambooHRFake, header: str) -> None:
    signed = fake.webhook_request("120")
    headers = {k: v for k, v in signed.headers.items() if k != header}
    with pytest.raises(AuthError):
        source.parse_event(signed.model_copy(update={"headers": headers}))


def test_event_signed_with_another_key_is_rejected(source: BambooHRSource, fake: BambooHRFake) -> None:
    signed = fake.webhook_request("120")
    fake.webhook_key = "someone-else"
    forged = signed.model_copy(update={"headers": fake.sign(signed.body, int(fake.now.timestamp()))})
    with pytest.raises(AuthError, match="signature"):
        source.parse_event(forged)


def test_timestamp_is_part_of_the_signature(source: BambooHRSource, fake: BambooHRFake) -> None:
    signed = fake.webhook_request("120")
    moved = {**signed.headers, "X-BambooHR-Timestamp": str(int(fake.now.timestamp()) + 1)}
    with pytest.raises(AuthError):
        source.parse_event(signed.model_copy(update={"headers": moved}))


@pytest.mark.parametrize(("delay", "accepted"), [(299, True), (300, True), (301, False), (-301, False)])
def test_stale_or_future_events_are_rejected(
    source: BambooHRSource, fake: BambooHRFake, delay: int, accepted: bool
) -> None:
    late = fake.webhook_request("120")
    late = late.model_copy(update={"received_at": late.received_at + timedelta(seconds=delay)})
    if accepted:
        assert source.parse_event(late)
    else:
        with pytest.raises(AuthError, match="window"):
            source.parse_event(late)


def test_signed_legacy_payload(source: BambooHRSource, fake: BambooHRFake) -> None:
    body = (PAYLOADS / "webhook_fields_legacy.json").read_bytes()
    request = fake.webhook_request("1").model_copy(update={"body": body})
    request = request.model_copy(update={"headers": fake.sign(body, int(fake.now.timestamp()))})
    assert [e.hr_id for e in source.parse_event(request)] == ["12345", "12346", "12001"]


def test_signed_but_malformed_body_is_invalid(source: BambooHRSource, fake: BambooHRFake) -> None:
    body = b'{"type": "employee.updated", "data": {}}'
    request = fake.webhook_request("1").model_copy(
        update={"body": body, "headers": fake.sign(body, int(fake.now.timestamp()))}
    )
    with pytest.raises(Invalid):
        source.parse_event(request)


async def test_events_need_a_configured_key(fake: BambooHRFake) -> None:
    config = make_config(fake, webhook_private_key=None)
    async with build_client(config, transport=fake.transport()) as http:
        source = BambooHRSource(config, http)
        with pytest.raises(AuthError, match="private key"):
            source.parse_event(fake.webhook_request("120"))


async def test_future_leaver_stays_active_until_the_date(source: BambooHRSource, fake: BambooHRFake) -> None:
    start = (await pages_of(source))[-1].checkpoint
    last_day = fake.today + timedelta(days=14)
    fake.terminate("121", last_day)
    [person] = [p for page in await pages_of(source, start) for p in page.items]
    assert (person.hr_id, person.status, person.termination_date) == ("121", PersonStatus.ACTIVE, last_day)
