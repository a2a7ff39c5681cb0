"""SuccessFactors' fake serves the same generated company as HiBob's (and so BambooHR's), so tests, the demo and
benchmarks can swap sources: both connectors read the same people, whatever each vendor's wire format."""

from __future__ import annotations

from enrolsync.connectors.hibob import HiBobSource
from enrolsync.connectors.hibob.fake.server import HiBobFake
from enrolsync.connectors.kit.client import build_client
from enrolsync.connectors.kit.retry import ReadRetry
from enrolsync.connectors.model import Person
from enrolsync.connectors.successfactors import SuccessFactorsSource
from enrolsync.connectors.successfactors.fake import SuccessFactorsFake
from enrolsync.connectors.testing.fakes import FakeClock
from tests.support.connectors import hibob_config, successfactors_config

SHARED = ("hr_id", "given_name", "family_name", "work_email", "status", "department", "job_title", "location",
          "manager_hr_id", "hire_date", "termination_date")  # fmt: skip


def comparable(persons: list[Person]) -> dict[str, tuple[object, ...]]:
    return {p.hr_id: tuple(getattr(p, name) for name in SHARED) for p in persons}


async def test_both_fakes_serve_the_same_people() -> None:
    sf, bob = SuccessFactorsFake.seeded(80, seed=11), HiBobFake.seeded(80, seed=11)
    sf_config, bob_config = successfactors_config(sf), hibob_config(bob)
    async with build_client(sf_config, transport=sf.transport()) as http:
        source = SuccessFactorsSource(sf_config, http, retry=ReadRetry(clock=FakeClock()))
        from_sf = [p async for page in source.read_persons(None) for p in page.items]
    async with build_client(bob_config, transport=bob.transport()) as http:
        hibob = HiBobSource(bob_config, http, retry=ReadRetry(clock=FakeClock()))
        from_bob = [p async for page in hibob.read_persons(None) for p in page.items]

    assert len(from_sf) == 80 and comparable(from_sf) == comparable(from_bob)
    assert {p.status for p in from_sf} == {"active", "leave", "terminated"}
