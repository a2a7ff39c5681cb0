"""The whole service in one process: API over ASGI, the DBOS worker, BambooHR and Moodle fakes behind transports."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from enrolsync.api.app import create_app
from enrolsync.api.tokens import mint_token
from enrolsync.connectors.bamboohr.fake.server import BambooHRFake
from enrolsync.connectors.kit.retry import ReadRetry
from enrolsync.connectors.moodle.fake.server import FakeMoodle
from enrolsync.connectors.registry import Registry
from enrolsync.connectors.testing.fakes import FakeClock
from enrolsync.settings import Settings
from enrolsync.sync.jobs import worker as worker_module
from enrolsync.sync.jobs import workflow
from enrolsync.sync.run.clients import ClientFactory
from enrolsync.sync.store.crypto import generate_key
from enrolsync.sync.store.tables import ApiRole
from tests.conftest import Database

COURSES = ("SAFETY-101", "SEC-200", "LEAD-1", "SALES-110")


@dataclass
class Service:
    api: httpx.AsyncClient
    bamboohr: BambooHRFake
    moodle: FakeMoodle
    courses: dict[str, str]
    clock: FakeClock
    pipeline_id: str = ""

    async def ok(self, response: httpx.Response) -> Any:
        assert response.is_success, response.text
        return response.json()

    async def run(self, mode: str = "apply", scope: str = "full") -> dict[str, Any]:
        run = await self.ok(
            await self.api.post(f"/pipelines/{self.pipeline_id}/runs", json={"mode": mode, "scope": scope})
        )
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

    async def setup_pipeline(self, spec: dict[str, Any]) -> None:
        hr = await self.ok(await self.api.post("/connections", json={
            "name": "BambooHR", "connector": "bamboohr",
            "config": {"company_domain": "acme", "base_url": "https://bamboohr.test/api/gateway.php/acme/",
                       "api_key": "e2e-bamboohr-key"},
        }))  # fmt: skip
        role_ids = {name: self.moodle.role_id(name) for name in ("student", "editingteacher", "manager", "parent")}
        lms = await self.ok(await self.api.post("/connections", json={
            "name": "Moodle", "connector": "moodle",
            "config": {"base_url": "https://moodle.test/", "token": "e2e-moodle-token", "role_ids": role_ids,
                       "role_mirror_field": "enrolsyncroles"},
        }))  # fmt: skip
        pipeline = await self.ok(await self.api.post("/pipelines", json={
            "name": "Training", "source_id": hr["id"], "target_id": lms["id"], "spec": spec,
        }))  # fmt: skip
        self.pipeline_id = pipeline["id"]


def default_spec(courses: dict[str, str]) -> dict[str, Any]:
    return {
        "rules": [
            {"name": "everyone", "when": {"attr": "department", "op": "exists"}, "enrol": [courses["SAFETY-101"]]},
            {"name": "eng", "when": {"attr": "department", "op": "equals", "value": "Engineering"},
             "enrol": [courses["SEC-200"]]},
            {"name": "leads", "when": {"op": "is_manager"}, "enrol": [courses["LEAD-1"]]},
            {"name": "sales", "when": {"attr": "department", "op": "equals", "value": "Sales"},
             "enrol": [courses["SALES-110"]]},
        ],
        "mapping": {"username": "work_email", "sso": {"auth": "saml2", "subject": "work_email"}},
    }  # fmt: skip


@pytest.fixture
async def service(db: Database, tmp_path: Path) -> AsyncIterator[Service]:
    bamboohr = BambooHRFake.seeded(40, 3, company_domain="acme", api_key="e2e-bamboohr-key")
    moodle = FakeMoodle(token="e2e-moodle-token")
    moodle.add_profile_field("enrolsyncroles")
    courses = {name: str(moodle.add_course(name)) for name in COURSES}
    clock = FakeClock()
    clients = ClientFactory(
        transports={"bamboohr.test": bamboohr.transport(), "moodle.test": moodle.transport()},
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
                yield Service(api=api, bamboohr=bamboohr, moodle=moodle, courses=courses, clock=clock)
    finally:
        await worker_module.stop(worker, timeout_seconds=1)
