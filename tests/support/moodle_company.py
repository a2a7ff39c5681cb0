"""What the e2e tests expect of the BambooHR company on the Moodle site (`systems.COURSES`), computed from the HR
fake's rows independently of the engine."""

from __future__ import annotations

from typing import Any

from tests.support.service import Service


def active_people(service: Service) -> dict[str, dict[str, Any]]:
    rows = {hr_id: service.bamboohr.row(hr_id) for hr_id in service.bamboohr.hr_ids()}
    return {hr_id: row for hr_id, row in rows.items() if row["status"] == "Active"}


def expected_courses(service: Service, row: dict[str, Any], managers: set[str]) -> set[int]:
    c = service.courses
    wanted = {c["SAFETY-101"]}
    department = row["jobInformationDepartment"]
    if department == "Engineering":
        wanted.add(c["SEC-200"])
    if department == "Sales":
        wanted.add(c["SALES-110"])
    if str(row["eeid"]) in managers:
        wanted.add(c["LEAD-1"])
    return {int(x) for x in wanted}


def moodle_user(service: Service, row: dict[str, Any]) -> Any:
    return service.moodle.user(row["email"].lower())
