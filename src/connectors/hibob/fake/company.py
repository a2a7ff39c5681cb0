"""The shared generated company (`connectors.testing.company`) as Bob holds it: employees as JSON objects keyed
by field path (`root.*` at the top level, `work.*` under `work`, ...), list fields as list item ids in machine
format with their labels in the `humanReadable` node, and Bob's lifecycle statuses (Hired, Employed, Leave,
Terminated) beside the access status (Active/Inactive)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date
from typing import Any

from enrolsync.connectors.testing.company import DEPARTMENTS, EXECUTIVE, Employee

__all__ = ["CATEGORIES", "FIELDS", "FieldDef", "list_item_id", "render"]

CATEGORIES = {"root": "Basic info", "work": "Work", "internal": "Lifecycle"}
"""Category ids and display names of the fields below. Bob's own display names are not in its public document
[U]; the connector only repeats what `GET /company/people/fields` says."""


@dataclass(frozen=True)
class FieldDef:
    path: str
    name: str
    kind: str  # text | list | date | number | employee-reference

    @property
    def category(self) -> str:
        return self.path.split(".", 1)[0]


FIELDS = {
    f.path: f
    for f in (
        FieldDef("root.id", "ID", "text"),
        FieldDef("root.firstName", "First name", "text"),
        FieldDef("root.surname", "Last name", "text"),
        FieldDef("root.email", "Email", "text"),
        FieldDef("root.displayName", "Display name", "text"),
        FieldDef("work.department", "Department", "list"),
        FieldDef("work.title", "Job title", "list"),
        FieldDef("work.site", "Site", "text"),
        FieldDef("work.reportsTo", "Reports to", "employee-reference"),
        FieldDef("work.startDate", "Start date", "date"),
        FieldDef("work.employeeIdInCompany", "Employee ID", "number"),
        FieldDef("work.custom.field_1711886937296", "Cost center", "text"),
        FieldDef("internal.status", "Status", "text"),
        FieldDef("internal.lifecycleStatus", "Lifecycle status", "list"),
        FieldDef("internal.terminationDate", "Termination date", "date"),
    )
}
"""The fields this fake company has (a real account lists hundreds, custom ones included)."""

_TITLES = sorted(
    {t for d in DEPARTMENTS for t in (d.head_title, d.manager_title, *d.titles)} | {"Chief Executive Officer"}
)
_LISTS: dict[str, tuple[str, ...]] = {
    "work.department": (EXECUTIVE, *(d.name for d in DEPARTMENTS)),
    "work.title": tuple(_TITLES),
    "internal.lifecycleStatus": ("hired", "employed", "leave", "terminated"),
}
_LIFECYCLE_LABELS = {"hired": "Hired", "employed": "Employed", "leave": "Leave", "terminated": "Terminated"}


def list_item_id(path: str, value: str) -> str:
    """The machine value of a list field: the list item's id. A value not in the seeded lists gets an id derived
    from its text, so every fake gives the same value the same id without shared mutable state."""
    items = _LISTS[path]
    if value in items:
        return str(1_000_000 + 1000 * sorted(_LISTS).index(path) + items.index(value))
    return str(2_000_000 + int(hashlib.sha256(f"{path}:{value}".encode()).hexdigest()[:8], 16) % 1_000_000)


def lifecycle(person: Employee, today: date) -> str:
    if person.status == "terminated" and person.termination_date is not None and person.termination_date <= today:
        return "terminated"
    if person.hire_date > today:
        return "hired"
    return "leave" if person.status == "on_leave" else "employed"


def _display(day: date | None) -> str | None:
    return day.strftime("%d/%m/%Y") if day else None


def render(person: Employee, people: dict[str, Employee], today: date) -> tuple[dict[str, Any], dict[str, Any]]:
    """One employee in machine format, and the same paths as display values (the `humanReadable` node)."""
    stage = lifecycle(person, today)
    access = "Active" if stage in ("employed", "leave") else "Inactive"
    manager = people.get(person.manager_id or "")
    reports_to = (
        {
            "id": manager.hr_id,
            "displayName": f"{manager.first_name} {manager.last_name}",
            "email": manager.email,
            "firstName": manager.first_name,
            "surname": manager.last_name,
        }
        if manager
        else None
    )
    names = {"firstName": person.first_name, "surname": person.last_name, "email": person.email}
    machine: dict[str, Any] = {
        "id": person.hr_id,
        **names,
        "displayName": f"{person.first_name} {person.last_name}",
        "work": {
            "department": list_item_id("work.department", person.department),
            "title": list_item_id("work.title", person.job_title),
            "site": person.location,
            "reportsTo": reports_to,
            "startDate": person.hire_date.isoformat(),
            "employeeIdInCompany": int(person.employee_number.lstrip("E")),
            "custom": {"field_1711886937296": person.cost_center},
        },
        "internal": {
            "status": access,
            "lifecycleStatus": stage,
            "terminationDate": person.termination_date.isoformat() if person.termination_date else None,
        },
    }
    readable = {
        "id": person.hr_id,
        **names,
        "displayName": machine["displayName"],
        "work": {
            "department": person.department,
            "title": person.job_title,
            "site": person.location,
            "reportsTo": reports_to["displayName"] if reports_to else None,
            "startDate": _display(person.hire_date),
            "employeeIdInCompany": str(machine["work"]["employeeIdInCompany"]),
            "custom": {"field_1711886937296": person.cost_center},
        },
        "internal": {
            "status": access,
            "lifecycleStatus": _LIFECYCLE_LABELS[stage],
            "terminationDate": _display(person.termination_date),
        },
    }
    return machine, readable
