"""LearnUpon due dates (issue 16): an enrolment's own `due_date`, set on `POST /enrollments` and moved with
`PATCH /enrollments/{id}`, `YYYY-MM-DD` on the wire and listed back as a UTC date/time."""

from __future__ import annotations

import json
from datetime import date

import httpx

from enrolsync.connectors.base import Capability
from enrolsync.connectors.learnupon import LearnUponTarget
from enrolsync.connectors.learnupon.fake import FakeLearnUpon
from enrolsync.connectors.ops import Enrol, Op, SetDueDate
from tests.support.connectors import LU_KEY, LU_SECRET

DUE, LATER = date(2026, 9, 30), date(2026, 11, 15)


def first(fake: FakeLearnUpon) -> tuple[int, int]:
    return sorted(fake.portal.users)[0], sorted(fake.portal.courses)[0]


def bodies(fake: FakeLearnUpon, method: str) -> list[dict[str, object]]:
    return [json.loads(r.content) for r in fake.writes if r.method == method]


async def test_learnupon_declares_due_dates() -> None:
    assert Capability.DUE_DATES in LearnUponTarget.info.capabilities


async def test_an_enrolment_is_made_with_its_due_date_and_lists_it_back(
    target: LearnUponTarget, fake: FakeLearnUpon
) -> None:
    user, course = first(fake)

    [result] = await target.apply([Enrol(hr_id="S1", account_id=str(user), course_id=str(course), due_on=DUE)])

    assert result.outcome == "done"
    assert bodies(fake, "POST") == [{"Enrollment": {"user_id": user, "course_id": course, "due_date": "2026-09-30"}}]
    assert fake.enrollment(user, course)["due_date"] == "2026-09-30T00:00:00Z"
    assert fake.enrollment(user, course)["expires_at"] is None, "the learner's access is left alone"


async def test_a_moved_due_date_is_patched_once(target: LearnUponTarget, fake: FakeLearnUpon) -> None:
    user, course = first(fake)
    fake.portal.enrol(user, course, "2026-09-30")
    enrollment_id = fake.enrollment(user, course)["id"]
    move: Op = SetDueDate(hr_id="S1", account_id=str(user), course_id=str(course), due_on=LATER)

    [moved] = await target.apply([move])
    [again] = await target.apply([move])

    assert (moved.outcome, again.outcome) == ("done", "already")
    patches = [r for r in fake.writes if r.method == "PATCH"]
    assert [r.url.path for r in patches] == [f"/api/v1/enrollments/{enrollment_id}"]
    assert json.loads(patches[0].content) == {"due_date": "2026-11-15"}
    assert fake.enrollment(user, course)["due_date"] == "2026-11-15T00:00:00Z"


async def test_enrolling_a_held_enrolment_sets_only_a_differing_due_date(
    target: LearnUponTarget, fake: FakeLearnUpon
) -> None:
    user, course = first(fake)
    fake.portal.enrol(user, course)

    [dated] = await target.apply([Enrol(hr_id="S1", account_id=str(user), course_id=str(course), due_on=DUE)])
    [same] = await target.apply([Enrol(hr_id="S1", account_id=str(user), course_id=str(course), due_on=DUE)])
    [plain] = await target.apply([Enrol(hr_id="S1", account_id=str(user), course_id=str(course))])

    assert (dated.outcome, same.outcome, plain.outcome) == ("done", "already", "already")
    assert len(bodies(fake, "PATCH")) == 1 and bodies(fake, "POST") == []
    assert fake.enrollment(user, course)["due_date"] == "2026-09-30T00:00:00Z"


async def test_a_due_date_for_an_enrolment_not_held_fails_alone(target: LearnUponTarget, fake: FakeLearnUpon) -> None:
    (user, other), course = sorted(fake.portal.users)[:2], sorted(fake.portal.courses)[0]
    fake.portal.enrol(other, course)
    ops: list[Op] = [
        SetDueDate(hr_id="S1", account_id=str(user), course_id=str(course), due_on=DUE),
        SetDueDate(hr_id="S2", account_id=str(other), course_id=str(course), due_on=DUE),
    ]

    missing, moved = await target.apply(ops)

    assert missing.outcome == "failed" and missing.error is not None and missing.error.status == 404
    assert moved.outcome == "done"


async def test_dated_enrolments_go_one_by_one_instead_of_a_bulk_job(
    target: LearnUponTarget, fake: FakeLearnUpon
) -> None:
    users = [fake.add_user("Due", f"User {n}", f"due.{n}@example.com") for n in range(60)]
    course = sorted(fake.portal.courses)[0]
    ops: list[Op] = [
        Enrol(hr_id=f"D{n}", account_id=str(u), course_id=str(course), due_on=DUE) for n, u in enumerate(users)
    ]

    results = await target.apply(ops)

    assert {r.outcome for r in results} == {"done"}
    assert not fake.jobs, "the bulk job carries no due date"
    assert {fake.enrollment(u, course)["due_date"] for u in users} == {"2026-09-30T00:00:00Z"}


async def test_the_fake_refuses_a_due_date_not_in_learnupons_format(fake: FakeLearnUpon) -> None:
    (user, newcomer), course = sorted(fake.portal.users)[:2], sorted(fake.portal.courses)[0]
    fake.portal.enrol(user, course)
    enrollment_id = fake.enrollment(user, course)["id"]
    auth = httpx.BasicAuth(LU_KEY, LU_SECRET)
    base = "https://acme.learnupon.test/api/v1"
    async with httpx.AsyncClient(transport=fake.transport(), auth=auth) as client:
        wrong = await client.patch(f"{base}/enrollments/{enrollment_id}", json={"due_date": "30/09/2026"})
        impossible = await client.patch(f"{base}/enrollments/{enrollment_id}", json={"due_date": "2026-02-30"})
        empty = await client.patch(f"{base}/enrollments/{enrollment_id}", json={})
        created = await client.post(
            f"{base}/enrollments", json={"Enrollment": {"user_id": newcomer, "course_id": course, "due_date": 20260930}}
        )

    assert (wrong.status_code, impossible.status_code, empty.status_code) == (422, 422, 400)
    assert "YYYY-MM-DD" in wrong.json()["message"]
    assert created.status_code == 422 and course not in fake.courses_of(newcomer)
    assert fake.enrollment(user, course)["due_date"] is None
