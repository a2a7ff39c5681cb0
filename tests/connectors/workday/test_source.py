"""The Workday source against its fake: paging and its guards, effective dating (future-dated hires and
terminations, leave, rescinded hires), both ways of signing in, and the RaaS report streamed row by row."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from lxml import etree
from pydantic import SecretStr
from structlog.testing import capture_logs

from enrolsync.connectors.base import Cursor
from enrolsync.connectors.errors import AuthError, Invalid, PermanentError
from enrolsync.connectors.kit.client import build_client
from enrolsync.connectors.kit.retry import ReadRetry
from enrolsync.connectors.model import Person, PersonStatus
from enrolsync.connectors.testing.company import generate_people
from enrolsync.connectors.testing.fakes import FakeClock
from enrolsync.connectors.workday import WorkdaySource, soap
from enrolsync.connectors.workday.config import WorkdayConfig
from enrolsync.connectors.workday.fake import WorkdayFake
from enrolsync.connectors.workday.fake.soap import SoapFault
from tests.support.connectors import COMPANY_SIZE, PAGE_SIZE, workday_config

DAY = 86400


async def read(source: WorkdaySource, since: str | None = None) -> tuple[list[Person], list[str | None]]:
    persons: list[Person] = []
    checkpoints: list[str | None] = []
    async for page in source.read_persons(Cursor(since) if since else None):
        persons.extend(page.items)
        checkpoints.append(page.checkpoint)
    return persons, checkpoints


def soap_requests(fake: WorkdayFake) -> list[httpx.Request]:
    return [r for r in fake.requests if "/Human_Resources/" in r.url.path]


def soap_filter(request: httpx.Request, name: str) -> str | None:
    return soap.parse_xml(request.content).findtext(f".//wd:Response_Filter/wd:{name}", namespaces=soap.NS)


def oauth_config(fake: WorkdayFake, **overrides: object) -> WorkdayConfig:
    options = {"client_id": fake.client_id, "client_secret": SecretStr(fake.client_secret),
               "refresh_token": SecretStr(fake.refresh_token), **overrides}  # fmt: skip
    return workday_config(fake, auth="oauth_refresh", **options)


# -- SOAP paging ------------------------------------------------------------------------------------------------
async def test_pages_pin_the_first_pages_as_of_date_and_entry_moment(source: WorkdaySource, fake: WorkdayFake) -> None:
    persons, _ = await read(source)
    requests = soap_requests(fake)
    assert len(persons) == COMPANY_SIZE and len(requests) == -(-COMPANY_SIZE // PAGE_SIZE)
    assert [soap_filter(r, "Page") for r in requests] == [str(n) for n in range(1, len(requests) + 1)]
    assert soap_filter(requests[0], "As_Of_Entry_DateTime") is None, "the first page reads as of Workday's now"
    pinned = {(soap_filter(r, "As_Of_Effective_Date"), soap_filter(r, "As_Of_Entry_DateTime")) for r in requests[1:]}
    assert pinned == {(fake.today.isoformat(), fake.now.isoformat())}


async def test_a_changed_worker_between_pages_does_not_shift_the_pages(
    source: WorkdaySource, fake: WorkdayFake
) -> None:
    seen: list[Person] = []
    async for page in source.read_persons(None):
        if not seen:
            fake.tick(5)
            fake.hire("Ada", "Between", department="Sales")  # entered after the pinned entry moment
        seen.extend(page.items)
    assert len(seen) == COMPANY_SIZE


@pytest.mark.parametrize("fault", ["repeat_next_page", "skip_next_page"])
async def test_a_page_repeated_or_skipped_stops_the_read(source: WorkdaySource, fake: WorkdayFake, fault: str) -> None:
    getattr(fake, fault)()
    with pytest.raises(PermanentError, match="Workday"):
        await read(source)


async def test_a_checkpoint_mid_read_resumes_at_the_next_page(source: WorkdaySource, fake: WorkdayFake) -> None:
    first: list[Person] = []
    resume = None
    async for page in source.read_persons(None):
        first.extend(page.items)
        resume = page.checkpoint
        if len(first) >= 2 * PAGE_SIZE:
            break
    rest, _ = await read(source, resume)
    assert sorted(p.hr_id for p in first + rest) == sorted(fake.hr_ids())
    assert soap_filter(soap_requests(fake)[-1], "Page") == str(-(-COMPANY_SIZE // PAGE_SIZE))


async def test_server_faults_and_cut_off_answers_are_asked_again(
    source: WorkdaySource, fake: WorkdayFake, clock: FakeClock
) -> None:
    server_fault = SoapFault("Server", "Service temporarily unavailable").body()
    fake.fail_next(1, status=500, body=server_fault, headers={"Content-Type": "text/xml"})
    fake.malformed_next(1)
    persons, _ = await read(source)
    assert len(persons) == COMPANY_SIZE and len(clock.sleeps) == 2


async def test_a_validation_fault_is_not_asked_again(source: WorkdaySource, fake: WorkdayFake) -> None:
    fault = SoapFault("Client.validationError", "Invalid ID value").body()
    fake.fail_next(1, status=500, body=fault, headers={"Content-Type": "text/xml"})
    with pytest.raises(Invalid, match="Invalid ID value"):
        await read(source)
    assert len(soap_requests(fake)) == 1


async def test_incremental_windows_end_at_workdays_now_and_the_next_begins_there(
    source: WorkdaySource, fake: WorkdayFake
) -> None:
    _, checkpoints = await read(source)
    fake.tick(600)
    fake.move("120", job_title="Staff Engineer")
    before = len(fake.requests)
    changed, after = await read(source, checkpoints[-1])
    probe, *windows = soap_requests(fake)[before:]
    assert soap_filter(probe, "Count") == "1" and [p.hr_id for p in changed] == ["120"]
    spans = [soap.parse_xml(r.content).find(".//wd:Transaction_Date_Range_Data", soap.NS) for r in windows]
    bounds = [[(etree.QName(e).localname, e.text) for e in span] for span in spans if span is not None]
    moment = fake.now.isoformat()
    assert bounds == [
        [("Updated_From", "2025-06-02T12:00:00+00:00"), ("Updated_Through", moment)],
        [("Effective_From", "2025-06-02T12:00:00+00:00"), ("Effective_Through", moment)],
    ]
    assert {soap_filter(r, "As_Of_Entry_DateTime") for r in windows} == {moment}
    assert json.loads(after[-1] or "")["since"] == moment


def test_departments_come_only_with_the_organizations_group(fake: WorkdayFake) -> None:
    """Workday returns a job's organizations only for `Include_Organizations`; the connector asks for it."""
    sent = soap.get_workers(version="v30.0", page=1, count=5, username=f"{fake.username}@{fake.tenant}",
                            password=fake.password)  # fmt: skip
    without = sent.replace(b"<wd:Include_Organizations>true</wd:Include_Organizations>", b"")
    url = f"https://wd.test/ccx/service/{fake.tenant}/Human_Resources/v30.0"
    asked, bare = (
        soap.read_workers(fake.handler(httpx.Request("POST", url, content=b)).content) for b in (sent, without)
    )
    assert without != sent
    assert asked.workers[0].organizations["SUPERVISORY"] and bare.workers[0].organizations == {}


