"""The fake company is a believable org chart, the same for the same seed, at any size; its dataset answers."""

from __future__ import annotations

import base64
from datetime import date, timedelta
from typing import Any

import httpx
import pytest

from enrolsync.connectors.bamboohr.fake.company import generate_company
from enrolsync.connectors.bamboohr.fake.server import BambooHRFake

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


def dataset(fake: BambooHRFake, where: str | None = None, *, page: int = 1, size: int = 100) -> dict[str, Any]:
    body: dict[str, Any] = {"fields": ["eeid", "jobInformationDepartment"], "page": page, "pageSize": size}
    if where is not None:
        body["filter"] = where
    auth = base64.b64encode(f"{fake.api_key}:x".encode()).decode()
    url = f"https://api.bamboohr.com/api/gateway.php/{fake.company_domain}/v2/datasets/employee/data"
    response = fake.handler(httpx.Request("POST", url, json=body, headers={"Authorization": f"Basic {auth}"}))
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def eeids(answer: dict[str, Any]) -> list[str]:
    return [row["fields"]["eeid"] for row in answer["data"]]


def test_people_named_by_id_are_found_by_the_number_as_any_filter_compares() -> None:
    fake = BambooHRFake.seeded(30, seed=2)
    fake.delete("110")
    answer = dataset(fake, "eeid eq 0120 or eeid eq 105 or eeid eq 110 or eeid eq 105 or eeid eq 9999")
    assert eeids(answer) == ["105", "120"], "in id order, once each, the deleted and unknown left out"
    fake.update("107", eeid="5000")  # a record renumbered by hand answers to its new number only
    assert eeids(dataset(fake, "eeid eq 5000 or eeid eq 107")) == ["5000"]


def test_a_change_between_pages_shows_on_the_next_page() -> None:
    """Pages of one read come from one sorted answer, but only while the company stays the same."""
    fake = BambooHRFake.seeded(30, seed=2)
    where = "jobInformationDepartment eq 'Engineering'"
    first = dataset(fake, where, size=2)
    moved = next(i for i in sorted(fake.hr_ids(), key=int) if fake.row(i)["jobInformationDepartment"] != "Engineering")
    fake.move(moved, department="Engineering")
    again = dataset(fake, where, size=2)
    assert again["meta"]["totalItems"] == first["meta"]["totalItems"] + 1
    assert moved in {
        e for page in range(1, again["meta"]["totalPages"] + 1) for e in eeids(dataset(fake, where, page=page, size=2))
    }
