"""HiBob source behaviour a user relies on: what one read asks Bob for, how people read, what check tells."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from pydantic import SecretStr, ValidationError

from enrolsync.connectors.base import Cursor
from enrolsync.connectors.errors import AuthError, Invalid, TransientError
from enrolsync.connectors.hibob import HiBobSource
from enrolsync.connectors.hibob.config import HiBobConfig, HiBobFieldPaths
from enrolsync.connectors.hibob.fake.server import SEARCH_LIMIT, HiBobFake
from enrolsync.connectors.kit.client import build_client
from enrolsync.connectors.kit.retry import ReadRetry
from enrolsync.connectors.model import Person, PersonStatus
from enrolsync.connectors.testing.fakes import FakeClock
from tests.support.connectors import PAGE_SIZE, hibob_config


async def read(source: HiBobSource, since: Cursor | None = None) -> tuple[list[Person], list[str | None]]:
    pages = [page async for page in source.read_persons(since)]
    return [p for page in pages for p in page.items], [page.checkpoint for page in pages]


class BobClock(FakeClock):
    """Sleeps pass in the fake's time too, so a rate-limit window really ends."""

    def __init__(self, fake: HiBobFake) -> None:
        super().__init__()
        self._fake = fake

    async def sleep(self, seconds: float) -> None:
        await super().sleep(seconds)
        self._fake.tick(seconds)


async def connect(fake: HiBobFake, **overrides: object) -> tuple[HiBobSource, FakeClock]:
    config = hibob_config(fake, **overrides)
    clock = BobClock(fake)
    http = build_client(config, transport=fake.transport())
    return HiBobSource(config, http, retry=ReadRetry(attempts=4, clock=clock)), clock


async def test_one_search_reads_everyone_with_the_fields_and_leavers(source: HiBobSource, fake: HiBobFake) -> None:
    persons, checkpoints = await read(source)

    [request] = fake.requests
    body = json.loads(request.content)
    assert request.url.path == "/v1/people/search"
    assert body["showInactive"] is True and body["humanReadable"] == "APPEND"
    assert body["fields"][0] == "root.id" and "internal.lifecycleStatus" in body["fields"]
    assert {p.hr_id for p in persons} == fake.hr_ids()
    assert all(len(page) == PAGE_SIZE for page in [persons[i : i + PAGE_SIZE] for i in range(0, 50, PAGE_SIZE)])
    assert checkpoints[:-1] == [None] * (len(checkpoints) - 1) and checkpoints[-1] is not None


async def test_people_read_as_what_bob_says_they_are(source: HiBobSource, fake: HiBobFake) -> None:
    future = fake.hire("Noor", "Haddad", department="Sales", manager="102", start=fake.today + timedelta(days=14))
    fake.terminate("121", fake.today + timedelta(days=30))  # leaves next month: still employed today
    persons = {p.hr_id: p for p in (await read(source))[0]}

    generated = Counter(fake.person(i).status for i in fake.hr_ids() if i != future)
    read_as = Counter(p.status for i, p in persons.items() if i not in (future, "121"))
    assert read_as[PersonStatus.TERMINATED] == generated["terminated"] - (fake.person("121").status == "terminated")
    assert read_as[PersonStatus.LEAVE] == generated["on_leave"]
    assert persons[future].status is PersonStatus.ACTIVE and persons[future].hire_date == fake.today + timedelta(14)
    assert persons["121"].status is PersonStatus.ACTIVE and persons["121"].termination_date is not None
    someone = fake.person("120")
    assert persons["120"].department == someone.department and persons["120"].manager_hr_id == someone.manager_id
    assert persons["120"].custom == {"cost_centre": someone.cost_center}


async def test_a_deleted_person_is_gone_from_reads_and_removed_by_id(source: HiBobSource, fake: HiBobFake) -> None:
    fake.delete("130")
    persons, _ = await read(source)
    pages = [page async for page in source.read_people(["130", "120"])]
    assert "130" not in {p.hr_id for p in persons}
    assert [p.removed for p in pages] == [("130",), ()] and pages[1].items[0].hr_id == "120"


