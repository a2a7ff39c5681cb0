"""The one generated company every HR fake serves: deterministic, a real org chart, every kind of life event."""

from __future__ import annotations

from datetime import date

from enrolsync.connectors.testing.company import generate_people

TODAY = date(2025, 6, 2)


def test_the_same_seed_gives_the_same_company_and_another_seed_another() -> None:
    assert generate_people(120, seed=4, today=TODAY) == generate_people(120, seed=4, today=TODAY)
    assert generate_people(120, seed=4, today=TODAY) != generate_people(120, seed=5, today=TODAY)


def test_everyone_but_the_ceo_reports_to_someone_in_the_company_who_has_not_left() -> None:
    people = generate_people(400, seed=1, today=TODAY)
    by_id = {p.hr_id: p for p in people}
    assert len(by_id) == 400 and len({p.email for p in people}) == 400
    ceo = [p for p in people if p.manager_id is None]
    assert [p.job_title for p in ceo] == ["Chief Executive Officer"]
    for person in people:
        if person.manager_id is not None:
            assert by_id[person.manager_id].status != "terminated", "nobody reports to a leaver"


def test_leavers_people_on_leave_and_recent_hires_are_all_there() -> None:
    people = generate_people(200, seed=2, today=TODAY)
    leavers = [p for p in people if p.status == "terminated"]
    assert leavers and all(p.termination_date and p.hire_date < p.termination_date < TODAY for p in leavers)
    assert any(p.status == "on_leave" for p in people)
    assert any((TODAY - p.hire_date).days <= 30 for p in people)
    assert all(p.termination_date is None for p in people if p.status != "terminated")
