"""The whole service in one process, as the e2e tests drive it: the API over ASGI, runs executed by the DBOS worker,
the BambooHR and Moodle fakes of `tests/support/systems.py` behind transports."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from enrolsync.connectors.bamboohr.fake.server import BambooHRFake
from enrolsync.connectors.moodle.fake.server import FakeMoodle
from tests.support.running import Driver
from tests.support.systems import bamboohr_config, moodle_config


@dataclass(kw_only=True)
class Service(Driver):
    """An admin's API client on the service, the two fakes it syncs, and the Moodle course ids by name."""

    bamboohr: BambooHRFake
    moodle: FakeMoodle
    courses: dict[str, str]

    async def setup_pipeline(self, spec: dict[str, Any]) -> None:
        """Create both connections and a pipeline over the API, as an administrator would."""
        await self.pipeline(
            spec,
            hr=("BambooHR", "bamboohr", bamboohr_config(self.bamboohr)),
            lms=("Moodle", "moodle", moodle_config(self.moodle)),
        )
