"""The whole service in one process with Docebo as the LMS: the API over ASGI, the DBOS worker, the BambooHR
and Docebo fakes behind transports (`tests.support.running`). Both fakes and the limiters share one `FakeClock`,
so Docebo's leaky bucket drains, and its tokens expire, on the same time the worker waits on."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from enrolsync.connectors.bamboohr.fake.server import BambooHRFake
from enrolsync.connectors.docebo.fake import DoceboFake
from enrolsync.connectors.testing.fakes import FakeClock
from tests.support.database import Database
from tests.support.running import Driver, running_service
from tests.support.systems import COURSES, HR_HOST, bamboohr_config, training_spec

DOCEBO_HOST = "acme.docebo.test"
DOCEBO_SECRET = "e2e-docebo-s3cret-client"


def docebo_connection(lms: DoceboFake, **options: Any) -> dict[str, Any]:
    """The Docebo connection reaching `lms` with its API client; the HR id in additional field 1, SAML SSO by
    username."""
    base = {"base_url": f"https://{DOCEBO_HOST}/", "client_id": lms.client_id, "client_secret": lms.client_secret}
    return {**base, "external_id_field": 1, "sso_auth": "saml2", "sso_subject_field": "username", **options}


def docebo_spec() -> dict[str, Any]:
    """The training rules, naming Docebo courses by their code as admins know them (resolved to ids per run)."""
    return training_spec("SAFETY-101", "SEC-200", "SALES-110", "LEAD-1")


@dataclass(kw_only=True)
class DoceboService(Driver):
    bamboohr: BambooHRFake
    lms: DoceboFake
    courses: dict[str, str]  # course code -> Docebo course id

    async def setup_pipeline(self, spec: dict[str, Any]) -> None:
        await self.pipeline(
            spec,
            hr=("BambooHR", "bamboohr", bamboohr_config(self.bamboohr)),
            lms=("Docebo", "docebo", docebo_connection(self.lms)),
        )


@asynccontextmanager
async def docebo_service(db: Database, tmp_path: Path, **lms_options: Any) -> AsyncIterator[DoceboService]:
    """A 40-person company in BambooHR and a Docebo platform with `COURSES` (by code)."""
    clock = FakeClock()
    bamboohr = BambooHRFake.seeded(40, 3, company_domain="acme", api_key="e2e-bamboohr-key")
    lms = DoceboFake(client_secret=DOCEBO_SECRET, clock=clock.monotonic, domain=DOCEBO_HOST, **lms_options)
    courses = {code: str(lms.add_course(code.title(), code)) for code in COURSES}
    transports = {HR_HOST: bamboohr.transport(), DOCEBO_HOST: lms.transport()}
    async with running_service(db, tmp_path, transports=transports, clock=clock) as api:
        yield DoceboService(api=api, bamboohr=bamboohr, lms=lms, courses=courses, clock=clock)
