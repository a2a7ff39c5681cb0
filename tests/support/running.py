"""The whole service in one process, as the e2e tests run it: the API over ASGI with an admin's client, runs
executed by the DBOS worker, and each test's fake systems behind transports. `Driver` is what the admin does over
the API; each e2e module's service class adds its own fakes to it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr

from enrolsync.api.app import create_app
from enrolsync.api.tokens import mint_token
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


@asynccontextmanager
async def running_service(
    db: Database, tmp_path: Path, *, transports: Mapping[str, httpx.AsyncBaseTransport], clock: FakeClock
) -> AsyncIterator[httpx.AsyncClient]:
    """Start the worker and the API on `db` (the job engine's own database beside it), with every remote host in
    `transports` served by a fake and all waiting on `clock`; yield an admin's API client."""
    clients = ClientFactory(transports=dict(transports), clock=clock, read_retry=ReadRetry(clock=clock))
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
                yield api
    finally:
        await worker_module.stop(worker, timeout_seconds=1)


@dataclass(kw_only=True)
class Driver:
    """An admin on the API: connections, one pipeline, its runs (waited for) and their operations."""

    api: httpx.AsyncClient
    clock: FakeClock
    pipeline_id: str = ""
    hr_connection_id: str = ""
    lms_connection_id: str = ""

    async def ok(self, response: httpx.Response) -> Any:
        assert response.is_success, response.text
        return response.json()

    async def connect(self, name: str, connector: str, config: dict[str, Any]) -> str:
        """Create a connection; returns its id."""
        body = {"name": name, "connector": connector, "config": config}
        ident: str = (await self.ok(await self.api.post("/connections", json=body)))["id"]
        return ident

    async def pipeline(
        self, spec: dict[str, Any], *, hr: tuple[str, str, dict[str, Any]], lms: tuple[str, str, dict[str, Any]]
    ) -> None:
        """Create both connections (`(name, connector, config)` each) and a pipeline between them."""
        self.hr_connection_id = await self.connect(*hr)
        self.lms_connection_id = await self.connect(*lms)
        body = {"name": "Training", "source_id": self.hr_connection_id, "target_id": self.lms_connection_id}
        self.pipeline_id = (await self.ok(await self.api.post("/pipelines", json={**body, "spec": spec})))["id"]

    async def run(self, mode: str = "apply", scope: str = "full") -> dict[str, Any]:
        """Start a run over the API, wait for the worker to finish it, and read it back."""
        body = {"mode": mode, "scope": scope}
        run = await self.ok(await self.api.post(f"/pipelines/{self.pipeline_id}/runs", json=body))
        return await self.finished(run["id"])

    async def finished(self, run_id: str) -> dict[str, Any]:
        """Wait for the worker to finish the run, and read it back."""
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

    async def op_keys(self, run_id: str) -> list[tuple[str, str, str | None]]:
        """A run's operations as sorted `(kind, hr_id, course_id)`: what most scenario assertions compare."""
        return sorted((op["kind"], op["hr_id"], op["op"].get("course_id")) for op in await self.operations(run_id))


def team_enrolment(team: dict[str, Any], hr_id: str, course: str) -> dict[str, Any]:
    """One report's enrolment in a course, from a `GET /pipelines/{id}/teams/{manager}` answer."""
    member = next(m for m in team["members"] if m["hr_id"] == hr_id)
    found: dict[str, Any] = next(e for e in member["enrolments"] if e["course"] == course)
    return found
