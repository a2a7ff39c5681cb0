"""A small company in the memory HR system, a pipeline over the API, and runs executed in-process."""

from __future__ import annotations

from typing import Any

import httpx

from enrolsync.connectors.memory.state import Dataset
from enrolsync.connectors.model import Person, PersonStatus
from tests.api.conftest import Execute

SPEC: dict[str, Any] = {
    "rules": [
        {"name": "everyone", "when": {"attr": "department", "op": "exists"}, "enrol": ["C1"]},
        {
            "name": "engineering",
            "when": {"attr": "department", "op": "equals", "value": "Engineering"},
            "enrol": ["C2"],
        },
        {"name": "leads", "when": {"op": "is_manager"}, "enrol": ["C3"]},
    ],
    "mapping": {"username": "work_email"},
}


def person(
    hr_id: str, department: str = "Engineering", manager: str | None = None, status: PersonStatus = PersonStatus.ACTIVE
) -> Person:
    return Person(
        hr_id=hr_id,
        given_name=f"Given{hr_id}",
        family_name="Example",
        work_email=f"{hr_id.lower()}@example.com",
        department=department,
        manager_hr_id=manager,
        status=status,
    )


def seed(data: Dataset, *people: Person) -> None:
    for one in people:
        data.hris.put(one)


def team(data: Dataset) -> None:
    """M leads A (Engineering) and B (Sales); A leads C; T, once M's report, has left."""
    seed(
        data,
        person("M"),
        person("A", manager="M"),
        person("B", department="Sales", manager="M"),
        person("C", manager="A"),
        person("T", manager="M", status=PersonStatus.TERMINATED),
    )


async def create_pipeline(
    client: httpx.AsyncClient, ends: tuple[str, str], spec: dict[str, Any] | None = None, name: str = "training"
) -> str:
    body = {"name": name, "source_id": ends[0], "target_id": ends[1], "spec": spec or SPEC}
    response = await client.post("/pipelines", json=body)
    assert response.status_code == 201, response.text
    ident: str = response.json()["id"]
    return ident


async def run(
    client: httpx.AsyncClient, execute: Execute, pipeline_id: str, mode: str = "apply", scope: str = "full"
) -> dict[str, Any]:
    """Start a run over the API, execute it as a worker would, and read it back."""
    started = await client.post(f"/pipelines/{pipeline_id}/runs", json={"mode": mode, "scope": scope})
    assert started.status_code == 202, started.text
    await execute(started.json()["id"])
    body: dict[str, Any] = (await client.get(f"/runs/{started.json()['id']}")).json()
    return body
