"""The fake company is a believable org chart, the same for the same seed, at any size."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from enrolsync.connectors.bamboohr.fake.company import generate_company

TODAY = date(2025, 6, 2)


@pytest.mark.parametrize("n", [1, 2, 9, 57, 1500])
def test_org_chart_is_a_tree_under_one_ceo(n: int) -> None:
    rows = generate_company(n, seed=3, today=TODAY)
    by_id = {row["eeid"]: row for row in rows}
    assert len(rows) == len(by_id) == n
    assert [row["eeid"] for row in rows if row["supervisorEid"] is None] == ["101"]
    for row in rows:
        seen, manager = set(), row["supervisorEid"]
        while manager is not None:
            assert manager not in seen, "reporting cycle"
            seen.add(manager)
            assert by_id[manager]["status"] == "Active", "someone reports to a leaver"
            manager = by_id[manager]["supervisorEid"]
    assert len({row["email"] for row in rows}) == n


def test_company_has_the_situations_a_sync_meets() -> None:
    rows = generate_company(300, seed=11, today=TODAY)
    managers = {row["supervisorEid"] for row in rows}
    leavers = [row for row in rows if row["status"] == "Inactive"]
    assert len({row["jobInformationDepartment"] for row in rows}) >= 8
    assert len({row["jobInformationLocation"] for row in rows}) >= 5
    assert len(managers - {None}) >= 20
    assert leavers and all(row["terminationDate"] and row["employmentStatus"] == "Terminated" for row in leavers)
    assert any(row["employmentStatus"] == "Leave of Absence" for row in rows)
    assert any(date.fromisoformat(str(row["hireDate"])) >= TODAY - timedelta(days=30) for row in rows)


def test_same_seed_same_company_other_seed_other_company() -> None:
    assert generate_company(80, seed=5) == generate_company(80, seed=5)
    assert generate_company(80, seed=5) != generate_company(80, seed=6)
