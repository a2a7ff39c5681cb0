"""Due dates pushed to LearnUpon (issue 16) through the whole service, on SQLite and PostgreSQL (the `db` fixture).

A rule's due date reaches each enrolment as LearnUpon's own `due_date` (advisory: the learner keeps access), moves
when the rule changes, and for recurring training follows the learner's completion to the next cycle. A re-sync
with nothing changed plans nothing.
"""

from __future__ import annotations

import copy
from datetime import date, timedelta
from typing import Any

from enrolsync.sync.rules.due import add_months
from tests.e2e.test_bamboohr_to_learnupon import LearnUponService, active_people, spec
from tests.e2e.test_bamboohr_to_learnupon import service as service  # the shared fixture

COMPLETED = "2026-03-14T10:30:00Z"


def due_of(service: LearnUponService, hr_id: str, course: str) -> date | None:
    """The due date LearnUpon lists for the person's enrolment (its UTC date/time, read as a date)."""
    user_id, course_id = service.user(hr_id)["id"], int(service.courses[course])
    listed = service.lu.enrollment(user_id, course_id)["due_date"]
    return None if listed is None else date.fromisoformat(listed[:10])


def hired(row: dict[str, Any]) -> date:
    return date.fromisoformat(row["hireDate"])


def document(service: LearnUponService, *, safety_days: int) -> dict[str, Any]:
    """The training rules with safety due `safety_days` after hire, and engineering's security course two weeks
    after hire, then every 12 months after each completion."""
    found = copy.deepcopy(spec(service.courses))
    found["rules"][0]["due"] = {"days_after_hire": safety_days}
    found["rules"][1]["due"] = {"days_after_hire": 14, "every_months": 12}
    return found


async def test_due_dates_reach_learnupon_move_with_the_rule_and_recur_after_completion(
    service: LearnUponService,
) -> None:
    await service.setup_pipeline(document(service, safety_days=30))

    first = await service.run()

    assert first["status"] == "succeeded", first
    people = active_people(service)
    engineers = sorted((h for h, r in people.items() if r["jobInformationDepartment"] == "Engineering"), key=int)
    assert engineers
    for hr_id, row in people.items():
        assert due_of(service, hr_id, "SAFETY-101") == hired(row) + timedelta(days=30), hr_id
        if hr_id in engineers:
            assert due_of(service, hr_id, "SEC-200") == hired(row) + timedelta(days=14), hr_id
        if row["jobInformationDepartment"] == "Sales":
            assert due_of(service, hr_id, "SALES-110") is None, "no rule sets a due date for sales training"
    writes = len(service.lu.writes)

    again = await service.run()

    assert again["status"] == "succeeded" and again["progress"]["ops_planned"] == 0
    assert len(service.lu.writes) == writes, "a re-sync with the same rules writes nothing"

    changed = await service.api.patch(
        f"/pipelines/{service.pipeline_id}", json={"spec": document(service, safety_days=45)}
    )
    assert changed.is_success, changed.text
    moved = await service.run()

    assert moved["status"] == "succeeded", moved
    kinds = [(op["kind"], op["hr_id"]) for op in await service.operations(moved["id"])]
    assert sorted(kinds) == sorted(("set_due_date", hr_id) for hr_id in people), "only the due dates move"
    for hr_id, row in people.items():
        assert due_of(service, hr_id, "SAFETY-101") == hired(row) + timedelta(days=45), hr_id
    patches = [r for r in service.lu.writes if r.method == "PATCH"]
    assert len(patches) == len(people), "one PATCH /enrollments/{id} per moved enrolment"

    learner = engineers[0]
    service.lu.learn(service.user(learner)["id"], int(service.courses["SEC-200"]), status="completed", at=COMPLETED)
    reads_completion = await service.run()  # a full run reads the completion back after applying
    next_cycle = await service.run()

    ops = [
        (op["kind"], op["hr_id"], op["op"]["course_id"])
        for run in (reads_completion, next_cycle)
        for op in await service.operations(run["id"])
    ]
    assert ops == [("set_due_date", learner, service.courses["SEC-200"])]
    assert due_of(service, learner, "SEC-200") == add_months(date(2026, 3, 14), 12)
    assert (await service.run())["progress"]["ops_planned"] == 0
