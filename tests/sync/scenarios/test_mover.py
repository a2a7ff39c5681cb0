"""Movers: a department, title or manager change re-runs the rules; a course the person no longer qualifies for
is removed only if they have not started it, and a started or completed one is kept, always."""

from __future__ import annotations

from tests.support.database import Database
from tests.support.systems import Systems as Scenario
from tests.support.systems import make_scenario


async def test_a_move_updates_the_profile_and_swaps_unstarted_courses(scenario: Scenario) -> None:
    mover = scenario.hire("Noah", "Garcia", "Engineering")
    await scenario.run()
    scenario.hr.move(mover, department="Sales", job_title="Account Executive")

    run = await scenario.run(scope="incremental")

    assert await scenario.planned(run.id) == [
        ("enrol", mover, "SALES"),
        ("unenrol", mover, "SEC"),
        ("update_user", mover, "department,job_title"),
    ]
    assert scenario.courses_of(mover) == {"SAFETY", "SALES"}
    assert scenario.account(mover).department == "Sales"


async def test_a_started_course_is_kept_when_the_person_moves(scenario: Scenario) -> None:
    mover = scenario.hire("Noah", "Garcia", "Engineering")
    await scenario.run()
    scenario.open_course(mover, "SEC")
    scenario.hr.move(mover, department="Sales")

    run = await scenario.run(scope="incremental")

    assert await scenario.planned(run.id) == [("enrol", mover, "SALES"), ("update_user", mover, "department")]
    assert run.counters["kept_started"] == 1
    assert scenario.courses_of(mover) == {"SAFETY", "SEC", "SALES"}, "the started course and its progress stay"
    # The kept enrolment is no longer managed: later runs leave it alone without asking again.
    assert await scenario.planned((await scenario.run(scope="incremental")).id) == []
    assert await scenario.planned((await scenario.run()).id) == []


async def test_a_course_started_between_plan_and_apply_is_kept(scenario: Scenario) -> None:
    from enrolsync.sync.run import steps

    mover = scenario.hire("Noah", "Garcia", "Engineering")
    await scenario.run()
    scenario.hr.move(mover, department="Sales")
    run_id = await scenario.request(scope="incremental")
    assert await steps.begin(scenario.rt, run_id)
    await steps.plan(scenario.rt, run_id)
    assert ("unenrol", mover, "SEC") in await scenario.planned(run_id)

    scenario.open_course(mover, "SEC")  # the learner opens the course before the plan is applied
    assert await steps.guard(scenario.rt, run_id)
    await steps.apply(scenario.rt, run_id)

    assert {(op.kind, op.status) for op in await scenario.ops(run_id) if op.kind == "unenrol"} == {
        ("unenrol", "already")
    }
    assert "SEC" in scenario.courses_of(mover), "Moodle's connector refused to remove a started course"


async def test_under_the_never_policy_nothing_is_unenrolled(db: Database) -> None:
    scenario = await make_scenario(db, policies={"unenrol": "never"})
    mover = scenario.hire("Noah", "Garcia", "Engineering")
    await scenario.run()
    scenario.hr.move(mover, department="Sales")

    run = await scenario.run(scope="incremental")

    assert await scenario.planned(run.id) == [("enrol", mover, "SALES"), ("update_user", mover, "department")]
    assert scenario.courses_of(mover) == {"SAFETY", "SEC", "SALES"}
