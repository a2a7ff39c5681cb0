"""Deletion guard: a run that would deactivate more than the pipeline allows (10% of linked accounts or 25,
whichever is larger) stops as `blocked` and names the people; an HR answer that is empty or truncated never
switches everyone off."""

from __future__ import annotations

from tests.support.systems import Systems as Scenario

DEPARTMENTS = ("Engineering", "Sales", "Marketing")


async def staff(scenario: Scenario, n: int) -> list[str]:
    people = [scenario.hire(f"P{i}", "Staff", DEPARTMENTS[i % 3]) for i in range(n)]
    first = await scenario.run()
    assert first.status == "succeeded"
    return people


async def test_a_truncated_hr_answer_is_blocked_with_the_people_it_would_deactivate(scenario: Scenario) -> None:
    people = await staff(scenario, 30)
    scenario.hr.truncate = 3  # the API loses 27 of 30 people

    run = await scenario.run()

    assert run.status == "blocked"
    guard = run.counters["deactivating"]
    assert (guard["count"], guard["allowed"], guard["blocked"]) == (27, 25, True)
    assert guard["hr_ids"] == sorted(people[3:]) and "27" in guard["reason"]
    assert not any(u.suspended for u in scenario.lms.state.users.values()), "nothing was applied"


async def test_a_handful_of_leavers_is_within_the_default_threshold(scenario: Scenario) -> None:
    people = await staff(scenario, 30)
    for hr_id in people[:5]:
        scenario.hr.terminate(hr_id, scenario.hr.today)

    run = await scenario.run()

    assert run.status == "succeeded"
    assert run.counters["deactivating"]["hr_ids"] == sorted(people[:5])
    assert [scenario.account(h).suspended for h in people[:6]] == [True] * 5 + [False]


async def test_a_dry_run_reports_what_the_guard_would_do(scenario: Scenario) -> None:
    await staff(scenario, 30)
    scenario.hr.truncate = 0

    run = await scenario.run(mode="plan")

    assert run.status == "succeeded" and run.counters["deactivating"]["blocked"] is True


async def test_an_empty_hr_answer_never_deactivates_a_small_company(scenario: Scenario) -> None:
    await staff(scenario, 5)
    scenario.hr.truncate = 0

    run = await scenario.run()

    assert run.counters["deactivating"]["blocked"] is True
    assert "every active account" in run.counters["deactivating"]["reason"]
    assert run.status == "blocked"
    assert not any(u.suspended for u in scenario.lms.state.users.values())
