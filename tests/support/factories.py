"""People and pipeline documents the tests are written against, and putting people into a memory HR system.

Three small companies, each with the defaults its tests were written against (a test relies on them, so they
differ on purpose and are built on one `person`):
- the pure engine tests' `person`: Jane Doe in Marketing, hired long ago, and the `DOCUMENT` their rules come from;
- the API's and reliability suite's `employee`: Given<id> Example in Engineering, and `team`, a manager's team;
- the run engine tests' `staff`: Given Family<id> in Engineering, reporting to person 1.
The rules of a pipeline between two memory systems are `RULES`; between the BambooHR and Moodle fakes they are
`training_spec` (see `tests/support/systems.py`).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

from enrolsync.connectors.memory.state import Dataset
from enrolsync.connectors.model import Person, PersonStatus
from enrolsync.sync.rules.policy import Policies
from enrolsync.sync.rules.spec import PipelineSpec, parse_spec

# --- the pure engine tests: evaluate, explain, diff, rules ------------------------------------------------------

TODAY = date(2025, 3, 1)

DOCUMENT: dict[str, Any] = {
    "rules": [
        {"name": "everyone", "when": {"attr": "hr_id", "op": "exists"}, "enrol": ["SAFETY-101"]},
        {
            "name": "sales onboarding",
            "when": {
                "all": [
                    {"attr": "department", "op": "equals", "value": "Sales"},
                    {"op": "hired_within_days", "days": 30},
                ]
            },
            "enrol": ["SALES-1"],
        },
        {"name": "sales", "when": {"attr": "department", "op": "equals", "value": "Sales"}, "groups": ["sales"]},
        {
            "name": "engineering",
            "when": {"attr": "department", "op": "in", "value": ["Engineering", "R&D"]},
            "enrol": ["SEC-200"],
            "groups": ["eng"],
        },
        {"name": "leads", "when": {"op": "is_manager"}, "enrol": ["LEAD-1"]},
        {"name": "uk", "when": {"attr": "custom.country", "op": "prefix", "value": "GB"}, "enrol": ["UK-LAW"]},
        {
            "name": "lms admins",
            "when": {"attr": "job_title", "op": "equals", "value": "LMS Administrator"},
            "roles": ["admin"],
        },
        {
            "name": "staff benefits",
            "when": {"not": {"attr": "custom.contract", "op": "equals", "value": "contractor"}},
            "enrol": ["BENEFITS"],
        },
    ],
    "mapping": {"username": "work_email", "sso": {"auth": "saml2", "subject": "work_email"}},
    "policies": {"base_role": "learner"},
}

SPEC = parse_spec(DOCUMENT)


def spec_with(**policies: Any) -> PipelineSpec:
    """SPEC with some policies changed."""
    return SPEC.model_copy(update={"policies": Policies.model_validate({**SPEC.policies.model_dump(), **policies})})


def person(hr_id: str = "e1", **fields: Any) -> Person:
    """An active employee hired long ago; `fields` override anything."""
    base: dict[str, Any] = {
        "hr_id": hr_id,
        "given_name": "Jane",
        "family_name": "Doe",
        "work_email": f"{hr_id}@example.com",
        "department": "Marketing",
        "hire_date": date(2020, 1, 6),
    }
    return Person.model_validate({**base, **fields})


def reports_of(manager_hr_id: str, people: Iterable[Person]) -> frozenset[str]:
    """The direct reports of a manager, as the runner computes them from one read of the source."""
    return frozenset(p.hr_id for p in people if p.manager_hr_id == manager_hr_id)


# --- a pipeline between two memory systems: the run engine, API and reliability tests ---------------------------

RULES: dict[str, Any] = {
    "rules": [
        {"name": "everyone", "when": {"attr": "department", "op": "exists"}, "enrol": ["C1"]},
        {
            "name": "engineering",
            "when": {"attr": "department", "op": "equals", "value": "Engineering"},
            "enrol": ["C2"],
        },
        {"name": "leads", "when": {"op": "is_manager"}, "enrol": ["C3"]},
    ],
    "mapping": {"username": "work_email"},
}

# One rule, for the API tests that create pipelines and need only a valid document.
RULE: dict[str, Any] = {
    "name": "sales onboarding",
    "when": {"attr": "department", "op": "equals", "value": "Sales"},
    "enrol": ["C1"],
}


def employee(
    hr_id: str, department: str = "Engineering", manager: str | None = None, status: PersonStatus = PersonStatus.ACTIVE
) -> Person:
    """An employee with no hire date, named after their HR id (the API and reliability tests)."""
    return person(
        hr_id,
        given_name=f"Given{hr_id}",
        family_name="Example",
        work_email=f"{hr_id.lower()}@example.com",
        department=department,
        manager_hr_id=manager,
        status=status,
        hire_date=None,
    )


def staff(hr_id: str, department: str = "Engineering", manager: str | None = "1", **extra: Any) -> Person:
    """A member of the run engine tests' staff: everyone reports to person 1 unless told otherwise."""
    return person(
        hr_id,
        given_name="Given",
        family_name=f"Family{hr_id}",
        work_email=f"person{hr_id}@example.com",
        department=department,
        manager_hr_id=manager,
        hire_date=date(2020, 1, 1),
        **extra,
    )


def seed(data: Dataset, *people: Person) -> None:
    """Put people into a memory HR system (replacing anyone with the same HR id)."""
    for one in people:
        data.hris.put(one)


def team(data: Dataset) -> None:
    """M leads A (Engineering) and B (Sales); A leads C; T, once M's report, has left."""
    seed(
        data,
        employee("M"),
        employee("A", manager="M"),
        employee("B", department="Sales", manager="M"),
        employee("C", manager="A"),
        employee("T", manager="M", status=PersonStatus.TERMINATED),
    )
