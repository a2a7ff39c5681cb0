"""The whole service in one process with TalentLMS as the LMS: the API over ASGI, the DBOS worker, the BambooHR
and TalentLMS fakes behind transports (as `tests/e2e/conftest.py` builds it for Moodle). Both fakes and the
limiters share one `FakeClock`, so TalentLMS's hourly budget is kept on the same time the worker waits on."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from enrolsync.connectors.bamboohr.fake.server import BambooHRFake
from enrolsync.connectors.talentlms.fake import TalentLMSFake
from enrolsync.connectors.testing.fakes import FakeClock
from tests.support.database import Database
from tests.support.running import Driver, running_service
from tests.support.systems import COURSES, HR_HOST, bamboohr_config, training_spec

TALENTLMS_HOST = "acme.talentlms.test"
TALENTLMS_KEY = "e2e-talentlms-s3cret-key"


def talentlms_connection(lms: TalentLMSFake, **options: Any) -> dict[str, Any]:
    """The TalentLMS connection reaching `lms` with its key; the HR id in custom field 1, SAML SSO by login."""
    base = {"base_url": f"https://{TALENTLMS_HOST}/", "api_key": lms.api_key, "external_id_field": 1}
    return {**base, "sso_auth": "saml2", "sso_subject_field": "login", **options}


def talentlms_spec() -> dict[str, Any]:
    """The training rules, naming TalentLMS courses by their code as admins know them (resolved to ids per run)."""
    return training_spec("SAFETY-101", "SEC-200", "SALES-110", "LEAD-1")


@dataclass(kw_only=True)
class TalentLMSService(Driver):
    bamboohr: BambooHRFake
    lms: TalentLMSFake
    courses: dict[str, str]  # course code -> TalentLMS course id

    async def setup_pipeline(self, spec: dict[str, Any]) -> None:
        await self.pipeline(
            spec,
            hr=("BambooHR", "bamboohr", bamboohr_config(self.bamboohr)),
            lms=("TalentLMS", "talentlms", talentlms_connection(self.lms)),
        )


@asynccontextmanager
async def talentlms_service(db: Database, tmp_path: Path, **lms_options: Any) -> AsyncIterator[TalentLMSService]:
    """A 40-person company in BambooHR and a TalentLMS portal with `COURSES` (by code)."""
    clock = FakeClock()
    bamboohr = BambooHRFake.seeded(40, 3, company_domain="acme", api_key="e2e-bamboohr-key")
    lms = TalentLMSFake(api_key=TALENTLMS_KEY, clock=clock.monotonic, domain=TALENTLMS_HOST, **lms_options)
    courses = {code: str(lms.add_course(code.title(), code)) for code in COURSES}
    transports = {HR_HOST: bamboohr.transport(), TALENTLMS_HOST: lms.transport()}
    async with running_service(db, tmp_path, transports=transports, clock=clock) as api:
        yield TalentLMSService(api=api, bamboohr=bamboohr, lms=lms, courses=courses, clock=clock)
