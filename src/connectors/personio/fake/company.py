"""The shared generated company (`connectors.testing.company`) as Personio holds it: a v2 person and one
employment each, with Personio's words for status (`ACTIVE`, `LEAVE`, `ONBOARDING`, `INACTIVE`)."""

from __future__ import annotations

from datetime import date
from typing import Any

from enrolsync.connectors.testing.company import Employee, generate_people

__all__ = ["COST_CENTRE_ATTRIBUTE", "USERNAME_ATTRIBUTE", "Record", "generate_company", "to_record"]

USERNAME_ATTRIBUTE = "dynamic_1001"
"""The custom attribute the fake company keeps sign-in names in (a real account has its own ids)."""
COST_CENTRE_ATTRIBUTE = "dynamic_1002"

Record = tuple[dict[str, Any], dict[str, Any]]
"""A person and their employment, as `GET /v2/persons` and `GET /v2/persons/{id}/employments` show them."""


def employment_status(person: Employee, today: date) -> str:
    if person.status == "terminated":
        return "INACTIVE"
    if person.status == "on_leave":
        return "LEAVE"
    return "ONBOARDING" if person.hire_date > today else "ACTIVE"


def to_record(person: Employee, today: date) -> Record:
    """One employee as a Personio person and employment (timestamps are set by the fake)."""
    status = employment_status(person, today)
    wire_person: dict[str, Any] = {
        "id": person.hr_id,
        "email": person.email,
        "first_name": person.first_name,
        "last_name": person.last_name,
        "preferred_name": person.first_name,
        "status": "INACTIVE" if status == "INACTIVE" else "ACTIVE",
        "custom_attributes": [
            {"id": USERNAME_ATTRIBUTE, "type": "STRING", "label": "Username", "value": person.username},
            {"id": COST_CENTRE_ATTRIBUTE, "type": "STRING", "label": "Cost centre", "value": person.cost_center},
        ],
        "employments": [{"id": f"emp-{person.hr_id}"}],
    }
    employment: dict[str, Any] = {
        "id": f"emp-{person.hr_id}",
        "person": {"id": person.hr_id},
        "status": status,
        "employment_start_date": person.hire_date.isoformat(),
        "position": {"title": person.job_title},
        "supervisor": {"id": person.manager_id} if person.manager_id else None,
        "termination": {"termination_date": person.termination_date.isoformat()} if person.termination_date else None,
        "type": "INTERNAL",
        "weekly_working_hours": 40 if person.employment == "full_time" else 20,
    }
    return wire_person, employment


def generate_company(n: int, seed: int = 0, *, today: date) -> list[Record]:
    """`n` employees (ids from 101) as Personio records, the same for the same `seed` and `today`."""
    return [to_record(person, today) for person in generate_people(n, seed, today=today)]
