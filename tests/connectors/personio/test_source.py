"""Personio reads as a user relies on: one token per run, paging, deltas, by-id reads, statuses, webhooks."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
import pytest

from enrolsync.connectors.base import Cursor
from enrolsync.connectors.errors import AuthError, Invalid, PermanentError
from enrolsync.connectors.kit.client import build_client
from enrolsync.connectors.kit.retry import ReadRetry
from enrolsync.connectors.model import HrEventKind, Person, PersonStatus
from enrolsync.connectors.personio import PersonioSource
from enrolsync.connectors.personio.config import PersonioConfig
from enrolsync.connectors.personio.fake import PersonioFake
from enrolsync.connectors.testing.company import generate_people
from enrolsync.connectors.testing.fakes import FakeClock
from tests.support.connectors import COMPANY_SIZE, collect, personio_config


async def read(source: PersonioSource, since: str | None = None) -> tuple[dict[str, Person], str | None]:
    people: dict[str, Person] = {}
    checkpoint = None
    async for page in source.read_persons(Cursor(since) if since else None):
        people.update((p.hr_id, p) for p in page.items)
        checkpoint = page.checkpoint
    return people, checkpoint


def data_requests(fake: PersonioFake) -> list[httpx.Request]:
    return [r for r in fake.requests if r.url.path != "/v2/auth/token"]


async def test_a_whole_read_uses_one_token(source: PersonioSource, fake: PersonioFake) -> None:
    people, _ = await read(source)
    assert set(people) == fake.hr_ids()
    assert len(data_requests(fake)) > 60  # 6 person pages and one employments call per person
    assert len(fake.token_requests()) == 1 and source.tokens_fetched == 1
    token_request = fake.token_requests()[0]
    assert token_request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert b"grant_type=client_credentials" in token_request.content


class _Interleaving(httpx.AsyncBaseTransport):
    """Hands control to the event loop before each answer, as a network does, so concurrent requests interleave."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self._inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0)
        return await self._inner.handle_async_request(request)


async def test_concurrent_requests_share_one_token_fetch(config: PersonioConfig, fake: PersonioFake) -> None:
    async with build_client(config, transport=_Interleaving(fake.transport())) as http:
        source = PersonioSource(config, http, retry=ReadRetry(clock=FakeClock()))
        reads = [collect(source.read_people([hr_id])) for hr_id in ("110", "111", "112", "113")]
        pages = await asyncio.gather(*reads)
    assert sorted(p.hr_id for found in pages for page in found for p in page.items) == ["110", "111", "112", "113"]
    assert len(fake.token_requests()) == 1


async def test_the_token_is_renewed_before_it_expires(config: PersonioConfig, clock: FakeClock) -> None:
    fake = PersonioFake.seeded(12, seed=3, token_lifetime=900)
    async with build_client(config, transport=fake.transport()) as http:
        source = PersonioSource(config, http, retry=ReadRetry(clock=clock), clock=clock)
        await read(source)
        clock.now += 700  # within the last five minutes of the token's fifteen: still valid, renewed anyway
        fake.tick(700)
        await read(source)
    assert len(fake.token_requests()) == 2
    assert len(fake.tokens) == 2 and min(fake.tokens.values()) > fake.now, "renewed while the first still held"


async def test_a_revoked_token_is_replaced_once_and_the_request_replayed(
    source: PersonioSource, fake: PersonioFake
) -> None:
    await source.check()
    fake.tokens.clear()  # revoked (POST /v2/auth/revoke) or expired early
    people, _ = await read(source)
    assert set(people) == fake.hr_ids()
    assert len(fake.token_requests()) == 2


async def test_a_person_read_when_the_credential_is_wrong_is_an_auth_error(config: PersonioConfig) -> None:
    fake = PersonioFake.seeded(3)
    bad = personio_config(fake, client_id="someone-else")
    async with build_client(bad, transport=fake.transport()) as http:
        source = PersonioSource(bad, http, retry=ReadRetry(attempts=1, clock=FakeClock()))
        result = await source.check()
        with pytest.raises(AuthError, match="client credentials are invalid"):
            await read(source)
    assert not result.ok and "Personio refused" in result.detail
    assert len(fake.requests) == 2 and all(r.url.path == "/v2/auth/token" for r in fake.requests)


async def test_relative_next_links_are_followed(source: PersonioSource, fake: PersonioFake) -> None:
    fake.relative_links = True
    people, _ = await read(source)
    assert set(people) == fake.hr_ids()


async def test_a_next_link_to_another_host_is_not_followed(source: PersonioSource, fake: PersonioFake) -> None:
    page = await anext(aiter(source.read_persons(None)))
    assert page.checkpoint is not None
    forged = page.checkpoint.replace("https://api.personio.de/", "https://collector.example/")
    with pytest.raises(PermanentError, match="leaves api.personio.de"):
        await read(source, forged)
    assert all(r.url.host == "api.personio.de" for r in fake.requests)


async def test_a_repeated_cursor_stops_the_read(source: PersonioSource, fake: PersonioFake) -> None:
    fake.repeat_cursor = True
    with pytest.raises(PermanentError, match="pagination loop"):
        await read(source)


async def test_a_full_read_resumes_after_its_last_page(source: PersonioSource, fake: PersonioFake) -> None:
    pages = [page async for page in source.read_persons(None)]
    resumed = await collect(source.read_persons(Cursor(pages[2].checkpoint or "")))
    assert [p.hr_id for page in resumed for p in page.items] == [p.hr_id for page in pages[3:] for p in page.items]


