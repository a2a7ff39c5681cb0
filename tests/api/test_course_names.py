"""Rules may name courses as admins know them (a code, a Moodle shortname) instead of the LMS's record ids: each
run resolves the names once, a dry run reports a name that is no course before anything is written, and the
people view agrees with what was applied."""

from __future__ import annotations

from typing import Any

import httpx

from enrolsync.connectors.memory.state import Dataset
from tests.support.api import Execute, create_pipeline, run
from tests.support.factories import team

BY_CODE: dict[str, Any] = {
    "rules": [
        {"name": "everyone", "when": {"attr": "department", "op": "exists"}, "enrol": ["SAFETY-101"]},
        {"name": "leads", "when": {"op": "is_manager"}, "enrol": ["LEADERSHIP-1", "LEADERSHIP-2"]},
    ],
    "mapping": {"username": "work_email"},
}


async def _enrols(client: httpx.AsyncClient, run_id: str) -> set[tuple[str, str]]:
    items: list[dict[str, Any]] = (await client.get(f"/runs/{run_id}/operations")).json()["items"]
    return {(op["hr_id"], op["op"]["course_id"]) for op in items if op["kind"] == "enrol"}


async def test_rules_name_courses_by_code_and_an_unknown_code_is_reported_before_anything_is_written(
    client: httpx.AsyncClient, ends: tuple[str, str], memory: tuple[str, Dataset], execute: Execute
) -> None:
    team(memory[1])
    pipeline = await create_pipeline(client, ends, spec=BY_CODE)

    dry = await run(client, execute, pipeline, mode="plan")

    assert dry["status"] == "succeeded", dry
    courses = dry["counters"]["courses"]
    assert courses["resolved"] == {"SAFETY-101": "C1", "LEADERSHIP-1": "C3"}
    assert courses["unresolved"] == [{"rule": "leads", "course": "LEADERSHIP-2", "reason": "unknown"}]
    assert await _enrols(client, dry["id"]) == {
        ("M", "C1"), ("A", "C1"), ("B", "C1"), ("C", "C1"), ("M", "C3"), ("A", "C3"),
    }  # fmt: skip
    assert memory[1].lms.enrolments == set(), "a dry run writes nothing"

    applied = await run(client, execute, pipeline)
    assert applied["status"] == "succeeded", applied
    assert {course for _, course in memory[1].lms.enrolments} == {"C1", "C3"}, "enrolled by id"
    again = await run(client, execute, pipeline)
    assert again["progress"]["ops_planned"] == 0, "a re-sync writes nothing: names resolve to what was applied"
    person = (await client.get(f"/pipelines/{pipeline}/people/M")).json()
    assert person["sync_state"] == "in_sync", person
    assert sorted(person["desired"]["enrolments"]) == ["C1", "C3"]
    leads = next(v for v in person["explanation"] if v["rule"] == "leads")
    assert leads["enrol"] == ["LEADERSHIP-1", "LEADERSHIP-2"], "the story shows the rule as written"


async def test_the_target_lists_its_courses_with_the_keys_rules_may_use(
    client: httpx.AsyncClient, ends: tuple[str, str]
) -> None:
    listed = await client.get(f"/connections/{ends[1]}/courses")

    assert listed.status_code == 200, listed.text
    assert listed.json()["items"][0] == {"course_id": "C1", "name": "C1", "keys": {"code": "SAFETY-101"}}
    source = await client.get(f"/connections/{ends[0]}/courses")
    assert source.status_code == 409
    assert source.headers["content-type"] == "application/problem+json"
    assert "cannot list their courses" in source.json()["detail"]