async def test_without_human_readable_list_fields_are_item_ids(fake: HiBobFake) -> None:
    source, _ = await connect(fake, human_readable="NONE")
    persons, _ = await read(source)
    assert "humanReadable" not in json.loads(fake.requests[0].content)
    assert all(p.department is not None and p.department.isdigit() for p in persons)


async def test_a_cursor_reads_everyone_again_and_a_foreign_one_is_refused(source: HiBobSource) -> None:
    everyone, checkpoints = await read(source)
    again, _ = await read(source, Cursor(checkpoints[-1] or ""))
    assert len(again) == len(everyone)
    with pytest.raises(Invalid):
        await read(source, Cursor('{"since": "2025-01-01"}'))


async def test_check_passes_with_a_full_permission_group(source: HiBobSource) -> None:
    result = await source.check()
    assert result.ok, result.detail


async def test_check_names_the_category_to_grant(source: HiBobSource, fake: HiBobFake) -> None:
    fake.permitted.discard("internal")
    result = await source.check()
    assert not result.ok
    assert "Lifecycle (internal.lifecycleStatus, internal.status, internal.terminationDate)" in result.detail
    assert "Work" not in result.detail


async def test_check_names_a_field_path_the_account_lacks(fake: HiBobFake) -> None:
    source, _ = await connect(fake, fields=HiBobFieldPaths(department="work.division"))
    result = await source.check()
    assert not result.ok and "work.division" in result.detail


async def test_check_with_a_wrong_token_names_the_service_user(fake: HiBobFake) -> None:
    source, _ = await connect(fake, service_user_token=SecretStr("wrong-token-1234"))
    result = await source.check()
    assert not result.ok and "service user" in result.detail and "wrong-token-1234" not in result.detail


async def test_a_read_without_status_fields_stops_instead_of_reading_leavers_as_active(
    source: HiBobSource, fake: HiBobFake
) -> None:
    fake.permitted.discard("internal")
    with pytest.raises(AuthError, match="internal.lifecycleStatus"):
        await read(source)


async def test_bobs_own_rate_limit_is_waited_out(fake: HiBobFake) -> None:
    source, clock = await connect(fake)
    for _ in range(SEARCH_LIMIT):
        await read(source)
    assert clock.sleeps == []
    persons, _ = await read(source)  # the 51st search within a minute: 429 + Retry-After
    assert clock.sleeps == [60] and {p.hr_id for p in persons} == fake.hr_ids()


async def test_a_body_cut_off_in_transit_is_transient(source: HiBobSource, fake: HiBobFake) -> None:
    fake.malformed_next(4)
    with pytest.raises(TransientError):
        await read(source)


def test_config_keeps_secrets_write_only() -> None:
    schema = HiBobConfig.model_json_schema()
    assert schema["properties"]["service_user_token"]["writeOnly"] is True
    assert HiBobConfig.model_fields["base_url"].default is not None


async def test_an_answer_arriving_in_small_pieces_reads_the_same(fake: HiBobFake, config: HiBobConfig) -> None:
    async def trickle(body: bytes) -> AsyncIterator[bytes]:
        for start in range(0, len(body), 7):  # cuts through keys, strings and numbers
            yield body[start : start + 7]

    def in_pieces(request: httpx.Request) -> httpx.Response:
        answer = fake.handler(request)
        return httpx.Response(answer.status_code, headers=answer.headers, content=trickle(answer.content))

    async with build_client(config, transport=httpx.MockTransport(in_pieces)) as http:
        pieces, _ = await read(HiBobSource(config, http, retry=ReadRetry(clock=FakeClock())))
    async with build_client(config, transport=fake.transport()) as http:
        whole, _ = await read(HiBobSource(config, http, retry=ReadRetry(clock=FakeClock())))
    assert pieces == whole and len(whole) == len(fake.hr_ids())


def test_more_fields_than_bob_returns_are_refused_when_configured() -> None:
    with pytest.raises(ValidationError, match="at most 400"):
        HiBobFieldPaths(custom={f"c{i}": f"work.custom.field_{i}" for i in range(390)})
