"""People deleted in the HR system: a vanished person is a leaver until the HR system shows them again, on every
kind of run (incremental, webhook, full), so their account is suspended once and stays so (no flapping), and
their manager loses the role over them in the run that saw the deletion."""

from __future__ import annotations

from enrolsync.sync.store.tables import Run
from tests.support.systems import Systems as Scenario


async def _ops(scenario: Scenario, run: Run) -> list[tuple[str, str, str]]:
    return await scenario.planned(run.id)


async def test_a_deleted_report_is_suspended_once_and_leaves_the_managers_scope(scenario: Scenario) -> None:
    grace = scenario.hire("Grace", "Hughes", "Engineering")
    ava = scenario.hire("Ava", "Abbott", "Engineering", manager=grace)
    ben = scenario.hire("Ben", "Brennan", "Engineering", manager=grace)
    await scenario.run()
    scenario.hr.delete(ava)  # removed outright: BambooHR's change list reports it Deleted

    deleted = await scenario.run(scope="incremental")

    assert await _ops(scenario, deleted) == [
        ("deactivate_user", ava, ""),
        ("revoke_role", grace, f"manager over {ava}"),
    ]
    assert scenario.account(ava).suspended
    assert scenario.user_roles(grace) == {("parent", ben)}
    # Nothing changes in HR from here on: no kind of run brings the account back or suspends it again.
    for run in (
        await scenario.run(scope="incremental"),
        await scenario.run(scope="people", hr_ids=(grace,)),  # a webhook about someone else
        await scenario.run(scope="people", hr_ids=(ava,)),  # a webhook naming the deleted record
        await scenario.run(),
        await scenario.run(scope="incremental"),
    ):
        assert await _ops(scenario, run) == [], f"{run.scope} run planned something"
    assert scenario.account(ava).suspended
    assert (await scenario.link(ava)).gone_at is not None


async def test_a_deleted_manager_is_a_leaver_and_their_reports_stay_in_sync(scenario: Scenario) -> None:
    grace = scenario.hire("Grace", "Hughes", "Engineering")
    ava = scenario.hire("Ava", "Abbott", "Engineering", manager=grace)
    await scenario.run()
    scenario.hr.delete(grace)

    deleted = await scenario.run(scope="incremental")

    assert await _ops(scenario, deleted) == [("deactivate_user", grace, "")]
    assert scenario.account(grace).suspended and not scenario.account(ava).suspended
    assert await _ops(scenario, await scenario.run()) == []
    assert await _ops(scenario, await scenario.run(scope="incremental")) == []
