"""HiBob's fake serves the same generated company as BambooHR's, so tests, the demo and benchmarks can swap
sources: both connectors read the same people, whatever each vendor's wire format."""

from __future__ import annotations

from enrolsync.connectors.bamboohr import BambooHRSource
from enrolsync.connectors.bamboohr.fake.server import BambooHRFake
from enrolsync.connectors.hibob import HiBobSource
from enrolsync.connectors.hibob.fake.server import HiBobFake
from enrolsync.connectors.kit.client import build_client
from enrolsync.connectors.kit.retry import ReadRetry
from enrolsync.connectors.model import Person
from enrolsync.connectors.testing.fakes import FakeClock
from tests.support.connectors import hibob_config, make_config

SHARED = ("hr_id", "given_name", "family_name", "work_email", "status", "department", "job_title", "location",
          "manager_hr_id", "hire_date", "termination_date")  # fmt: skip


def comparable(persons: list[Person]) -> dict[str, tuple[object, ...]]:
    return {p.hr_id: tuple(getattr(p, name) for name in SHARED) for p in persons}


async def test_both_fakes_serve_the_same_people() -> None:
    bamboo, bob = BambooHRFake.seeded(80, seed=11), HiBobFake.seeded(80, seed=11)
    bamboo_config, bob_config = make_config(bamboo), hibob_config(bob)
    async with build_client(bamboo_config, transport=bamboo.transport()) as http:
        source = BambooHRSource(bamboo_config, http, retry=ReadRetry(clock=FakeClock()))
        from_bamboo = [p async for page in source.read_persons(None) for p in page.items]
    async with build_client(bob_config, transport=bob.transport()) as http:
        hibob = HiBobSource(bob_config, http, retry=ReadRetry(clock=FakeClock()))
        from_bob = [p async for page in hibob.read_persons(None) for p in page.items]

    assert len(from_bob) == 80 and comparable(from_bob) == comparable(from_bamboo)
    assert {p.status for p in from_bob} == {"active", "leave", "terminated"}
