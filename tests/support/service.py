"""The whole service in one process, as the e2e tests drive it: the API over ASGI, runs executed by the DBOS worker,
the BambooHR and Moodle fakes of `tests/support/systems.py` behind transports."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from enrolsync.connectors.bamboohr.fake.server import BambooHRFake
from enrolsync.connectors.moodle.fake.server import FakeMoodle
from enrolsync.connectors.testing.fakes import FakeClock
from enrolsync.sync.jobs import workflow
from tests.support.systems import bamboohr_config, moodle_config


@dataclass
class Service:
    """An admin's API client on the service, the two fakes it syncs, and the Moodle course ids by name."""

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
        """Start a run over the API, wait for the worker to finish it, and read it back."""
        run = await self.ok(
            await self.api.post(f"/pipelines/{self.pipeline_id}/runs", json={"mode": mode, "scope": scope})
        )
        await workflow.outcome(run["id"])
        return dict(await self.ok(await self.api.get(f"/runs/{run['id']}")))

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

    async def setup_pipeline(self, spec: dict[str, Any]) -> None:
        """Create both connections and a pipeline over the API, as an administrator would."""
        hr = await self.ok(await self.api.post("/connections", json={
            "name": "BambooHR", "connector": "bamboohr", "config": bamboohr_config(self.bamboohr),
        }))  # fmt: skip
        lms = await self.ok(await self.api.post("/connections", json={
            "name": "Moodle", "connector": "moodle", "config": moodle_config(self.moodle),
        }))  # fmt: skip
        pipeline = await self.ok(await self.api.post("/pipelines", json={
            "name": "Training", "source_id": hr["id"], "target_id": lms["id"], "spec": spec,
        }))  # fmt: skip
        self.pipeline_id = pipeline["id"]