# -- effective dating, as Workday models it -----------------------------------------------------------------------
async def test_leavers_and_people_on_leave_read_as_workday_holds_them(source: WorkdaySource, fake: WorkdayFake) -> None:
    persons = {p.hr_id: p for p in (await read(source))[0]}
    company = {e.hr_id: e for e in generate_people(COMPANY_SIZE, 7, today=fake.today)}
    for hr_id, employee in company.items():
        person = persons[hr_id]
        expected = {"active": PersonStatus.ACTIVE, "on_leave": PersonStatus.LEAVE,
                    "terminated": PersonStatus.TERMINATED}[employee.status]  # fmt: skip
        assert person.status is expected, hr_id
        assert person.termination_date == employee.termination_date, hr_id


async def test_future_dated_termination_takes_effect_on_its_day(source: WorkdaySource, fake: WorkdayFake) -> None:
    _, checkpoints = await read(source)
    fake.tick(60)
    fake.terminate("130", on=fake.today + timedelta(days=3))
    changed, checkpoints = await read(source, checkpoints[-1])
    assert [(p.hr_id, p.status) for p in changed] == [("130", PersonStatus.ACTIVE)], "entered, not yet effective"
    fake.tick(4 * DAY)
    changed, _ = await read(source, checkpoints[-1])
    [leaver] = changed
    assert (leaver.hr_id, leaver.status, leaver.termination_date) == (
        "130", PersonStatus.TERMINATED, fake.today - timedelta(days=1),
    )  # fmt: skip


