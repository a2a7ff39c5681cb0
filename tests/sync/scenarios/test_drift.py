"""Drift: a full reconcile reads what Moodle actually holds for the linked accounts and repairs what someone changed
there by hand (a removed enrolment, a re-activated leaver, an edited profile, a switched sign-in), marking each
repair as drift in its op and counting it on the run. Incremental runs trust the links."""

from __future__ import annotations

from tests.support.database import Database
from tests.support.systems import Systems as Scenario
from tests.support.systems import make_scenario


def unenrol_by_hand(scenario: Scenario, hr_id: str, course: str) -> None:
    user_id, course_id = scenario.account(hr_id).id, int(scenario.courses[course])
    scenario.lms.state.enrolments.pop((user_id, course_id))
    scenario.lms.state.assignments = {
        a for a in scenario.lms.state.assignments if a[1:] != (user_id, "course", course_id)
    }


async def test_hand_made_changes_are_repaired_and_reported_as_drift(scenario: Scenario) -> None:
    ava = scenario.hire("Ava", "Abbott", "Engineering")
    ben = scenario.hire("Ben", "Brennan", "Sales")
    liam = scenario.hire("Liam", "Larsen", "Sales")
    await scenario.run()
    scenario.hr.terminate(liam, scenario.hr.today)
    await scenario.run(scope="incremental")
    # Someone edits Moodle by hand.
    unenrol_by_hand(scenario, ava, "SEC")
    scenario.account(liam).suspended = False
    scenario.account(ben).department = "Facilities"
    scenario.account(ben).auth = "manual"

    incremental = await scenario.run(scope="incremental")
    assert await scenario.planned(incremental.id) == [], "an incremental run trusts the links"

    run = await scenario.run()

    assert run.status == "succeeded"
    assert await scenario.planned(run.id) == [
        ("deactivate_user", liam, ""),
        ("enrol", ava, "SEC"),
        ("set_sso_identity", ben, ""),
        ("update_user", ben, "auth,department"),
    ]
    assert all(op.op["drift"] for op in await scenario.ops(run.id))
    assert run.counters["drift"] == {"deactivate_user": 1, "enrol": 1, "set_sso_identity": 1, "update_user": 1}
    assert "SEC" in scenario.courses_of(ava)
    assert scenario.account(liam).suspended
    assert (scenario.account(ben).department, scenario.account(ben).auth) == ("Sales", "saml2")
    assert await scenario.planned((await scenario.run()).id) == [], "repaired: the next reconcile finds nothing"


async def test_changes_outside_what_the_pipeline_manages_are_left_alone(scenario: Scenario) -> None:
    ava = scenario.hire("Ava", "Abbott", "Engineering")
    await scenario.run()
    scenario.lms.enrol(scenario.account(ava).id, int(scenario.courses["LEAD"]))  # a course no rule gives her
    scenario.account(ava).lang = "de"

    run = await scenario.run()

    assert await scenario.planned(run.id) == [] and run.counters["drift"] == {}
    assert "LEAD" in scenario.courses_of(ava)


async def test_an_account_deleted_by_hand_is_provisioned_again(scenario: Scenario) -> None:
    ava = scenario.hire("Ava", "Abbott", "Engineering")
    await scenario.run()
    old = scenario.account(ava)
    scenario.lms.delete(old.id)  # renamed, still found by id: what delete_user() leaves

    run = await scenario.run()

    assert run.counters["drift"] == {"account_missing": 1}
    assert await scenario.planned(run.id) == [
        ("create_user", ava, ""),
        ("enrol", ava, "SAFETY"),
        ("enrol", ava, "SEC"),
        ("set_sso_identity", ava, ""),
    ]
    assert scenario.account(ava).id != old.id
    assert (await scenario.link(ava)).account_id == str(scenario.account(ava).id)


async def test_under_the_report_policy_drift_is_counted_not_repaired(db: Database) -> None:
    scenario = await make_scenario(db, policies={"drift": "report"})
    ava = scenario.hire("Ava", "Abbott", "Engineering")
    await scenario.run()
    unenrol_by_hand(scenario, ava, "SEC")

    run = await scenario.run()

    assert await scenario.planned(run.id) == []
    assert run.counters["drift"] == {"enrol": 1}
    assert "SEC" not in scenario.courses_of(ava)


async def test_a_managers_role_over_an_account_recreated_by_repair_is_granted_again(scenario: Scenario) -> None:
    grace = scenario.hire("Grace", "Hughes", "Engineering")
    ava = scenario.hire("Ava", "Abbott", "Engineering", manager=grace)
    await scenario.run()
    old = scenario.account(ava)
    scenario.lms.delete(old.id)
    # Deleting a user deletes their context, and every role assignment held in it.
    scenario.lms.state.assignments = {a for a in scenario.lms.state.assignments if a[2:] != ("user", old.id)}
    assert scenario.user_roles(grace) == set()

    run = await scenario.run()

    planned = await scenario.planned(run.id)
    assert ("create_user", ava, "") in planned and ("assign_role", grace, f"manager over {ava}") in planned
    regrant = [op for op in await scenario.ops(run.id) if op.kind == "assign_role"]
    assert [op.op["drift"] for op in regrant] == [True]
    assert run.counters["drift"] == {"account_missing": 1, "assign_role": 1}
    assert scenario.user_roles(grace) == {("parent", ava)}, "held over the new account"
    assert await scenario.planned((await scenario.run()).id) == [], "repaired: the next reconcile finds nothing"
