"""Leavers: on termination (or when the termination date is reached) the account is suspended, never deleted, and
its training records stay; people on leave stay active or are suspended by policy; a rehire reactivates the same
account through the same link."""

from __future__ import annotations

from tests.support.database import Database
from tests.support.systems import Systems as Scenario
from tests.support.systems import in_days, make_scenario


async def test_a_leaver_is_suspended_and_keeps_their_training(scenario: Scenario) -> None:
    leaver = scenario.hire("Liam", "Larsen", "Engineering")
    await scenario.run()
    account_id = scenario.account(leaver).id
    scenario.hr.terminate(leaver, scenario.hr.today)

    run = await scenario.run(scope="incremental")

    assert await scenario.planned(run.id) == [("deactivate_user", leaver, "")]
    account = scenario.account(leaver)
    assert account.id == account_id and account.suspended and not account.deleted
    assert scenario.courses_of(leaver) == {"SAFETY", "SEC"}, "training records stay"
    assert await scenario.planned((await scenario.run()).id) == []


async def test_a_future_termination_takes_effect_on_its_date(scenario: Scenario) -> None:
    leaver = scenario.hire("Liam", "Larsen", "Engineering")
    await scenario.run()
    scenario.hr.terminate(leaver, in_days(scenario, 3))  # BambooHR keeps them Active until then

    assert await scenario.planned((await scenario.run(scope="incremental")).id) == []

    scenario.days(3)  # no HR change: the date alone makes them a leaver
    run = await scenario.run(scope="incremental")

    assert await scenario.planned(run.id) == [("deactivate_user", leaver, "")]
    assert scenario.account(leaver).suspended


async def test_a_rehire_reactivates_the_same_account_and_link(scenario: Scenario) -> None:
    person = scenario.hire("Rosa", "Rossi", "Sales")
    await scenario.run()
    account_id = scenario.account(person).id
    scenario.hr.terminate(person, scenario.hr.today)
    await scenario.run(scope="incremental")
    scenario.days(90)
    scenario.hr.rehire(person, scenario.hr.today)

    run = await scenario.run(scope="incremental")

    assert await scenario.planned(run.id) == [("reactivate_user", person, "")]
    ops = await scenario.ops(run.id)
    assert [op.op["account_id"] for op in ops] == [str(account_id)]
    assert scenario.account(person).id == account_id and not scenario.account(person).suspended
    assert (await scenario.link(person)).account_id == str(account_id)


async def test_a_future_rehire_is_reactivated_on_the_lead_time(scenario: Scenario) -> None:
    person = scenario.hire("Rosa", "Rossi", "Sales")
    await scenario.run()
    scenario.hr.terminate(person, scenario.hr.today)
    await scenario.run(scope="incremental")
    scenario.days(30)
    scenario.hr.rehire(person, in_days(scenario, 30))  # BambooHR shows them Inactive until they start

    early = await scenario.run(scope="incremental")

    assert await scenario.planned(early.id) == [] and early.counters["awaiting_start"] == 1
    assert scenario.account(person).suspended

    scenario.days(23)
    due = await scenario.run(scope="incremental")

    assert await scenario.planned(due.id) == [("reactivate_user", person, "")]
    assert not scenario.account(person).suspended


async def test_leave_keeps_the_account_active_by_default(scenario: Scenario) -> None:
    person = scenario.hire("Olivia", "Okafor", "Sales")
    await scenario.run()
    scenario.hr.update(person, employmentStatus="Leave of Absence")

    run = await scenario.run(scope="incremental")

    assert await scenario.planned(run.id) == []
    assert not scenario.account(person).suspended


async def test_leave_suspends_under_the_suspend_policy_and_return_reactivates(db: Database) -> None:
    scenario = await make_scenario(db, policies={"on_leave": "suspend"})
    person = scenario.hire("Olivia", "Okafor", "Sales")
    await scenario.run()
    scenario.hr.update(person, employmentStatus="Leave of Absence")

    away = await scenario.run(scope="incremental")

    assert await scenario.planned(away.id) == [("deactivate_user", person, "")]
    assert scenario.account(person).suspended and scenario.courses_of(person) == {"SAFETY", "SALES"}

    scenario.hr.update(person, employmentStatus="Full-Time")
    back = await scenario.run(scope="incremental")

    assert await scenario.planned(back.id) == [("reactivate_user", person, "")]
    assert not scenario.account(person).suspended


async def test_between_two_employments_the_account_stays_suspended_even_if_reactivated_by_hand(
    scenario: Scenario,
) -> None:
    person = scenario.hire("Rosa", "Rossi", "Sales")
    await scenario.run()
    scenario.hr.terminate(person, scenario.hr.today)
    scenario.days(1)
    scenario.hr.rehire(person, in_days(scenario, 30))  # left and rehired between two syncs

    gap = await scenario.run(scope="incremental")

    assert await scenario.planned(gap.id) == [("deactivate_user", person, "")]
    scenario.account(person).suspended = False  # someone lets them back in early

    reconcile = await scenario.run()

    assert await scenario.planned(reconcile.id) == [("deactivate_user", person, "")]
    assert reconcile.counters["drift"] == {"deactivate_user": 1}
    assert scenario.account(person).suspended


async def test_a_same_day_rehire_is_reactivated(scenario: Scenario) -> None:
    person = scenario.hire("Rosa", "Rossi", "Sales")
    await scenario.run()
    scenario.hr.terminate(person, scenario.hr.today)
    await scenario.run(scope="incremental")
    assert scenario.account(person).suspended
    # Hired again on the day they left: the new hire date equals the old termination date, and HR shows Active.
    scenario.hr.rehire(person, scenario.hr.today)

    run = await scenario.run(scope="incremental")

    assert await scenario.planned(run.id) == [("reactivate_user", person, "")]
    assert not scenario.account(person).suspended
    scenario.days(1)  # the next day nothing has changed: the employment that started on that date goes on
    assert await scenario.planned((await scenario.run()).id) == []
    assert not scenario.account(person).suspended
