"""The app as production builds it: installed connectors from entry points, the job engine's queue."""

from __future__ import annotations

from typing import Any

import httpx
from structlog.testing import capture_logs

from enrolsync.api.app import create_app
from enrolsync.api.tokens import mint_token
from enrolsync.settings import Settings
from enrolsync.sync.store.tables import ApiRole
from tests.support.factories import RULE


async def test_installed_connectors_and_the_default_queue(settings: Settings) -> None:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        token = await mint_token(app.state.services.sessions, name="defaults", role=ApiRole.ADMIN)
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://enrolsync.test", headers=headers
        ) as client:
            await _configure_and_run(client)


async def _configure_and_run(client: httpx.AsyncClient) -> None:
    keys = {c["key"] for c in (await client.get("/connectors")).json()["items"]}
    assert {"memory-source", "memory-target"} <= keys

    ids = []
    for connector in ("memory-source", "memory-target"):
        body: dict[str, Any] = {"name": connector, "connector": connector, "config": {}}
        ids.append((await client.post("/connections", json=body)).json()["id"])
    body = {"name": "p", "source_id": ids[0], "target_id": ids[1], "spec": {"rules": [RULE]}}
    pipeline = (await client.post("/pipelines", json=body)).json()

    with capture_logs():
        response = await client.post(f"/pipelines/{pipeline['id']}/runs")

    # Whether or not the job engine took it, the run is recorded as queued for the worker.
    assert response.status_code == 202
    assert (await client.get(response.headers["location"])).json()["status"] == "queued"