async def test_incremental_reads_return_only_changes(source: PersonioSource, fake: PersonioFake) -> None:
    _, checkpoint = await read(source)
    fake.update_person("110", email="new.address@acme.example")
    fake.move("111", manager="101", job_title="Counsel")
    hired = fake.hire("Noor", "Haddad", manager="102")
    changed, after = await read(source, checkpoint)
    assert set(changed) == {"110", "111", hired}
    assert changed["110"].work_email == "new.address@acme.example"
    assert (changed["111"].manager_hr_id, changed["111"].job_title) == ("101", "Counsel")
    nothing, _ = await read(source, after)
    assert nothing == {}
    person_filters = [r.url.params.get("updated_at.gt") for r in data_requests(fake) if r.url.path == "/v2/persons"]
    assert checkpoint and any(person_filters)


async def test_employment_changes_need_the_scan(fake: PersonioFake, clock: FakeClock) -> None:
    config = personio_config(fake, scan_employment_changes=False)
    async with build_client(config, transport=fake.transport()) as http:
        source = PersonioSource(config, http, retry=ReadRetry(clock=clock))
        _, checkpoint = await read(source)
        fake.move("111", job_title="Counsel")
        fake.update_person("110", last_name="Ng")
        changed, _ = await read(source, checkpoint)
    assert set(changed) == {"110"}


async def test_a_cursor_from_elsewhere_is_refused(source: PersonioSource) -> None:
    with pytest.raises(Invalid):
        await read(source, '{"page": 3}')


async def test_people_are_read_by_id_and_deleted_ones_named(source: PersonioSource, fake: PersonioFake) -> None:
    fake.delete("112")
    pages = await collect(source.read_people(["111", "112", "111"]))
    assert [p.hr_id for page in pages for p in page.items] == ["111"]
    assert [hr_id for page in pages for hr_id in page.removed] == ["112"]


async def test_leavers_joiners_and_leave_read_as_what_they_are(source: PersonioSource, fake: PersonioFake) -> None:
    today = fake.today
    joiner = fake.hire("Ines", "Okafor", start=today + timedelta(days=14))
    fake.terminate("115", today)
    fake.terminate("116", today + timedelta(days=30))
    fake.update_employment("117", status="LEAVE")
    fake.delete("118")
    people, _ = await read(source)
    assert (people[joiner].status, people[joiner].hire_date) == (PersonStatus.ACTIVE, today + timedelta(days=14))
    assert (people["115"].status, people["115"].termination_date) == (PersonStatus.TERMINATED, today)
    assert (people["116"].status, people["116"].termination_date) == (PersonStatus.ACTIVE, today + timedelta(days=30))
    assert people["117"].status is PersonStatus.LEAVE
    assert "118" not in people


async def test_the_generated_company_reads_as_generated(source: PersonioSource, fake: PersonioFake) -> None:
    people, _ = await read(source)
    statuses = {"active": PersonStatus.ACTIVE, "on_leave": PersonStatus.LEAVE, "terminated": PersonStatus.TERMINATED}
    for employee in generate_people(COMPANY_SIZE, 7, today=fake.today):
        person = people[employee.hr_id]
        assert (person.given_name, person.family_name, person.work_email, person.username) == (
            employee.first_name, employee.last_name, employee.email, employee.username,
        )  # fmt: skip
        assert (person.job_title, person.manager_hr_id, person.status) == (
            employee.job_title, employee.manager_id, statuses[employee.status],
        )  # fmt: skip
        assert (person.hire_date, person.termination_date) == (employee.hire_date, employee.termination_date)
        assert person.custom == {"cost_centre": employee.cost_center}


def test_webhook_events_name_the_person(source: PersonioSource, fake: PersonioFake) -> None:
    [created] = source.parse_event(fake.webhook_request("120", "person.created"))
    [moved] = source.parse_event(fake.webhook_request("121", "employment.updated"))
    [gone] = source.parse_event(fake.webhook_request("122", "person.deleted"))
    assert (created.kind, created.hr_id) == (HrEventKind.CREATED, "120")
    assert (moved.kind, moved.hr_id) == (HrEventKind.UPDATED, "121")
    assert (gone.kind, gone.hr_id) == (HrEventKind.DELETED, "122")
    assert source.parse_event(fake.webhook_request("120", "absence_period.created")) == []


def test_webhook_token_must_match_exactly(source: PersonioSource, fake: PersonioFake) -> None:
    for token in ("Bearer fake-webhook-tokem", "fake-webhook-token", ""):
        with pytest.raises(AuthError):
            source.parse_event(fake.webhook_request("120", token=token or " "))


async def test_no_webhook_token_configured_refuses_every_call(fake: PersonioFake) -> None:
    config = personio_config(fake, webhook_token=None)
    async with build_client(config, transport=fake.transport()) as http:
        with pytest.raises(AuthError, match="no webhook token"):
            PersonioSource(config, http).parse_event(fake.webhook_request("120"))


def test_a_body_that_is_not_the_envelope_is_invalid(source: PersonioSource, fake: PersonioFake) -> None:
    request = fake.webhook_request("120").model_copy(update={"body": b'{"event": "person.updated"}'})
    with pytest.raises(Invalid):
        source.parse_event(request)