async def test_future_dated_hire_appears_on_the_first_day(source: WorkdaySource, fake: WorkdayFake) -> None:
    _, checkpoints = await read(source)
    fake.tick(60)
    hired = fake.hire("Ada", "Later", department="Sales", start=fake.today + timedelta(days=7))
    changed, checkpoints = await read(source, checkpoints[-1])
    assert changed == [], "no worker as of today until the hire takes effect"
    fake.tick(8 * DAY)
    changed, _ = await read(source, checkpoints[-1])
    assert [(p.hr_id, p.status, p.hire_date) for p in changed] == [(hired, PersonStatus.ACTIVE, fake.today -
                                                                    timedelta(days=1))]  # fmt: skip


async def test_a_rescinded_hire_is_gone(source: WorkdaySource, fake: WorkdayFake) -> None:
    fake.rescind_hire("125")
    persons, _ = await read(source)
    assert "125" not in {p.hr_id for p in persons}
    pages = [page async for page in source.read_people(["125", "126"])]
    assert [p.hr_id for page in pages for p in page.items] == ["126"]
    assert [h for page in pages for h in page.removed] == ["125"]


# -- signing in -----------------------------------------------------------------------------------------------------
async def test_refused_isu_names_the_user_not_the_password(fake: WorkdayFake) -> None:
    config = workday_config(fake, password=SecretStr("wrong-password-9d1"))
    async with build_client(config, transport=fake.transport()) as http:
        source = WorkdaySource(config, http, retry=ReadRetry(clock=FakeClock()))
        with capture_logs() as logs:
            result = await source.check()
            with pytest.raises(AuthError, match="authenticationError"):
                await read(source)
    assert not result.ok and fake.username in result.detail and "invalid username or password" in result.detail
    assert "wrong-password-9d1" not in result.detail + str(logs)
    assert "wrong-password-9d1" in soap_requests(fake)[0].content.decode(), "sent inside the envelope (WS-Security)"
    assert "Authorization" not in soap_requests(fake)[0].headers


@pytest.mark.parametrize("api", ["soap", "raas"])
async def test_oauth_refresh_token_gets_one_token_and_replaces_a_revoked_one(fake: WorkdayFake, api: str) -> None:
    config = oauth_config(fake, api=api)
    async with build_client(config, transport=fake.transport()) as http:
        source = WorkdaySource(config, http, retry=ReadRetry(clock=FakeClock()))
        persons, _ = await read(source)
        assert len(persons) == COMPANY_SIZE and fake.tokens_issued == 1
        fake.revoke_tokens()
        persons, _ = await read(source)
        assert len(persons) == COMPANY_SIZE and fake.tokens_issued == 2
    token_calls = [r for r in fake.requests if r.url.path.endswith("/token")]
    assert all("refresh_token=" in r.content.decode() and r.headers["Authorization"].startswith("Basic ")
               for r in token_calls)  # fmt: skip


async def test_a_bad_refresh_token_is_a_failed_check(fake: WorkdayFake) -> None:
    config = oauth_config(fake, refresh_token=SecretStr("stale-token-77"))
    async with build_client(config, transport=fake.transport()) as http:
        result = await WorkdaySource(config, http, retry=ReadRetry(clock=FakeClock())).check()
    assert not result.ok and "refresh token" in result.detail and "stale-token-77" not in result.detail


# -- RaaS ----------------------------------------------------------------------------------------------------------
class Trickle(httpx.AsyncByteStream):
    """A response body arriving in small chunks, counting how many were read."""

    def __init__(self, body: bytes, size: int = 256) -> None:
        self.chunks = [body[i : i + size] for i in range(0, len(body), size)]
        self.read = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self.chunks:
            self.read += 1
            yield chunk


