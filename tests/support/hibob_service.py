"""The whole service in one process with a HiBob fake as the HR system: the API over ASGI, the DBOS worker, the
HiBob and Moodle fakes behind transports (as `tests/e2e/conftest.py` builds it for BambooHR)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from enrolsync.connectors.hibob.fake.server import HiBobFake
from enrolsync.connectors.moodle.fake.server import FakeMoodle
from enrolsync.connectors.testing.fakes import FakeClock
from tests.support.database import Database
from tests.support.running import Driver, running_service
from tests.support.systems import LMS_HOST, moodle_config, site

HIBOB_HOST = "hibob.test"


def hibob_connection(hr: HiBobFake, **options: Any) -> dict[str, Any]:
    """The HiBob connection that reaches `hr` (behind `HIBOB_HOST`) with its service user and webhook secret."""
    return {
        "base_url": f"https://{HIBOB_HOST}/v1/",
        "service_user_id": hr.service_user_id,
        "service_user_token": hr.token,
        "webhook_secret": hr.webhook_secret,
        **options,
    }


@dataclass(kw_only=True)
class HiBobService(Driver):
    """An admin's API client on the service, the HiBob and Moodle fakes it syncs, Moodle course ids by name."""

    hibob: HiBobFake
    moodle: FakeMoodle
    courses: dict[str, str]

    async def setup_pipeline(self, spec: dict[str, Any]) -> None:
        await self.pipeline(
            spec,
            hr=("HiBob", "hibob", hibob_connection(self.hibob)),
            lms=("Moodle", "moodle", moodle_config(self.moodle)),
        )


@asynccontextmanager
async def hibob_service(db: Database, tmp_path: Path, hibob: HiBobFake) -> AsyncIterator[HiBobService]:
    moodle, courses = site("e2e-moodle-token")
    clock = FakeClock()
    transports = {HIBOB_HOST: hibob.transport(), LMS_HOST: moodle.transport()}
    async with running_service(db, tmp_path, transports=transports, clock=clock) as api:
        yield HiBobService(api=api, hibob=hibob, moodle=moodle, courses=courses, clock=clock)
