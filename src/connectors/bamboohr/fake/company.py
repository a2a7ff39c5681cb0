"""The shared generated company (`connectors.testing.company`) as BambooHR holds it: rows of `employee` dataset
fields, with BambooHR's own words for status ("Active"/"Inactive") and employment status ("Full-Time",
"Leave of Absence", "Terminated", ...)."""

from __future__ import annotations

from datetime import date

from enrolsync.connectors.testing.company import DEPARTMENTS, FIRST_ID, TODAY, Employee, generate_people

__all__ = ["DEPARTMENTS", "FIELDS", "FIRST_ID", "OPTION_FIELDS", "Row", "generate_company", "to_row"]

Row = dict[str, str | None]

FIELDS = frozenset(
    {
        "eeid", "employeeNumber", "firstName", "lastName", "email", "status", "employmentStatus",
        "jobInformationDepartment", "jobInformationJobTitle", "jobInformationLocation", "supervisorEid",
        "hireDate", "terminationDate", "customUsername", "customCostCenter",
    }
)  # fmt: skip
"""The `employee` dataset fields this fake company has (a real account lists its own)."""
OPTION_FIELDS = frozenset(
    {"status", "employmentStatus", "jobInformationDepartment", "jobInformationJobTitle", "jobInformationLocation"}
)
"""List-type fields: the only ones where a multi-value `in` filter is accepted."""
_EMPLOYMENT = {"full_time": "Full-Time", "part_time": "Part-Time"}


def to_row(person: Employee) -> Row:
    """One employee as a BambooHR dataset row."""
    if person.status == "terminated":
        employment = "Terminated"
    elif person.status == "on_leave":
        employment = "Leave of Absence"
    else:
        employment = _EMPLOYMENT[person.employment]
    return {
        "eeid": person.hr_id,
        "employeeNumber": person.employee_number,
        "firstName": person.first_name,
        "lastName": person.last_name,
        "email": person.email,
        "status": "Inactive" if person.status == "terminated" else "Active",
        "employmentStatus": employment,
        "jobInformationDepartment": person.department,
        "jobInformationJobTitle": person.job_title,
        "jobInformationLocation": person.location,
        "supervisorEid": person.manager_id,
        "hireDate": person.hire_date.isoformat(),
        "terminationDate": person.termination_date.isoformat() if person.termination_date else None,
        "customUsername": person.username,
        "customCostCenter": person.cost_center,
    }


def generate_company(n: int, seed: int = 0, *, today: date = TODAY) -> list[Row]:
    """`n` employees (ids from 101) as BambooHR rows, the same for the same `seed` and `today`."""
    return [to_row(person) for person in generate_people(n, seed, today=today)]
