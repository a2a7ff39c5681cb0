"""Pure SuccessFactors conversions: OData v2 dates and literals, the job in force, and EC's statuses as a person's."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from enrolsync.connectors.model import PersonStatus
from enrolsync.connectors.successfactors.config import SuccessFactorsConfig
from enrolsync.connectors.successfactors.mapping import (
    Bundle,
    any_of,
    edm_date,
    edm_instant,
    in_force,
    is_main,
    literal,
    person_status,
    to_person,
)

TODAY = date(2025, 6, 2)
CONFIG = SuccessFactorsConfig(
    base_url="https://api4.successfactors.com/odata/v2/",
    company_id="ACME",
    auth="basic",
    api_user="sfapi",
    password="x",
)


def ms(day: date) -> str:
    return f"/Date({int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)})/"


def job(start: date, status: str = "A", *, end: date | None = None, seq: int = 1, **fields: Any) -> dict[str, Any]:
    return {"startDate": ms(start), "endDate": ms(end or date(9999, 12, 31)), "seqNumber": str(seq),
            "emplStatus": status, **fields}  # fmt: skip


def employment(*jobs: dict[str, Any], end: date | None = None) -> dict[str, Any]:
    return {"personIdExternal": "P1", "userId": "U1", "startDate": ms(date(2020, 1, 6)),
            "endDate": ms(end) if end else None, "jobInfoNav": {"results": list(jobs)}}  # fmt: skip


def test_odata_dates() -> None:
    assert edm_date("/Date(1495065600000)/") == date(2017, 5, 18)
    assert edm_instant("/Date(1495065600000+0120)/") == datetime(2017, 5, 18, tzinfo=UTC), "the offset is a zone note"
    assert edm_date("/Date(-86400000)/") == date(1969, 12, 31)
    assert edm_date("2017-05-18") is None and edm_date(None) is None and edm_date(1495065600000) is None


def test_literals_cannot_break_out_of_a_filter() -> None:
    assert literal("O'Brien") == "'O''Brien'"
    assert any_of("userId", ["a", "b'c"]) == "userId in 'a','b''c'"


def test_the_latest_sequence_of_the_day_is_in_force() -> None:
    segments = [job(date(2025, 1, 1), end=date(2025, 5, 31)), job(date(2025, 6, 1), department="OLD"),
                job(date(2025, 6, 1), seq=2, department="NEW")]  # fmt: skip
    assert in_force(segments, TODAY)["department"] == "NEW"  # type: ignore[index]
    assert in_force(segments, date(2024, 12, 31)) is None


@pytest.mark.parametrize(
    ("record", "user_status", "config", "expected"),
    [
        pytest.param(employment(job(date(2020, 1, 6))), "t", CONFIG, PersonStatus.ACTIVE, id="active"),
        pytest.param(employment(job(date(2025, 5, 1), "U")), "t", CONFIG, PersonStatus.LEAVE, id="unpaid-leave"),
        pytest.param(
            employment(job(date(2025, 6, 2), "T"), end=date(2025, 6, 1)),
            "f",
            CONFIG,
            PersonStatus.TERMINATED,
            id="terminated-yesterday",
        ),  # fmt: skip
        pytest.param(
            employment(job(date(2020, 1, 6), end=date(2025, 6, 2)), job(date(2025, 6, 3), "T"), end=date(2025, 6, 2)),
            "t",
            CONFIG,
            PersonStatus.ACTIVE,
            id="last-day-today",
        ),  # fmt: skip
        pytest.param(employment(job(date(2025, 7, 1))), "t", CONFIG, PersonStatus.ACTIVE, id="future-hire"),
        pytest.param(employment(), "f", CONFIG, PersonStatus.TERMINATED, id="no-job-inactive-user"),
        pytest.param(
            employment(job(date(2025, 5, 1), "36393")),
            "t",
            CONFIG.model_copy(update={"leave_statuses": ("36393",)}),
            PersonStatus.LEAVE,
            id="tenant-option-ids",
        ),  # fmt: skip
        pytest.param(employment(job(date(2025, 5, 1), "R")), "t", CONFIG, PersonStatus.TERMINATED, id="retired"),
    ],
)
def test_status_follows_the_employment_and_the_job_in_force(
    record: dict[str, Any], user_status: str, config: SuccessFactorsConfig, expected: PersonStatus
) -> None:
    assert person_status(Bundle(record, {"userId": "U1", "status": user_status}, None), config, TODAY) is expected


def test_a_future_hire_reads_the_first_job_ahead_and_no_manager_is_none() -> None:
    record = employment(job(date(2025, 7, 1), department="Finance", managerId="NO_MANAGER"))
    person = to_person(Bundle(record, None, None), CONFIG, today=TODAY, managers={"NO_MANAGER": "P9"})
    assert person is not None
    assert (person.department, person.manager_hr_id, person.employee_number) == ("Finance", None, "U1")


def test_names_come_from_the_personal_record_in_force_and_the_primary_email() -> None:
    person_record = {
        "personIdExternal": "P1",
        "personalInfoNav": {"results": [
            {"startDate": ms(date(2020, 1, 6)), "endDate": ms(date(2025, 3, 31)), "firstName": "Old",
             "lastName": "Name"},
            {"startDate": ms(date(2025, 4, 1)), "endDate": ms(date(9999, 12, 31)), "firstName": "Katherine",
             "preferredName": "Kate", "lastName": "New"},
        ]},
        "emailNav": {"results": [{"emailAddress": "home@example.com", "isPrimary": False},
                                 {"emailAddress": "kate@acme.example", "isPrimary": True}]},
    }  # fmt: skip
    user = {"userId": "U1", "firstName": "Stale", "lastName": "Stale", "email": "stale@acme.example"}
    person = to_person(Bundle(employment(job(date(2020, 1, 6))), user, person_record), CONFIG, today=TODAY, managers={})
    assert person is not None
    assert (person.given_name, person.family_name, person.work_email) == ("Kate", "New", "kate@acme.example")


def test_of_two_employments_the_one_not_ended_then_the_later_is_main() -> None:
    home = to_person(Bundle(employment(job(date(2020, 1, 6))), None, None), CONFIG, today=TODAY, managers={})
    record = {**employment(job(date(2024, 2, 1), "T"), end=date(2024, 1, 31)), "userId": "U2"}
    ended = to_person(Bundle(record, None, None), CONFIG, today=TODAY, managers={})
    later = to_person(Bundle({**employment(job(date(2024, 3, 1))), "startDate": ms(date(2024, 3, 1))}, None, None),
                      CONFIG, today=TODAY, managers={})  # fmt: skip
    assert home is not None and ended is not None and later is not None
    assert is_main(home, over=ended) and not is_main(ended, over=home)
    assert is_main(later, over=home) and not is_main(home, over=later)
