"""The whole service in one process: API over ASGI, the DBOS worker, BambooHR and Moodle fakes behind transports."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from enrolsync.connectors.bamboohr.fake.server import BambooHRFake
from enrolsync.connectors.testing.fakes import FakeClock
from tests.support.database import Database
from tests.support.running import running_service
from tests.support.service import Service
from tests.support.systems import HR_HOST, LMS_HOST, site


@pytest.fixture
async def service(db: Database, tmp_path: Path) -> AsyncIterator[Service]:
    """The service with an admin's client, a 40-person company in BambooHR and a Moodle site with `COURSES`."""
    bamboohr = BambooHRFake.seeded(40, 3, company_domain="acme", api_key="e2e-bamboohr-key")
    moodle, courses = site("e2e-moodle-token")
    clock = FakeClock()
    transports = {HR_HOST: bamboohr.transport(), LMS_HOST: moodle.transport()}
    async with running_service(db, tmp_path, transports=transports, clock=clock) as api:
        yield Service(api=api, bamboohr=bamboohr, moodle=moodle, courses=courses, clock=clock)
