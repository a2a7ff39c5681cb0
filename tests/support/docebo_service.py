"""The whole service in one process with Docebo as the LMS: the API over ASGI, the DBOS worker, the BambooHR
and Docebo fakes behind transports (as `tests/e2e/conftest.py` builds it for Moodle). Both fakes and the
limiters share one `FakeClock`, so Docebo's leaky bucket drains on the same time the worker waits on."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr

from enrolsync.api.app import create_app
from enrolsync.api.tokens import mint_token
from enrolsync.connectors.bamboohr.fake.server import BambooHRFake
from enrolsync.connectors.docebo.fake import DoceboFake
from enrolsync.connectors.kit.retry import ReadRetry
from enrolsync.connectors.registry import Registry
from enrolsync.connectors.testing.fakes import FakeClock
from enrolsync.settings import Settings
from enrolsync.sync.jobs import worker as worker_module
from enrolsync.sync.jobs import workflow
from enrolsync.sync.run.clients import ClientFactory
from enrolsync.sync.store.crypto import generate_key
from enrolsync.sync.store.tables import ApiRole
from tests.support.database import Database
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


@dataclass
class DoceboService:
    api: httpx.AsyncClient
    bamboohr: BambooHRFake
    lms: DoceboFake
    courses: dict[str, str]  # course code -> Docebo course id
    clock: FakeClock
    pipeline_id: str = ""

    async def ok(self, response: httpx.Response) -> Any:
        assert response.is_success, response.text
        return response.json()

    async def setup_pipeline(self, spec: dict[str, Any]) -> None:
        hr = await self.ok(await self.api.post("/connections", json={
            "name": "BambooHR", "connector": "bamboohr", "config": bamboohr_config(self.bamboohr),
        }))  # fmt: skip
        lms = await self.ok(await self.api.post("/connections", json={
            "name": "Docebo", "connector": "docebo", "config": docebo_connection(self.lms),
        }))  # fmt: skip
        pipeline = await self.ok(await self.api.post("/pipelines", json={
            "name": "Training", "source_id": hr["id"], "target_id": lms["id"], "spec": spec,
        }))  # fmt: skip
        self.pipeline_id = pipeline["id"]

    async def run(self, mode: str = "apply", scope: str = "full") -> dict[str, Any]:
        body = {"mode": mode, "scope": scope}
        run = await self.ok(await self.api.post(f"/pipelines/{self.pipeline_id}/runs", json=body))
        await workflow.outcome(run["id"])
        return dict(await self.ok(await self.api.get(f"/runs/{run['id']}")))

    async def operations(self, run_id: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        params: dict[str, Any] = {"limit": 200}
        while True:
            page = await self.ok(await self.api.get(f"/runs/{run_id}/operations", params=params))
            items += page["items"]
            if not page["next"]:
                return items
            params["after"] = page["next"]


@asynccontextmanager
async def docebo_service(db: Database, tmp_path: Path, **lms_options: Any) -> AsyncIterator[DoceboService]:
    """A 40-person company in BambooHR and a Docebo platform with `COURSES` (by code)."""
    clock = FakeClock()
    bamboohr = BambooHRFake.seeded(40, 3, company_domain="acme", api_key="e2e-bamboohr-key")
    lms = DoceboFake(client_secret=DOCEBO_SECRET, clock=clock.monotonic, domain=DOCEBO_HOST, **lms_options)
    courses = {code: str(lms.add_course(code.title(), code)) for code in COURSES}
    clients = ClientFactory(
        transports={HR_HOST: bamboohr.transport(), DOCEBO_HOST: lms.transport()},
        clock=clock,
        read_retry=ReadRetry(clock=clock),
    )
    system_url = f"sqlite:///{tmp_path / 'jobs.sqlite'}" if db.kind == "sqlite" else db.url
    settings = Settings(
        data_dir=tmp_path, database_url=db.url, system_database_url=system_url,
        secret_keys=[SecretStr(generate_key())],
    )  # fmt: skip
    registry = Registry.from_entry_points()
    worker = await worker_module.start(settings, registry=registry, clients=clients, clock=clock)
    try:
        app = create_app(settings, registry=registry, clients=clients)
        async with app.router.lifespan_context(app):
            token = await mint_token(app.state.services.sessions, name="e2e admin", role=ApiRole.ADMIN)
            transport = httpx.ASGITransport(app=app)
            headers = {"Authorization": f"Bearer {token}"}
            async with httpx.AsyncClient(transport=transport, base_url="http://enrolsync.test", headers=headers) as api:
                yield DoceboService(api=api, bamboohr=bamboohr, lms=lms, courses=courses, clock=clock)
    finally:
        await worker_module.stop(worker, timeout_seconds=1)
