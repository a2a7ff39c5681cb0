"""Wire -> domain: dataset rows to people, webhook payloads to events, cursors."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest

from enrolsync.connectors.bamboohr.config import BambooHRFieldNames
from enrolsync.connectors.bamboohr.mapping import (
    decode_cursor,
    encode_cursor,
    events_from_body,
    parse_date,
    person_status,
    to_person,
)
from enrolsync.connectors.bamboohr.models import Checkpoint, DatasetPage
from enrolsync.connectors.errors import Invalid
from enrolsync.connectors.model import HrEventKind, Person, PersonStatus
from tests.support.connectors import FIELDS, PAYLOADS, payload

TODAY = date(2025, 6, 2)
LEAVE = ("Leave of Absence", "On Leave")


def people_from_sample() -> dict[str, Person | None]:
    page = DatasetPage.model_validate(payload("dataset_employee_page.json"))
    return {
        str(row.fields["eeid"]): to_person(row.fields, FIELDS, leave_statuses=LEAVE, today=TODAY) for row in page.data
    }


def test_full_row_maps_every_canonical_field() -> None:
    sam = people_from_sample()["124"]
    assert sam == Person(
        hr_id="124",
        given_name="Sam",
        family_name="Park",
        work_email="sam.park@acme.example",
        username="sam.park",
        status=PersonStatus.LEAVE,
        department="Engineering",
        job_title="Software Engineer",
        location="Berlin",
        manager_hr_id="101",
        hire_date=date(2022, 9, 12),
        termination_date=None,
        employee_number="E00124",
        custom={"cost_centre": "CC-001"},
    )


def test_leaver_is_terminated_with_their_date() -> None:
    marco = people_from_sample()["207"]
    assert marco is not None
    assert (marco.status, marco.termination_date, marco.manager_hr_id) == (
        PersonStatus.TERMINATED,
        date(2025, 4, 30),
        "124",
    )


def test_missing_fields_and_unset_dates_read_as_absent() -> None:
    people = people_from_sample()
    ceo, lena = people["101"], people["311"]
    assert ceo is not None and lena is not None
    assert ceo.termination_date is None  # "0000-00-00"
    assert ceo.manager_hr_id is None
    assert (lena.work_email, lena.department, lena.employee_number, lena.custom) == (None, None, None, {})


def test_null_and_blank_values_read_as_absent() -> None:
    row: dict[str, str | None] = {"eeid": "5", "firstName": None, "lastName": "  ", "email": None, "hireDate": ""}
    person = to_person(row, FIELDS, leave_statuses=LEAVE, today=TODAY)
    assert person == Person(hr_id="5")


def test_row_without_employee_id_is_not_a_person() -> None:
    assert to_person({"eeid": None, "firstName": "Ghost"}, FIELDS, leave_statuses=LEAVE, today=TODAY) is None


@pytest.mark.parametrize("manager", ["0", "9", ""])
def test_no_supervisor_spellings(manager: str) -> None:
    person = to_person({"eeid": "9", "supervisorEid": manager}, FIELDS, leave_statuses=LEAVE, today=TODAY)
    assert person is not None and person.manager_hr_id is None


def test_field_names_are_configurable() -> None:
    names = BambooHRFieldNames(hr_id="employeeId", work_email="workEmail", username="upn", manager_hr_id="reportsTo")
    row = {"employeeId": "77", "workEmail": "x@acme.example", "upn": "x@corp.example", "reportsTo": "76"}
    person = to_person(row, names, leave_statuses=LEAVE, today=TODAY)
    assert person is not None
    assert (person.hr_id, person.work_email, person.username, person.manager_hr_id) == (
        "77",
        "x@acme.example",
        "x@corp.example",
        "76",
    )
    assert names.requested()[0] == "employeeId" and len(names.requested()) == len(set(names.requested()))


@pytest.mark.parametrize(
    ("status", "employment", "terminated", "hired", "expected"),
    [
        ("Active", "Full-Time", None, "2020-01-01", PersonStatus.ACTIVE),
        ("Active", "Leave of Absence", None, "2020-01-01", PersonStatus.LEAVE),
        ("Active", "on leave", None, "2020-01-01", PersonStatus.LEAVE),  # case-insensitive
        ("Active", "Terminated", "2025-12-31", "2020-01-01", PersonStatus.ACTIVE),  # future leaver still works
        ("Inactive", "Terminated", "2025-04-30", "2020-01-01", PersonStatus.TERMINATED),
        ("Inactive", "Full-Time", None, "2025-07-01", PersonStatus.ACTIVE),  # future hire: a joiner, not a leaver
        ("Inactive", "Full-Time", "2024-03-31", "2025-07-01", PersonStatus.ACTIVE),  # future rehire
        ("Inactive", "Terminated", "2025-07-15", "2025-07-01", PersonStatus.TERMINATED),  # offer withdrawn
        ("Inactive", "Full-Time", None, None, PersonStatus.TERMINATED),  # no dates: Inactive means gone
        (None, "Full-Time", "2025-04-30", "2020-01-01", PersonStatus.TERMINATED),  # no status: dates decide
        (None, "Full-Time", "2024-01-31", "2024-06-01", PersonStatus.ACTIVE),  # rehired after leaving
        (None, "Full-Time", "2025-12-31", "2020-01-01", PersonStatus.ACTIVE),
    ],
)
def test_status(
    status: str | None, employment: str, terminated: str | None, hired: str, expected: PersonStatus
) -> None:
    row = {"status": status, "employmentStatus": employment, "terminationDate": terminated, "hireDate": hired}
    assert person_status(row, FIELDS, leave_statuses=LEAVE, today=TODAY) is expected


@pytest.mark.parametrize(("text", "expected"), [("2025-04-30", date(2025, 4, 30)), ("0000-00-00", None), ("", None)])
def test_dates(text: str, expected: date | None) -> None:
    assert parse_date(text) == expected


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("webhook_employee_created.json", HrEventKind.CREATED),
        ("webhook_employee_updated.json", HrEventKind.UPDATED),
        ("webhook_employee_deleted.json", HrEventKind.DELETED),
    ],
)
def test_event_payloads(name: str, kind: HrEventKind) -> None:
    [event] = events_from_body((PAYLOADS / name).read_bytes())
    assert (event.kind, event.hr_id) == (kind, "100")
    assert event.occurred_at is not None and event.occurred_at.tzinfo is not None


def test_legacy_field_payload_names_each_employee() -> None:
    events = events_from_body((PAYLOADS / "webhook_fields_legacy.json").read_bytes())
    assert [(e.hr_id, e.kind) for e in events] == [
        ("12345", HrEventKind.UPDATED),
        ("12346", HrEventKind.CREATED),
        ("12001", HrEventKind.DELETED),
    ]
    assert events[0].occurred_at == datetime(2026, 1, 31, 18, 42, tzinfo=UTC)
    assert len({e.event_id for e in events}) == 3


def test_legacy_payload_keyed_by_employee_id() -> None:
    body = json.dumps({"employees": {"12345": {"action": "Updated", "changedFields": ["Status"], "fields": {}}}})
    [event] = events_from_body(body.encode())
    assert (event.hr_id, event.kind) == ("12345", HrEventKind.UPDATED)


def test_event_ids_follow_meaning_not_bytes() -> None:
    sample = payload("webhook_employee_updated.json")
    compact = json.dumps(sample, separators=(",", ":")).encode()
    spaced = json.dumps(sample, indent=4).encode()
    assert events_from_body(compact)[0].event_id == events_from_body(spaced)[0].event_id
    later = json.dumps({**sample, "timestamp": "2025-02-18T15:31:00Z"}).encode()
    assert events_from_body(later)[0].event_id != events_from_body(compact)[0].event_id


def test_other_event_families_name_nobody() -> None:
    body = json.dumps({"type": "company.updated", "timestamp": "2025-02-18T15:30:00Z", "data": {"companyId": "1"}})
    assert events_from_body(body.encode()) == []


@pytest.mark.parametrize(
    "body",
    [
        b"employees[12345][changedFields][0]=First+Name",
        b"[]",
        b'{"type": "employee.updated", "data": {"companyId": "1"}}',
        b'{"employees": [{"action": "Updated"}]}',
        b'{"hello": "world"}',
        b"\xff\xfe",
    ],
)
def test_malformed_payloads_are_invalid(body: bytes) -> None:
    with pytest.raises(Invalid):
        events_from_body(body)


def test_cursor_round_trip_and_foreign_cursors() -> None:
    checkpoint = Checkpoint(full_page=3, page_size=10, started="2025-06-02T12:00:00Z")
    assert decode_cursor(encode_cursor(checkpoint)) == checkpoint
    for foreign in ("", "E007", '{"v": 1}', '{"since": "x", "full_page": 2}', '{"since": "x", "other": 1}'):
        with pytest.raises(Invalid):
            decode_cursor(foreign)
