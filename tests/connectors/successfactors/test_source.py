"""SuccessFactors reads as a user relies on: one token per run, the company as EC models it, deltas that include
changes taking effect later, by-id reads, pages repeated or skipped, SF's errors and throttling, Basic auth."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from enrolsync.connectors.base import Cursor
from enrolsync.connectors.errors import AuthError, Invalid, PermanentError
from enrolsync.connectors.kit.client import build_client
from enrolsync.connectors.kit.retry import ReadRetry
from enrolsync.connectors.model import Person, PersonStatus
from enrolsync.connectors.successfactors import SuccessFactorsSource
from enrolsync.connectors.successfactors.config import SuccessFactorsConfig
from enrolsync.connectors.successfactors.fake import SuccessFactorsFake
from enrolsync.connectors.testing.company import generate_people
from enrolsync.connectors.testing.fakes import FakeClock
from tests.support.connectors import COMPANY_SIZE, PAGE_SIZE, collect, successfactors_config

DAY = 86_400


async def read(source: SuccessFactorsSource, since: str | None = None) -> tuple[dict[str, Person], str | None]:
    people: dict[str, Person] = {}
    checkpoint = None
    async for page in source.read_persons(Cursor(since) if since else None):
        people.update((p.hr_id, p) for p in page.items)
        checkpoint = page.checkpoint
    return people, checkpoint


def token_requests(fake: SuccessFactorsFake) -> list[httpx.Request]:
    return [r for r in fake.requests if r.url.path == "/oauth/token"]


async def test_a_whole_read_is_the_company_with_one_token(
    source: SuccessFactorsSource, fake: SuccessFactorsFake
) -> None:
    people, checkpoint = await read(source)

    company = {e.hr_id: e for e in generate_people(COMPANY_SIZE, 7, today=fake.today)}
    assert set(people) == set(company) and checkpoint is not None
    for hr_id, employee in company.items():
        person = people[hr_id]
        status = {"active": "active", "on_leave": "leave", "terminated": "terminated"}[employee.status]
        assert (person.given_name, person.family_name, person.work_email) == (
            employee.first_name, employee.last_name, employee.email,
        ), hr_id  # fmt: skip
        assert (person.status, person.department, person.job_title, person.location) == (
            status, employee.department, employee.job_title, employee.location,
        ), hr_id  # fmt: skip
        assert person.manager_hr_id == employee.manager_id, "managerId (a user id) read back as the person id"
        assert (person.hire_date, person.termination_date) == (employee.hire_date, employee.termination_date)
        assert person.username == employee.username and person.employee_number == employee.employee_number
        assert person.custom == {"cost_centre": employee.cost_center}
    assert len(token_requests(fake)) == 1
    form = dict(httpx.QueryParams(token_requests(fake)[0].content.decode()))
    assert form["grant_type"] == "urn:ietf:params:oauth:grant-type:saml2-bearer"
    assert form["company_id"] == fake.company_id and "private" not in form["assertion"]
    employment_pages = [
        r for r in fake.requests if r.url.path.endswith("/EmpEmployment") and "jobInfoNav" in str(r.url)
    ]
    assert len(employment_pages) == -(-COMPANY_SIZE // PAGE_SIZE), "server paging: one request per page"


async def test_basic_auth_is_user_at_company(fake: SuccessFactorsFake) -> None:
    config = successfactors_config(fake, auth="basic", client_id=None, private_key=None, certificate=None)
    async with build_client(config, transport=fake.transport()) as http:
        source = SuccessFactorsSource(config, http, retry=ReadRetry(clock=FakeClock()))
        people, _ = await read(source)
        assert (await source.check()).ok
    assert set(people) == fake.hr_ids() and token_requests(fake) == []
    wrong = successfactors_config(fake, auth="basic", client_id=None, private_key=None, company_id="OTHERCO")
    async with build_client(wrong, transport=fake.transport()) as http:
        refused = SuccessFactorsSource(wrong, http, retry=ReadRetry(attempts=1, clock=FakeClock()))
        result = await refused.check()
        with pytest.raises(AuthError, match="LGN0022"):
            await read(refused)
    assert not result.ok and "user@company and password" in result.detail


def test_each_auth_mode_needs_its_credentials(fake: SuccessFactorsFake) -> None:
    with pytest.raises(ValueError, match="needs `password`"):
        successfactors_config(fake, auth="basic", password=None)
    with pytest.raises(ValueError, match="needs `client_id` and `private_key`"):
        successfactors_config(fake, private_key=None)


async def test_an_incremental_read_returns_only_the_changed(
    source: SuccessFactorsSource, fake: SuccessFactorsFake
) -> None:
    _, checkpoint = await read(source)
    fake.tick(60)
    fake.move("120", department="Legal", manager="101")
    fake.change_email("121", "new.address@acme.example")
    hired = fake.hire("Ada", "Newhire", department="Sales", manager="102")

    changed, after = await read(source, checkpoint)

    assert set(changed) == {"120", "121", hired}
    assert (changed["120"].department, changed["120"].manager_hr_id) == ("Legal", "101")
    assert changed["121"].work_email == "new.address@acme.example"
    assert changed[hired].manager_hr_id == "102" and changed[hired].status is PersonStatus.ACTIVE
    again, _ = await read(source, after)
    assert again == {}, "nothing changed since"


async def test_future_dated_changes_are_read_when_they_take_effect(
    source: SuccessFactorsSource, fake: SuccessFactorsFake
) -> None:
    """A termination entered today for next week changes nothing until then; on the day it takes effect nobody
    touches the record, and the incremental read still sees it (segments that began since the last read)."""
    _, checkpoint = await read(source)
    fake.tick(60)
    fake.terminate("130", on=fake.today + timedelta(days=5))
    fake.move("131", department="Legal", on=fake.today + timedelta(days=3))
    early, checkpoint = await read(source, checkpoint)
    assert early["130"].status is PersonStatus.ACTIVE
    assert early["130"].termination_date == fake.today + timedelta(days=5)
    assert early["131"].department != "Legal", "the move is not in force yet"

    fake.tick(4 * DAY)
    moved, checkpoint = await read(source, checkpoint)
    assert set(moved) == {"131"} and moved["131"].department == "Legal"
    fake.tick(3 * DAY)
    left, _ = await read(source, checkpoint)
    assert set(left) == {"130"} and left["130"].status is PersonStatus.TERMINATED


async def test_a_future_hire_is_active_with_the_start_ahead(
    source: SuccessFactorsSource, fake: SuccessFactorsFake
) -> None:
    start = fake.today + timedelta(days=14)
    hired = fake.hire("Fay", "Future", department="Finance", start=start, job_title="Accountant")
    [page] = await collect(source.read_people([hired]))
    [person] = page.items
    assert (person.status, person.hire_date, person.job_title) == (PersonStatus.ACTIVE, start, "Accountant")


async def test_leave_and_termination_follow_the_job_in_force(
    source: SuccessFactorsSource, fake: SuccessFactorsFake
) -> None:
    fake.place_on_leave("125")
    fake.terminate("126", on=fake.today - timedelta(days=1))
    fake.terminate("127", on=fake.today)  # the last day: still employed today
    pages = await collect(source.read_people(["125", "126", "127"]))
    people = {p.hr_id: p for page in pages for p in page.items}
    assert people["125"].status is PersonStatus.LEAVE
    assert people["126"].status is PersonStatus.TERMINATED
    assert people["126"].termination_date == fake.today - timedelta(days=1)
    assert people["127"].status is PersonStatus.ACTIVE


async def test_purged_people_are_removed_when_named(source: SuccessFactorsSource, fake: SuccessFactorsFake) -> None:
    fake.delete("122")
    pages = await collect(source.read_people(["122", "123"]))
    assert [p.hr_id for page in pages for p in page.items] == ["123"]
    assert [r for page in pages for r in page.removed] == ["122"]
    people, _ = await read(source)
    assert "122" not in people


async def test_a_repeated_page_stops_the_read(source: SuccessFactorsSource, fake: SuccessFactorsFake) -> None:
    fake.repeat_next_page()
    with pytest.raises(PermanentError, match="repeated a page"):
        await read(source)


async def test_a_skipped_page_stops_the_read(source: SuccessFactorsSource, fake: SuccessFactorsFake) -> None:
    fake.skip_next_page()
    with pytest.raises(PermanentError, match=r"paged 47 EmpEmployment records of the 57"):
        await read(source)


async def test_a_full_read_resumes_from_a_checkpoint(source: SuccessFactorsSource, fake: SuccessFactorsFake) -> None:
    pages = source.read_persons(None)
    first = await anext(aiter(pages))
    await pages.aclose()  # type: ignore[attr-defined]
    assert first.checkpoint is not None
    rest, _ = await read(source, first.checkpoint)
    assert set(rest) | {p.hr_id for p in first.items} == fake.hr_ids()
    assert not set(rest) & {p.hr_id for p in first.items}


async def test_throttling_waits_as_sap_advises(
    source: SuccessFactorsSource, fake: SuccessFactorsFake, clock: FakeClock
) -> None:
    fake.throttle_next(1, retry_after=None)
    people, _ = await read(source)
    assert set(people) == fake.hr_ids()
    assert clock.sleeps == [300.0]


async def test_sf_error_text_is_the_reason(source: SuccessFactorsSource, fake: SuccessFactorsFake) -> None:
    body = b'{"error":{"code":"COE_GENERAL_FORBIDDEN","message":{"lang":"en-US","value":"[COE0020]No permission"}}}'
    fake.fail_next(1, status=403, body=body, when=lambda r: r.url.path.endswith("/PerPerson"))
    result = await source.check()
    assert not result.ok and "[COE0020]No permission" in result.detail
    assert "refused reading PerPerson: grant the API user Personal Information" in result.detail


async def test_a_cursor_it_did_not_make_is_refused(source: SuccessFactorsSource) -> None:
    with pytest.raises(Invalid):
        await read(source, '{"v": 1}')
    with pytest.raises(Invalid):
        await read(source, "2025-01-01T00:00:00Z")


async def test_a_next_link_to_another_host_is_not_followed(
    source: SuccessFactorsSource, fake: SuccessFactorsFake
) -> None:
    pages = source.read_persons(None)
    page = await anext(aiter(pages))
    await pages.aclose()  # type: ignore[attr-defined]
    assert page.checkpoint is not None
    forged = page.checkpoint.replace("api4.successfactors.test", "collector.example")
    with pytest.raises(PermanentError, match="leaves api4.successfactors.test"):
        await read(source, forged)
    assert all(r.url.host == "api4.successfactors.test" for r in fake.requests)


def test_config_is_the_tenant_and_its_codes(config: SuccessFactorsConfig) -> None:
    assert config.leave_statuses == ("U", "P", "S", "F") and "T" in config.terminated_statuses


async def test_an_id_with_a_quote_is_a_literal_not_filter_syntax(
    source: SuccessFactorsSource, fake: SuccessFactorsFake
) -> None:
    pages = await collect(source.read_people(["120' or personIdExternal ne '0"]))
    assert [p for page in pages for p in page.items] == []
    assert [r for page in pages for r in page.removed] == ["120' or personIdExternal ne '0"]


async def test_a_revoked_token_is_replaced_once_and_the_request_replayed(
    source: SuccessFactorsSource, fake: SuccessFactorsFake
) -> None:
    assert (await source.check()).ok
    fake.revoke_tokens()
    people, _ = await read(source)
    assert set(people) == fake.hr_ids()
    assert len(token_requests(fake)) == 2
