"""An incremental run reads only the links around its people (`run/org_scope.py`), and plans exactly what reading
the whole pipeline's links (`run/org.read_org`) would."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
import sqlalchemy as sa

from enrolsync.sync.run import org, planning
from enrolsync.sync.run.context import RunContext, Runtime, load_context
from enrolsync.sync.run.org_scope import read_scope_org
from enrolsync.sync.run.reading import ReadResult
from enrolsync.sync.store.tables import Link
from tests.support.systems import Systems as Scenario


@pytest.fixture
def loaded() -> Iterator[list[str]]:
    """The hr_id of every link row the ORM builds while the test runs."""
    rows: list[str] = []

    def note(target: Link, _context: object) -> None:
        rows.append(target.hr_id)

    def refresh(target: Link, context: object, _attrs: object) -> None:
        note(target, context)

    sa.event.listen(Link, "load", note)
    sa.event.listen(Link, "refresh", refresh)
    yield rows
    sa.event.remove(Link, "load", note)
    sa.event.remove(Link, "refresh", refresh)


@pytest.mark.parametrize("whole", [False, True], ids=["scoped", "whole-pipeline"])
async def test_a_mover_to_another_manager_replans_both_managers_reading_only_their_links(
    scenario: Scenario, loaded: list[str], monkeypatch: pytest.MonkeyPatch, whole: bool
) -> None:
    if whole:  # the reference: the org as a pass over every link finds it

        async def read_everything(rt: Runtime, ctx: RunContext, _read: ReadResult) -> org.Org:
            return await org.read_org(rt, ctx)

        monkeypatch.setattr(planning, "read_scope_org", read_everything)
    grace = scenario.hire("Grace", "Hughes", "Engineering")
    hugo = scenario.hire("Hugo", "Moreau", "Engineering")
    ava = scenario.hire("Ava", "Abbott", "Engineering", manager=grace)
    ben = scenario.hire("Ben", "Brennan", "Engineering", manager=grace)
    zoe = scenario.hire("Zoe", "Zimmer", "Sales")
    bystanders = {scenario.hire(f"Staff{i}", "Person", "Sales", manager=zoe) for i in range(8)} | {zoe}
    await scenario.run()
    scenario.hr.move(ben, manager=hugo)
    loaded.clear()

    moved = await scenario.run(scope="incremental")

    assert await scenario.planned(moved.id) == [
        ("assign_role", hugo, f"manager over {ben}"),
        ("enrol", hugo, "LEAD"),
        ("revoke_role", grace, f"manager over {ben}"),
    ]
    if whole:
        assert bystanders <= set(loaded), "the reference reads every link"
    else:
        assert set(loaded) <= {grace, hugo, ava, ben}, "only the mover, their managers and the managers' reports"
        assert set(loaded) >= {ava}, "Grace's remaining report is read: she stays a manager"


async def test_the_scoped_org_finds_the_due_people_and_the_guard_counts_a_whole_pass_finds(
    scenario: Scenario,
) -> None:
    today = scenario.hr.today
    grace = scenario.hire("Grace", "Hughes", "Engineering")
    ava = scenario.hire("Ava", "Abbott", "Engineering", manager=grace)
    gone = scenario.hire("Gus", "Gone", "Sales")
    scenario.hire("Fay", "Future", "Sales", hire_date=today + timedelta(days=3))  # due once within the lead time
    scenario.hire("Walt", "Waiting", "Sales", hire_date=today + timedelta(days=60))  # waits: not due
    for i in range(5):
        scenario.hire(f"Staff{i}", "Person", "Sales", manager=grace)
    await scenario.run()
    scenario.hr.terminate(gone, today)
    scenario.hr.terminate(ava, today + timedelta(days=2))  # a future leaver: due once the date passes
    await scenario.run()  # Gus is deactivated: one linked account fewer is active
    scenario.days(5)
    rt = scenario.rt
    ctx = await load_context(rt, await scenario.request(scope="incremental"))

    scoped = await read_scope_org(rt, ctx, ReadResult(full=False))
    whole = await org.read_org(rt, ctx)

    assert (scoped.linked_accounts, scoped.active_accounts) == (whole.linked_accounts, whole.active_accounts)
    assert whole.linked_accounts == whole.active_accounts + 1 > 1
    assert scoped.due == whole.due and {ava, grace} <= whole.due
    assert scoped.everyone == whole.due & whole.everyone
    assert scoped.reports(set()) == {m: r for m, r in whole.reports(set()).items() if m in scoped.everyone}
