"""The whole service in one process with a HiBob fake as the HR system: the API over ASGI, the DBOS worker, the
HiBob and Moodle fakes behind transports (as `tests/e2e/conftest.py` builds it for BambooHR)."""

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
from enrolsync.connectors.hibob.fake.server import HiBobFake
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
from tests.support.database import Database
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


@dataclass
class HiBobService:
    """An admin's API client on the service, the HiBob and Moodle fakes it syncs, Moodle course ids by name."""

    api: httpx.AsyncClient
    hibob: HiBobFake
    moodle: FakeMoodle
    courses: dict[str, str]
    clock: FakeClock
    pipeline_id: str = ""
    hr_connection_id: str = ""

    async def ok(self, response: httpx.Response) -> Any:
        assert response.is_success, response.text
        return response.json()

    async def setup_pipeline(self, spec: dict[str, Any]) -> None:
        hr = await self.ok(await self.api.post("/connections", json={
            "name": "HiBob", "connector": "hibob", "config": hibob_connection(self.hibob),
        }))  # fmt: skip
        lms = await self.ok(await self.api.post("/connections", json={
            "name": "Moodle", "connector": "moodle", "config": moodle_config(self.moodle),
        }))  # fmt: skip
        pipeline = await self.ok(await self.api.post("/pipelines", json={
            "name": "Training", "source_id": hr["id"], "target_id": lms["id"], "spec": spec,
        }))  # fmt: skip
        self.pipeline_id, self.hr_connection_id = pipeline["id"], hr["id"]

    async def run(self, mode: str = "apply", scope: str = "full") -> dict[str, Any]:
        """Start a run over the API, wait for the worker to finish it, and read it back."""
        body = {"mode": mode, "scope": scope}
        run = await self.ok(await self.api.post(f"/pipelines/{self.pipeline_id}/runs", json=body))
        return await self.finished(run["id"])

    async def finished(self, run_id: str) -> dict[str, Any]:
        await workflow.outcome(run_id)
        return dict(await self.ok(await self.api.get(f"/runs/{run_id}")))

    async def operations(self, run_id: str) -> list[dict[str, Any]]:
        """Every operation of a run, following the API's pages."""
        items: list[dict[str, Any]] = []
        params: dict[str, Any] = {"limit": 200}
        while True:
            page = await self.ok(await self.api.get(f"/runs/{run_id}/operations", params=params))
            items += page["items"]
            if not page["next"]:
                return items
            params["after"] = page["next"]


@asynccontextmanager
async def hibob_service(db: Database, tmp_path: Path, hibob: HiBobFake) -> AsyncIterator[HiBobService]:
    moodle, courses = site("e2e-moodle-token")
    clock = FakeClock()
    clients = ClientFactory(
        transports={HIBOB_HOST: hibob.transport(), LMS_HOST: moodle.transport()},
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
                yield HiBobService(api=api, hibob=hibob, moodle=moodle, courses=courses, clock=clock)
    finally:
        await worker_module.stop(worker, timeout_seconds=1)
