"""A small company and its pipeline document, shared by the pure engine tests."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

from enrolsync.connectors.model import Person
from enrolsync.sync.rules.policy import Policies
from enrolsync.sync.rules.spec import PipelineSpec, parse_spec

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
