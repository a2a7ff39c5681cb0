"""Bob employees -> persons, and webhook bodies -> HR events: the pure conversions, table-driven."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest
from pydantic import SecretStr

from enrolsync.connectors.errors import Invalid
from enrolsync.connectors.hibob.config import HiBobConfig
from enrolsync.connectors.hibob.mapping import events_from_body, omitted, person_status, to_person
from enrolsync.connectors.model import HrEventKind, PersonStatus

TODAY = date(2025, 6, 2)
CONFIG = HiBobConfig(service_user_id="SU", service_user_token=SecretStr("t"))


def employee(lifecycle: str | None = "employed", **internal: Any) -> dict[str, Any]:
    return {
        "id": "3332883884017713238",
        "firstName": "Amy",
        "surname": "Miles",
        "email": "amy.miles@acme.example",
        "work": {
            "department": "1000001",
            "title": "1002003",
            "site": "Berlin",
            "reportsTo": {"id": "3332883909410030364", "displayName": "Zoe Clark"},
            "startDate": "2015-03-20",
            "employeeIdInCompany": 39,
        },
        "internal": {"status": "Active", "lifecycleStatus": lifecycle, "terminationDate": None, **internal},
        "humanReadable": {"work": {"department": "Product", "title": "Designer"}, "internal": {}},
    }


@pytest.mark.parametrize(
    ("lifecycle", "internal", "expected"),
    [
        ("employed", {}, PersonStatus.ACTIVE),
        ("Employed", {}, PersonStatus.ACTIVE),
        ("hired", {"status": "Inactive"}, PersonStatus.ACTIVE),  # a future joiner: the engine's lead time decides
        ("terminated", {"status": "Inactive", "terminationDate": "2025-05-01"}, PersonStatus.TERMINATED),
        ("Terminated", {}, PersonStatus.TERMINATED),
        ("leave", {}, PersonStatus.LEAVE),
        ("Parental leave", {}, PersonStatus.LEAVE),
        ("garden_leave", {"terminationDate": "2025-07-01"}, PersonStatus.LEAVE),  # leaving later, no longer working
        ("Sabbatical", {}, PersonStatus.ACTIVE),  # a custom status not configured as leave
        (None, {"status": "Inactive", "terminationDate": "2025-06-02"}, PersonStatus.TERMINATED),
        (None, {"status": "Inactive", "terminationDate": "2025-06-03"}, PersonStatus.ACTIVE),  # not yet
        (None, {"status": "Active"}, PersonStatus.ACTIVE),
    ],
)
def test_lifecycle_status_decides(lifecycle: str | None, internal: dict[str, Any], expected: PersonStatus) -> None:
    assert person_status(employee(lifecycle, **internal), CONFIG, today=TODAY) is expected


def test_custom_leave_types_are_configurable() -> None:
    config = CONFIG.model_copy(update={"leave_statuses": ("Sabbatical",)})
    assert person_status(employee("sabbatical"), config, today=TODAY) is PersonStatus.LEAVE
    assert person_status(employee("Parental leave"), config, today=TODAY) is PersonStatus.ACTIVE


def test_appended_labels_and_machine_ids_make_the_person() -> None:
    person = to_person(employee(), CONFIG, today=TODAY)
    assert person is not None
    assert (person.hr_id, person.given_name, person.family_name) == ("3332883884017713238", "Amy", "Miles")
    assert (person.department, person.job_title, person.location) == ("Product", "Designer", "Berlin")
    assert person.manager_hr_id == "3332883909410030364"
    assert (person.hire_date, person.employee_number) == (date(2015, 3, 20), "39")


def test_replace_mode_loses_the_manager_id_and_display_dates() -> None:
    replaced = employee()
    replaced.pop("humanReadable")
    replaced["work"].update(reportsTo="Zoe Clark", startDate="20/03/2015", department="Product")
    person = to_person(replaced, CONFIG, today=TODAY)
    assert person is not None
    assert (person.manager_hr_id, person.hire_date, person.department) == (None, None, "Product")


def test_an_employee_without_id_is_skipped() -> None:
    nameless = employee()
    nameless.pop("id")
    assert to_person(nameless, CONFIG, today=TODAY) is None


def test_null_is_permitted_and_empty_absent_is_withheld() -> None:
    record = employee()
    record["internal"].pop("lifecycleStatus")
    assert omitted(record, ["internal.lifecycleStatus", "internal.terminationDate", "root.email"]) == [
        "internal.lifecycleStatus"
    ]


def v2(kind: str, employee_id: str = "3332883854254932743") -> bytes:
    data = {"companyId": 636192, "type": kind, "triggeredBy": "1", "triggeredAt": "2025-01-08T13:06:26.915906"}
    return json.dumps({**data, "version": "v2", "data": {"employeeId": employee_id}}).encode()


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("employee.created", HrEventKind.CREATED),
        ("employee.updated", HrEventKind.UPDATED),
        ("employee.deleted", HrEventKind.DELETED),
        ("employee.left", HrEventKind.UPDATED),
        ("employee.joined", HrEventKind.UPDATED),
        ("employee.inactivated", HrEventKind.UPDATED),
        ("table.entry.created", HrEventKind.UPDATED),
    ],
)
def test_employee_events_name_the_employee(kind: str, expected: HrEventKind) -> None:
    [event] = events_from_body(v2(kind))
    assert (event.kind, event.hr_id) == (expected, "3332883854254932743")
    assert event.occurred_at is not None and event.occurred_at.tzinfo is not None


def test_a_redelivery_has_the_same_event_id_and_another_event_another() -> None:
    first, again, other = (events_from_body(body)[0] for body in (v2("employee.updated"), v2("employee.updated"),
                                                                     v2("employee.updated", "42")))  # fmt: skip
    assert first.event_id == again.event_id != other.event_id


def test_legacy_v1_payloads_name_the_employee() -> None:
    body = {"type": "employee.updated", "companyId": 636192, "employee": {"id": "77", "displayName": "A B"}}
    assert [e.hr_id for e in events_from_body(json.dumps(body).encode())] == ["77"]


@pytest.mark.parametrize("body", [b"Ping test", b'"Ping test"', b'{"text":"Ping test"}', v2("timeoff.request.created")])
def test_pings_and_other_events_name_nobody(body: bytes) -> None:
    assert events_from_body(body) == []


@pytest.mark.parametrize("body", [b"not json", b"[]", b'{"companyId": 1}'])
def test_malformed_bodies_are_invalid(body: bytes) -> None:
    with pytest.raises(Invalid):
        events_from_body(body)
