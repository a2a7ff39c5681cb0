"""Progress read back from Moodle (issue 16) through the whole service: a learner completes a course in Moodle,
and after the next full run their manager's team view shows it, without a single extra write to Moodle."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.support.moodle_company import active_people, moodle_user
from tests.support.running import team_enrolment
from tests.support.service import Service
from tests.support.systems import default_spec

OPENED, DONE = 1_780_000_000, 1_780_100_000


def iso(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat().replace("+00:00", "Z")


async def test_a_completion_in_moodle_reaches_the_managers_team_view(service: Service) -> None:
    await service.setup_pipeline(default_spec(service.courses))
    assert (await service.run())["status"] == "succeeded"
    people = active_people(service)
    ordered = sorted(people, key=int)  # the same manager whatever the hash seed
    manager = next(m for h in ordered if (m := str(people[h]["supervisorEid"] or "")) in people)
    report = next(h for h in ordered if str(people[h]["supervisorEid"]) == manager)
    learner = moodle_user(service, people[report]).id
    safety = service.courses["SAFETY-101"]
    service.moodle.state.lastaccess[(learner, int(safety))] = OPENED
    service.moodle.complete(learner, int(safety), DONE)
    url = f"/pipelines/{service.pipeline_id}/teams/{manager}"
    before = await service.ok(await service.api.get(url))
    writes = len(service.moodle.writes)

    again = await service.run()

    assert again["status"] == "succeeded" and again["counters"]["progress"]["completed"] == 1
    assert len(service.moodle.writes) == writes, "reading progress writes nothing"
    after = await service.ok(await service.api.get(url))
    assert team_enrolment(before, report, safety)["progress"] == "not_started"
    read = team_enrolment(after, report, safety)
    assert (read["progress"], read["completed_at"]) == ("completed", iso(DONE))
    assert read["last_activity_at"] == iso(OPENED)
    summary = {c["course"]: c for c in after["summary"]["courses"]}
    assert summary[safety]["completed"] == 1 and summary[safety]["enrolled"] == after["summary"]["people"]
    assert [c["hr_id"] for c in after["summary"]["newest_completions"]] == [report]
