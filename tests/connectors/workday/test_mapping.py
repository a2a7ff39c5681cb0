"""Workday records as persons: a Get_Workers worker and a RaaS report row, status as Workday models it."""

from __future__ import annotations

from datetime import date

import pytest

from enrolsync.connectors.errors import Invalid
from enrolsync.connectors.model import PersonStatus
from enrolsync.connectors.workday import soap
from enrolsync.connectors.workday.config import ReportFields
from enrolsync.connectors.workday.mapping import column, decode_cursor, encode_cursor, row_to_person, worker_to_person
from enrolsync.connectors.workday.models import Checkpoint, WorkerRecord


def record(**fields: object) -> WorkerRecord:
    base: dict[str, object] = {
        "ids": {"WID": "a" * 32, "Employee_ID": "21001"}, "user_id": "lmoreau", "first_name": "Lena",
        "last_name": "Moreau", "email": "lena.moreau@acme.example", "active": "true", "terminated": "false",
        "hire_date": "2021-04-01", "job_title": "Paralegal", "location": "Berlin",
        "manager_ids": {"WID": "b" * 32, "Employee_ID": "20010"},
        "organizations": {"SUPERVISORY": "Legal", "COST_CENTER": "CC-008"},
    }  # fmt: skip
    return WorkerRecord(**{**base, **fields})  # type: ignore[arg-type]


def test_a_worker_is_a_person_by_employee_id() -> None:
    person = worker_to_person(record())
    assert person is not None
    assert (person.hr_id, person.username, person.department, person.manager_hr_id, person.custom) == (
        "21001", "lmoreau", "Legal", "20010", {"cost_centre": "CC-008"},
    )  # fmt: skip
    assert person.status is PersonStatus.ACTIVE and person.hire_date == date(2021, 4, 1)
    assert (person.given_name, person.family_name) == ("Lena", "Moreau")


def test_a_preferred_first_name_wins_over_the_legal_one() -> None:
    person = worker_to_person(record(preferred_first_name="Leni"))
    assert person is not None and (person.given_name, person.family_name) == ("Leni", "Moreau")


@pytest.mark.parametrize(
    ("fields", "status", "ended"),
    [
        ({"terminated": "true", "active": "false", "termination_date": "2025-03-31"}, "terminated", date(2025, 3, 31)),
        ({"active": "false"}, "terminated", None),
        ({"on_leave": True}, "leave", None),
        # A termination entered for next month: Workday shows no Termination_Date as of today, and if it did, an
        # active worker is not a leaver yet.
        ({"termination_date": "2025-07-31"}, "active", None),
    ],
)
def test_status_is_read_as_workday_models_it(fields: dict[str, object], status: str, ended: date | None) -> None:
    person = worker_to_person(record(**fields))
    assert person is not None and (person.status, person.termination_date) == (status, ended)


def test_a_contingent_worker_is_read_by_its_id_and_a_worker_without_id_is_skipped() -> None:
    contingent = worker_to_person(record(ids={"WID": "c" * 32, "Contingent_Worker_ID": "C-77"}))
    assert contingent is not None and contingent.hr_id == "C-77"
    assert worker_to_person(record(ids={"WID": "d" * 32})) is None


def test_report_rows_follow_the_configured_aliases() -> None:
    fields = ReportFields(first_name="Legal_Name_-_First_Name", manager_id="Managers_group/Employee_ID")
    row = {
        "Employee_ID": "21001", "Legal_Name_-_First_Name": "Lena", "Last_Name": "Moreau", "Active_Status": "0",
        "Terminated": "1", "Termination_Date": "2025-03-31", "Managers_group": [{"Employee_ID": "20010"}],
        "Region": "EMEA",
    }  # fmt: skip
    person = row_to_person(row, fields, {"region": "Region"})
    assert person is not None
    assert (person.given_name, person.manager_hr_id, person.status, person.termination_date, person.custom) == (
        "Lena", "20010", PersonStatus.TERMINATED, date(2025, 3, 31), {"region": "EMEA"},
    )  # fmt: skip


def test_columns_read_groups_and_ignore_empty_values() -> None:
    assert column({"G_group": {"F": "x"}}, "G_group/F") == "x"
    assert column({"G_group": [{"F": ""}, {"F": "y"}]}, "G_group/F") == "y"
    assert column({"A": "  "}, "A") is None
    assert column({"A": [1]}, "A") is None


def test_cursors_belong_to_one_api() -> None:
    cursor = encode_cursor(Checkpoint(api="soap", since="2025-06-02T12:00:00Z"))
    assert decode_cursor(cursor, "soap").since == "2025-06-02T12:00:00Z"
    with pytest.raises(Invalid, match="start with a full read"):
        decode_cursor(cursor, "raas")
    with pytest.raises(Invalid):
        decode_cursor('{"v": 1, "api": "soap"}', "soap")
    with pytest.raises(Invalid):
        decode_cursor("not json", "soap")


def test_answers_are_parsed_without_entities_or_dtds() -> None:
    """A remote answer cannot make the connector read a local file (XXE)."""
    hostile = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/hostname">]><x>&e;</x>'
    assert not (soap.parse_xml(hostile).text or "").strip()