async def test_the_report_is_parsed_as_it_streams(fake: WorkdayFake) -> None:
    streams: list[Trickle] = []

    def handler(request: httpx.Request) -> httpx.Response:
        answer = fake.handler(request)
        streams.append(Trickle(answer.content))
        return httpx.Response(answer.status_code, headers=answer.headers, stream=streams[-1])

    config = workday_config(fake, api="raas")
    async with build_client(config, transport=httpx.MockTransport(handler)) as http:
        source = WorkdaySource(config, http, retry=ReadRetry(clock=FakeClock()))
        pages = source.read_persons(None)
        first = await anext(pages)
        assert len(first.items) == PAGE_SIZE
        assert streams[0].read < len(streams[0].chunks) / 2, "the first page came before the body was all read"
        await pages.aclose()  # type: ignore[attr-defined]


async def test_report_incremental_reads_pass_the_last_read_time_to_the_prompt(fake: WorkdayFake) -> None:
    config = workday_config(fake, api="raas")
    async with build_client(config, transport=fake.transport()) as http:
        source = WorkdaySource(config, http, retry=ReadRetry(clock=FakeClock()))
        everyone, checkpoints = await read(source)
        fake.tick(600)
        fake.change_email("140", "renamed@acme.example")
        changed, _ = await read(source, checkpoints[-1])
    assert [(p.hr_id, p.work_email) for p in changed] == [("140", "renamed@acme.example")]
    first, last = (r.url.params for r in fake.requests[-2:])
    assert "Updated_From" not in first and last["format"] == "json"
    assert last["Updated_From"] == (fake.now - timedelta(seconds=601) - timedelta(minutes=5)).strftime(
        "%Y-%m-%dT%H:%M:%SZ")  # fmt: skip
    assert len(everyone) == COMPANY_SIZE


async def test_a_report_without_a_change_prompt_is_read_whole(fake: WorkdayFake) -> None:
    config = workday_config(fake, api="raas", updated_from_prompt=None, report_prompts={"Organization": "All"})
    async with build_client(config, transport=fake.transport()) as http:
        source = WorkdaySource(config, http, retry=ReadRetry(clock=FakeClock()))
        _, checkpoints = await read(source)
        again, _ = await read(source, checkpoints[-1])
    assert len(again) == COMPANY_SIZE
    assert all(dict(r.url.params) == {"Organization": "All", "format": "json"} for r in fake.requests)


async def test_a_report_checkpoint_resumes_after_the_rows_yielded(fake: WorkdayFake) -> None:
    config = workday_config(fake, api="raas")
    async with build_client(config, transport=fake.transport()) as http:
        source = WorkdaySource(config, http, retry=ReadRetry(clock=FakeClock()))
        pages = source.read_persons(None)
        first, second = await anext(pages), await anext(pages)
        await pages.aclose()  # type: ignore[attr-defined]
        rest, _ = await read(source, second.checkpoint)
    ids = [p.hr_id for p in (*first.items, *second.items, *rest)]
    assert sorted(ids) == sorted(fake.hr_ids()) and len(ids) == len(set(ids))


async def test_a_worker_listed_twice_in_the_report_stops_the_read(fake: WorkdayFake) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        answer = fake.handler(request)
        doubled = answer.content.replace(b'[{"Employee_ID": "101"', b'[{"Employee_ID": "102"', 1)
        return httpx.Response(answer.status_code, headers=answer.headers, content=doubled)

    config = workday_config(fake, api="raas")
    async with build_client(config, transport=httpx.MockTransport(handler)) as http:
        with pytest.raises(PermanentError, match="twice"):
            await read(WorkdaySource(config, http, retry=ReadRetry(clock=FakeClock())))


def test_config_needs_the_credentials_and_report_of_its_modes(fake: WorkdayFake) -> None:
    with pytest.raises(ValueError, match="refresh_token"):
        workday_config(fake, auth="oauth_refresh", client_id="x")
    with pytest.raises(ValueError, match="report_name"):
        workday_config(fake, api="raas", report_name=None)
    secret = WorkdayConfig.model_json_schema()["properties"]["refresh_token"]["anyOf"][0]
    assert secret["writeOnly"] is True
