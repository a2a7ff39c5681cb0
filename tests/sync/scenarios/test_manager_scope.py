"""Manager scope: a manager holds Moodle's user-context role (the "parent" pattern) in exactly their direct
reports' user contexts; when a report moves to another manager, the scope moves with them."""

from __future__ import annotations

import pytest

from enrolsync.sync.jobs.run_requests import Scope
from tests.support.systems import Systems as Scenario


async def test_a_manager_gets_the_role_over_each_report_and_it_follows_a_move(scenario: Scenario) -> None:
    grace = scenario.hire("Grace", "Hughes", "Engineering")
    hugo = scenario.hire("Hugo", "Moreau", "Engineering")
    ava = scenario.hire("Ava", "Abbott", "Engineering", manager=grace)
    ben = scenario.hire("Ben", "Brennan", "Engineering", manager=grace)

    first = await scenario.run()

    assert [p for p in await scenario.planned(first.id) if p[0] == "assign_role"] == [
        ("assign_role", grace, f"manager over {ava}"),
        ("assign_role", grace, f"manager over {ben}"),
    ]
    assert scenario.user_roles(grace) == {("parent", ava), ("parent", ben)}
    assert scenario.user_roles(hugo) == set()
    assert "LEAD" in scenario.courses_of(grace) and "LEAD" not in scenario.courses_of(hugo)

    scenario.hr.move(ben, manager=hugo)
    moved = await scenario.run(scope="incremental")

    assert await scenario.planned(moved.id) == [
        ("assign_role", hugo, f"manager over {ben}"),
        ("enrol", hugo, "LEAD"),  # Hugo is a manager now
        ("revoke_role", grace, f"manager over {ben}"),
    ]
    assert scenario.user_roles(grace) == {("parent", ava)}
    assert scenario.user_roles(hugo) == {("parent", ben)}
    assert await scenario.planned((await scenario.run()).id) == [], "a full reconcile finds nothing to repair"


async def test_a_leaving_report_takes_the_scope_with_them(scenario: Scenario) -> None:
    grace = scenario.hire("Grace", "Hughes", "Engineering")
    ava = scenario.hire("Ava", "Abbott", "Engineering", manager=grace)
    await scenario.run()
    scenario.hr.terminate(ava, scenario.hr.today)

    run = await scenario.run(scope="incremental")

    assert await scenario.planned(run.id) == [
        ("deactivate_user", ava, ""),
        ("revoke_role", grace, f"manager over {ava}"),
        ("unenrol", grace, "LEAD"),  # no report left
    ]
    assert scenario.user_roles(grace) == set()


@pytest.mark.parametrize("scope", ["incremental", "full"])
async def test_a_manager_who_leaves_as_their_reports_move_loses_the_scope(scenario: Scenario, scope: Scope) -> None:
    grace = scenario.hire("Grace", "Hughes", "Engineering")
    hugo = scenario.hire("Hugo", "Moreau", "Engineering")
    ava = scenario.hire("Ava", "Abbott", "Engineering", manager=grace)
    ben = scenario.hire("Ben", "Brennan", "Engineering", manager=grace)
    await scenario.run()
    # One HR change: Grace is terminated and her reports get Hugo as their supervisor.
    scenario.hr.terminate(grace, scenario.hr.today)
    scenario.hr.move(ava, manager=hugo)
    scenario.hr.move(ben, manager=hugo)

    run = await scenario.run(scope=scope)

    assert await scenario.planned(run.id) == [
        ("assign_role", hugo, f"manager over {ava}"),
        ("assign_role", hugo, f"manager over {ben}"),
        ("deactivate_user", grace, ""),
        ("enrol", hugo, "LEAD"),
        ("revoke_role", grace, f"manager over {ava}"),
        ("revoke_role", grace, f"manager over {ben}"),
    ]
    assert scenario.user_roles(grace) == set(), "a suspended manager holds no role over anyone's reports"
    assert scenario.user_roles(hugo) == {("parent", ava), ("parent", ben)}
    assert scenario.account(grace).suspended and "LEAD" in scenario.courses_of(grace), "training records stay"
    assert await scenario.planned((await scenario.run()).id) == [], "a full reconcile finds nothing left"
