"""Pure mapping: which employment decides, how statuses read, what webhooks name, which cursors are ours."""

from __future__ import annotations

import json
from datetime import date

import pytest
from pydantic import SecretStr

from enrolsync.connectors.errors import Invalid
from enrolsync.connectors.model import HrEventKind, PersonStatus
from enrolsync.connectors.personio.config import PersonioConfig
from enrolsync.connectors.personio.mapping import decode_cursor, events_from_body, to_person
from enrolsync.connectors.personio.models import EmploymentWire, PersonWire

CONFIG = PersonioConfig(client_id="c", client_secret=SecretStr("s"), username_attribute="dynamic_1")


def person(**fields: object) -> PersonWire:
    return PersonWire.model_validate({"id": "7", "first_name": " Ada ", "last_name": "Byron", **fields})


def employment(status: str, start: str, **fields: object) -> EmploymentWire:
    return EmploymentWire.model_validate(
        {"id": f"e-{start}", "status": status, "employment_start_date": start, **fields}
    )


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("ACTIVE", PersonStatus.ACTIVE),
        ("ONBOARDING", PersonStatus.ACTIVE),
        ("LEAVE", PersonStatus.LEAVE),
        ("INACTIVE", PersonStatus.TERMINATED),
    ],
)
def test_the_employment_status_decides(status: str, expected: PersonStatus) -> None:
    assert to_person(person(), [employment(status, "2024-01-01")], CONFIG).status is expected


def test_a_current_employment_wins_over_an_ended_later_one() -> None:
    ended = employment("INACTIVE", "2025-03-01", position={"title": "Contractor"})
    current = employment("ACTIVE", "2020-01-01", position={"title": "Engineer"}, supervisor={"id": "3"})
    mapped = to_person(person(), [ended, current], CONFIG)
    assert (mapped.status, mapped.job_title, mapped.manager_hr_id) == (PersonStatus.ACTIVE, "Engineer", "3")
    assert mapped.hire_date == date(2020, 1, 1)


def test_a_rehire_reads_the_newest_current_employment() -> None:
    old = employment("INACTIVE", "2018-01-01", termination={"termination_date": "2019-06-30"})
    again = employment("ONBOARDING", "2025-07-01")
    mapped = to_person(person(), [old, again], CONFIG)
    assert (mapped.status, mapped.hire_date, mapped.termination_date) == (PersonStatus.ACTIVE, date(2025, 7, 1), None)


def test_without_employments_the_person_status_decides() -> None:
    assert to_person(person(status="INACTIVE"), [], CONFIG).status is PersonStatus.TERMINATED
    assert to_person(person(status="ACTIVE"), [], CONFIG).status is PersonStatus.ACTIVE


def test_fields_are_cleaned_and_attributes_read() -> None:
    wire = person(email=" ada@x.example ", custom_attributes=[{"id": "dynamic_1", "value": "ada"}])
    mapped = to_person(wire, [employment("ACTIVE", "2024-01-01", supervisor={"id": "7"})], CONFIG)
    assert (mapped.given_name, mapped.work_email, mapped.username) == ("Ada", "ada@x.example", "ada")
    assert mapped.manager_hr_id is None  # nobody manages themselves


def envelope(event: str, payload: dict[str, object]) -> bytes:
    body = {"company_id": 1, "event_name": event, "occurred_at": "2025-06-02T12:00:00Z", "payload": payload}
    return json.dumps(body).encode()


def test_events_name_the_person_whatever_the_payload_spelling() -> None:
    [by_person] = events_from_body(envelope("employment.terminated", {"id": "e1", "person": {"id": 42}}))
    [by_key] = events_from_body(envelope("employment.created", {"id": "e1", "person_id": "43"}))
    [by_id] = events_from_body(envelope("person.updated", {"id": "44"}))
    assert [e.hr_id for e in (by_person, by_key, by_id)] == ["42", "43", "44"]
    assert by_person.kind is HrEventKind.UPDATED


def test_a_redelivery_keeps_its_event_id_and_another_event_does_not() -> None:
    [first] = events_from_body(envelope("person.updated", {"id": "44"}))
    [again] = events_from_body(envelope("person.updated", {"id": "44"}))
    [other] = events_from_body(envelope("person.updated", {"id": "45"}))
    assert first.event_id == again.event_id != other.event_id


def test_an_employment_event_without_a_person_is_invalid() -> None:
    with pytest.raises(Invalid):
        events_from_body(envelope("employment.updated", {"id": "e1"}))


@pytest.mark.parametrize("cursor", ["", "[]", '{"since": null}', '{"since": "x", "next_href": "y"}', '{"a": 1}'])
def test_only_our_cursors_are_read(cursor: str) -> None:
    with pytest.raises(Invalid):
        decode_cursor(cursor)
