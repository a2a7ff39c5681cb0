"""Joiners: created with the mapped fields, SSO identity, manager scope and the rules' enrolments; a future hire
gets their account on the pipeline's lead time (7 days before the start date by default), not before."""

from __future__ import annotations

from tests.support.database import Database
from tests.support.systems import Systems as Scenario
from tests.support.systems import in_days, make_scenario


async def test_a_joiner_gets_the_mapped_account_sso_role_and_courses(scenario: Scenario) -> None:
    boss = scenario.hire("Grace", "Hughes", "Engineering")
    await scenario.run()
    joiner = scenario.hire("Ada", "Lovelace", "Engineering", manager=boss)

    run = await scenario.run(scope="incremental")

    assert run.status == "succeeded"
    assert await scenario.planned(run.id) == [
        ("assign_role", boss, f"manager over {joiner}"),
        ("create_user", joiner, ""),
        ("enrol", boss, "LEAD"),  # Grace now has a report
        ("enrol", joiner, "SAFETY"),
        ("enrol", joiner, "SEC"),
        ("set_sso_identity", joiner, ""),
    ]
    account = scenario.account(joiner)
    email = f"ada.lovelace{joiner}@acme.example"
    assert (account.username, account.email, account.firstname, account.lastname) == (email, email, "Ada", "Lovelace")
    assert (account.auth, account.department, account.city, account.suspended) == (
        "saml2",
        "Engineering",
        "London",
        False,
    )
    assert scenario.courses_of(joiner) == {"SAFETY", "SEC"}
    assert scenario.user_roles(boss) == {("parent", joiner)}
    assert (await scenario.link(joiner)).account_id == str(account.id)


async def test_a_future_hire_is_provisioned_on_the_lead_time_not_before(scenario: Scenario) -> None:
    await scenario.run()
    joiner = scenario.hire("Alan", "Turing", "Sales", hire_date=in_days(scenario, 20))

    early = await scenario.run(scope="incremental")

    assert await scenario.planned(early.id) == []
    assert early.counters["awaiting_start"] == 1
    assert scenario.lms.user(f"alan.turing{joiner}@acme.example") is None

    scenario.days(12)  # 8 days to go: still too early
    assert await scenario.planned((await scenario.run(scope="incremental")).id) == []

    scenario.days(1)  # 7 days before the start date; BambooHR reports no change, time alone makes them due
    due = await scenario.run(scope="incremental")

    assert await scenario.planned(due.id) == [
        ("create_user", joiner, ""),
        ("enrol", joiner, "SAFETY"),
        ("enrol", joiner, "SALES"),
        ("set_sso_identity", joiner, ""),
    ]
    assert scenario.courses_of(joiner) == {"SAFETY", "SALES"}, "pre-boarding courses are ready before day one"
    assert scenario.account(joiner).suspended is False

    scenario.days(7)
    scenario.hr.start(joiner)  # BambooHR flips them to Active on their first day: nothing left to do
    assert await scenario.planned((await scenario.run(scope="incremental")).id) == []


async def test_the_lead_time_is_a_pipeline_policy(db: Database) -> None:
    scenario = await make_scenario(db, policies={"provision_days_before_start": 0})
    joiner = scenario.hire("Alan", "Turing", "Sales", hire_date=in_days(scenario, 1))

    assert await scenario.planned((await scenario.run()).id) == []

    scenario.days(1)
    run = await scenario.run()

    assert ("create_user", joiner, "") in await scenario.planned(run.id)
