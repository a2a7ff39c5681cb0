"""A never-linked leaver is looked for on the target once a day, not on every full run (issue 19, `Link.sought_on`):
a company's years of leavers would otherwise cost a search each on every run. An account made by hand for one
after they left is found on the next full run of a later day, or of the same day once their HR record changes."""

from __future__ import annotations

from urllib.parse import parse_qs

from tests.support.systems import Systems as Scenario

LOOKUPS = {"core_user_get_users", "core_user_get_users_by_field"}


def lookups(scenario: Scenario) -> int:
    """How many account look-ups Moodle has answered so far."""
    sent = [parse_qs(r.content.decode()) for r in scenario.lms.requests]
    return sum(1 for fields in sent if set(fields.get("wsfunction", [])) & LOOKUPS)


async def _a_leaver_looked_for(scenario: Scenario) -> str:
    liam = scenario.hire("Liam", "Larsen", "Sales")
    scenario.hr.terminate(liam, scenario.hr.today)  # left before the pipeline's first run, never had an account
    await scenario.run()
    link = await scenario.link(liam)
    assert link.account_id is None and link.sought_on == scenario.hr.today
    return liam


async def test_a_leaver_not_found_is_not_looked_for_again_the_same_day(scenario: Scenario) -> None:
    liam = await _a_leaver_looked_for(scenario)
    scenario.lms.add_user("llarsen", "Liam", "Larsen", f"liam.larsen{liam}@acme.example")
    before = lookups(scenario)

    run = await scenario.run()

    assert lookups(scenario) == before, "no search for a leaver already looked for today"
    assert await scenario.planned(run.id) == []
    assert (await scenario.link(liam)).account_id is None


async def test_a_leaver_is_looked_for_again_on_a_later_day_and_a_hand_made_account_is_closed(
    scenario: Scenario,
) -> None:
    liam = await _a_leaver_looked_for(scenario)
    existing = scenario.lms.add_user("llarsen", "Liam", "Larsen", f"liam.larsen{liam}@acme.example")
    scenario.days(1)
    before = lookups(scenario)

    run = await scenario.run()

    assert lookups(scenario) > before
    assert await scenario.planned(run.id) == [("deactivate_user", liam, "")]
    assert (await scenario.link(liam)).account_id == str(existing)
    assert scenario.lms.state.users[existing].suspended


async def test_a_leaver_whose_record_changes_is_looked_for_again_the_same_day(scenario: Scenario) -> None:
    liam = await _a_leaver_looked_for(scenario)
    existing = scenario.lms.add_user("llarsen", "Liam", "Larsen", f"liam.larsen{liam}@acme.example")
    scenario.hr.update(liam, jobInformationJobTitle="Engineer")

    run = await scenario.run()

    assert await scenario.planned(run.id) == [("deactivate_user", liam, "")]
    assert (await scenario.link(liam)).account_id == str(existing)


async def test_an_incremental_run_never_looks_for_leavers(scenario: Scenario) -> None:
    liam = scenario.hire("Liam", "Larsen", "Sales")
    scenario.hr.terminate(liam, scenario.hr.today)
    await scenario.run(scope="incremental")  # the first run reads everyone, as a full one

    scenario.hr.update(liam, jobInformationJobTitle="Engineer")
    before = lookups(scenario)
    await scenario.run(scope="incremental")

    assert lookups(scenario) == before
