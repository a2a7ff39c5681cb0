"""`org.employment` reads a stored person's status, dates and manager without validating the record; planning and
`read_org` decide leavers, future hires and reports from it, so it must agree with the validated `Person`."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from enrolsync.connectors.model import Person, PersonStatus
from enrolsync.sync.rules.evaluate import awaiting_start, is_leaver, manager_of
from enrolsync.sync.rules.policy import Policies
from enrolsync.sync.run.org import employment, known_person
from enrolsync.sync.store.tables import Link, utcnow
from tests.support.factories import staff

TODAY = date(2026, 3, 2)
RECORDS = [
    staff("2"),
    staff("3", manager=None),
    staff("4", termination_date=TODAY - timedelta(days=1)),
    staff("5", termination_date=TODAY + timedelta(days=3)),
    staff("6", status=PersonStatus.TERMINATED),
    staff("7", status=PersonStatus.LEAVE),
    staff("8").model_copy(update={"hire_date": TODAY + timedelta(days=40)}),
    staff("9", manager="9"),
]


@pytest.mark.parametrize("gone", [False, True])
@pytest.mark.parametrize("record", RECORDS, ids=lambda p: p.hr_id)
def test_employment_agrees_with_the_validated_person(record: Person, gone: bool) -> None:
    link = Link(pipeline_id="p", hr_id="x", person=record.model_dump(mode="json"), gone_at=utcnow() if gone else None)
    person, dates = known_person(link), employment(link)
    assert person is not None and dates is not None
    policies = Policies()
    assert dates.status is person.status
    assert is_leaver(dates, TODAY) == is_leaver(person, TODAY)
    assert awaiting_start(dates, policies, TODAY) == awaiting_start(person, policies, TODAY)
    assert manager_of(dates, policies, TODAY) == manager_of(person, policies, TODAY)


def test_no_record_is_no_employment() -> None:
    assert employment(Link(pipeline_id="p", hr_id="x", person={})) is None
    assert employment(Link(pipeline_id="p", hr_id="x", person={"hr_id": "x", "hire_date": "soon"})) is None
