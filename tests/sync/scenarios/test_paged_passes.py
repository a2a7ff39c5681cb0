"""Passes over every link of a pipeline (the org before planning, the progress read after a full run) read the
links a page at a time (`org.link_pages`), and the drift snapshot keeps a compact record per account: with pages of
two links, a company of five is still seen whole by each pass, and drift on the last page is still repaired."""

from __future__ import annotations

from dataclasses import replace

from tests.support.systems import Systems as Scenario


def unenrol_by_hand(scenario: Scenario, hr_id: str, course: str) -> None:
    user_id, course_id = scenario.account(hr_id).id, int(scenario.courses[course])
    scenario.lms.state.enrolments.pop((user_id, course_id))
    scenario.lms.state.assignments = {
        a for a in scenario.lms.state.assignments if a[1:] != (user_id, "course", course_id)
    }


def company(scenario: Scenario) -> list[str]:
    """Five people over three pages of two: a manager and four reports, in two departments."""
    lead = scenario.hire("Lena", "Lund", "Engineering")
    people = [lead, scenario.hire("Ava", "Abbott", "Engineering", manager=lead)]
    people += [scenario.hire(f"P{i}", "Sales", "Sales", manager=lead) for i in range(3)]
    return people


async def test_each_pass_over_the_links_sees_every_page(scenario: Scenario) -> None:
    scenario.rt = replace(scenario.rt, chunk=2)
    lead, ava, *sales = company(scenario)

    first = await scenario.run()

    assert first.status == "succeeded"
    # The lead holds the manager role over each report, however far apart their pages: the org saw everyone.
    assert scenario.user_roles(lead) == {("parent", h) for h in (ava, *sales)}  # the manager role, in Moodle
    # Lena: SAFETY, SEC, LEAD; Ava: SAFETY, SEC; each of the three in Sales: SAFETY, SALES.
    assert first.counters["progress"]["seen"] == 3 + 2 + 3 * 2
    assert await scenario.planned((await scenario.run()).id) == [], "a no-op re-sync plans nothing"


async def test_drift_on_the_last_page_is_repaired(scenario: Scenario) -> None:
    scenario.rt = replace(scenario.rt, chunk=2)
    lead, _, *sales = company(scenario)
    await scenario.run()
    last = sales[-1]
    unenrol_by_hand(scenario, last, "SALES")
    scenario.account(lead).department = "Facilities"

    run = await scenario.run()

    assert await scenario.planned(run.id) == [("enrol", last, "SALES"), ("update_user", lead, "department")]
    assert run.counters["drift"] == {"enrol": 1, "update_user": 1}
    assert "SALES" in scenario.courses_of(last)
