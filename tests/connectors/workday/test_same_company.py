"""Workday's fake serves the same generated company as HiBob's (and so BambooHR's and SuccessFactors'), through
both of its APIs, so tests, the demo and benchmarks can swap sources and read the same people."""

from __future__ import annotations

import pytest

from enrolsync.connectors.hibob import HiBobSource
from enrolsync.connectors.hibob.fake.server import HiBobFake
from enrolsync.connectors.kit.client import build_client
from enrolsync.connectors.kit.retry import ReadRetry
from enrolsync.connectors.model import Person
from enrolsync.connectors.testing.fakes import FakeClock
from enrolsync.connectors.workday import WorkdaySource
from enrolsync.connectors.workday.fake import WorkdayFake
from tests.support.connectors import hibob_config, workday_config

SHARED = ("hr_id", "given_name", "family_name", "work_email", "status", "department", "job_title", "location",
          "manager_hr_id", "hire_date", "termination_date")  # fmt: skip


def comparable(persons: list[Person]) -> dict[str, tuple[object, ...]]:
    return {p.hr_id: tuple(getattr(p, name) for name in SHARED) for p in persons}


@pytest.mark.parametrize("api", ["soap", "raas"])
async def test_both_fakes_serve_the_same_people(api: str) -> None:
    wd, bob = WorkdayFake.seeded(80, seed=11), HiBobFake.seeded(80, seed=11)
    wd_config, bob_config = workday_config(wd, api=api), hibob_config(bob)
    async with build_client(wd_config, transport=wd.transport()) as http:
        source = WorkdaySource(wd_config, http, retry=ReadRetry(clock=FakeClock()))
        from_wd = [p async for page in source.read_persons(None) for p in page.items]
    async with build_client(bob_config, transport=bob.transport()) as http:
        hibob = HiBobSource(bob_config, http, retry=ReadRetry(clock=FakeClock()))
        from_bob = [p async for page in hibob.read_persons(None) for p in page.items]

    assert len(from_wd) == 80 and comparable(from_wd) == comparable(from_bob)
    assert {p.status for p in from_wd} == {"active", "leave", "terminated"}
    assert {p.custom.get("cost_centre") for p in from_wd} >= {"CC-000", "CC-001"}
