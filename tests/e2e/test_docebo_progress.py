"""Progress read back from Docebo (issue 16) through the whole service: a learner completes a course and another
starts one in Docebo, and after the next full run their manager's team view shows both, without
a single extra write to Docebo."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.support.database import Database
from tests.support.docebo_service import DoceboService, docebo_service, docebo_spec
from tests.support.running import team_enrolment

OPENED = datetime(2026, 11, 18, 8, 0, tzinfo=UTC)
DONE = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)


@pytest.fixture
async def service(db: Database, tmp_path: Path) -> AsyncIterator[DoceboService]:
    async with docebo_service(db, tmp_path) as running:
        yield running


def learner(service: DoceboService, hr_id: str) -> int:
    found = service.lms.user_by(employee_id=hr_id)
    assert found is not None, f"no Docebo user carries HR id {hr_id}"
    return found.id


async def test_progress_in_docebo_reaches_the_managers_team_view(service: DoceboService) -> None:
    await service.setup_pipeline(docebo_spec())
    assert (await service.run())["status"] == "succeeded"
    people = {h: service.bamboohr.row(h) for h in service.bamboohr.hr_ids()}
    active = {h for h, r in people.items() if r["status"] == "Active"}
    manager = next(m for h in sorted(active, key=int) if (m := str(people[h]["supervisorEid"] or "")) in active)
    done, busy = sorted((h for h in active if str(people[h]["supervisorEid"]) == manager), key=int)[:2]
    safety = service.courses["SAFETY-101"]
    service.lms.complete(learner(service, done), int(safety), DONE)
    service.lms.start(learner(service, busy), int(safety), at=OPENED)
    url = f"/pipelines/{service.pipeline_id}/teams/{manager}"
    before = await service.ok(await service.api.get(url))
    writes = len(service.lms.writes)

    again = await service.run()

    assert again["status"] == "succeeded" and again["counters"]["progress"]["completed"] == 1, again["counters"]
    assert len(service.lms.writes) == writes, "reading progress writes nothing"
    after = await service.ok(await service.api.get(url))
    assert team_enrolment(before, done, safety)["progress"] == "not_started"
    read = team_enrolment(after, done, safety)
    assert (read["progress"], read["completed_at"]) == ("completed", "2026-11-20T09:30:00Z")
    started = team_enrolment(after, busy, safety)
    assert (started["progress"], started["last_activity_at"], started["completed_at"]) == (
        "in_progress",
        "2026-11-18T08:00:00Z",
        None,
    )
    summary = {c["course"]: c for c in after["summary"]["courses"]}
    assert (summary[safety]["completed"], summary[safety]["in_progress"]) == (1, 1)
    assert [c["hr_id"] for c in after["summary"]["newest_completions"]] == [done]
