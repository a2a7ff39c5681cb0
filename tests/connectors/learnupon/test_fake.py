"""The fake portal answers as LearnUpon does: auth, wrapped bodies, validation, paging headers, rate limits."""

from __future__ import annotations

import base64

import httpx
import pytest

from enrolsync.connectors.learnupon.fake import FakeLearnUpon
from enrolsync.connectors.testing.fakes import FakeClock
from tests.support.connectors import LU_KEY, LU_SECRET

BASE = "https://acme.learnupon.test/api/v1/"


def call(
    fake: FakeLearnUpon, method: str, path: str, *, auth: tuple[str, str] = (LU_KEY, LU_SECRET), **kw: object
) -> httpx.Response:
    request = httpx.Request(method, BASE + path, **kw)  # type: ignore[arg-type]
    request.headers["Authorization"] = "Basic " + base64.b64encode(":".join(auth).encode()).decode()
    return fake.handler(request)


def new_user(**extra: object) -> dict[str, object]:
    return {
        "User": {
            "email": "eve.new@example.com",
            "first_name": "Eve",
            "last_name": "New",
            "password": "secret1",
            **extra,
        }
    }


def test_wrong_keys_are_refused(fake: FakeLearnUpon) -> None:
    answer = call(fake, "GET", "users", auth=(LU_KEY, "nope-nope"))
    assert answer.status_code == 401 and "message" in answer.json()


def test_a_bare_body_is_refused(fake: FakeLearnUpon) -> None:
    answer = call(fake, "POST", "users", json=new_user()["User"])
    assert answer.status_code == 400 and "wrapped in 'User'" in answer.json()["message"]


@pytest.mark.parametrize(
    ("extra", "phrase"),
    [
        ({"email": "ann.ward@EXAMPLE.com"}, "already exists"),
        ({"username": "short"}, "between 6 and 30"),
        ({"password": "abc"}, "minimum is 6"),
        ({"user_type": "owner"}, "User type is invalid"),
        ({"CustomData": {"shoe_size": "42"}}, "does not exist"),
        ({"last_name": ""}, "can't be blank"),
    ],
)
def test_users_are_validated(fake: FakeLearnUpon, extra: dict[str, object], phrase: str) -> None:
    answer = call(fake, "POST", "users", json=new_user(**extra))
    assert answer.status_code == 422 and phrase in answer.json()["message"]


def test_lists_are_paged_with_lu_headers(fake: FakeLearnUpon) -> None:
    first = call(fake, "GET", "users", params={"page": 1})
    last = call(fake, "GET", "users", params={"page": 2})
    assert first.headers["LU-Has-Next-Page"] == "true" and first.headers["LU-Records-Per-Page"] == "3"
    assert last.headers["LU-Has-Next-Page"] == "false" and last.headers["LU-Current-Page"] == "2"
    assert len(first.json()["user"]) + len(last.json()["user"]) == 4


def test_search_answers_404_when_nobody_matches(fake: FakeLearnUpon) -> None:
    assert call(fake, "GET", "users/search", params={"email": "nobody@example.com"}).status_code == 404
    found = call(fake, "GET", "users/search", params={"email": "ANN.WARD@example.com"}).json()["user"]
    assert [u["first_name"] for u in found] == ["Ann"]


def test_the_minute_budget_is_enforced_and_renewed() -> None:
    clock = FakeClock()
    fake = FakeLearnUpon.seeded(key=LU_KEY, secret=LU_SECRET, per_minute=2, clock=clock.monotonic)
    answers = [call(fake, "GET", "courses") for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert answers[1].headers["X-LU-Rate-Limit-Remaining-Minute"] == "0"
    assert "Retry-After" not in answers[2].headers
    clock.now += 60
    assert call(fake, "GET", "courses").status_code == 200


def test_a_completed_enrolment_is_kept_without_remove_from_history(fake: FakeLearnUpon) -> None:
    user, course = sorted(fake.portal.users)[0], sorted(fake.portal.courses)[0]
    enrolled = call(fake, "POST", "enrollments", json={"Enrollment": {"user_id": user, "course_id": course}}).json()
    fake.set_status(user, course, "completed")
    assert call(fake, "DELETE", f"enrollments/{enrolled['id']}").status_code == 422
    assert (
        call(fake, "DELETE", f"enrollments/{enrolled['id']}", params={"remove_from_history": "true"}).status_code == 200
    )


def test_only_managers_manage_groups(fake: FakeLearnUpon) -> None:
    learner = sorted(fake.portal.users)[0]
    group = call(fake, "POST", "groups", json={"Group": {"title": "Team"}}).json()["id"]
    body = {"GroupMembership": {"group_id": group, "user_id": learner, "group_membership_type_id": 4}}
    assert call(fake, "POST", "group_memberships", json=body).status_code == 422
    assert call(fake, "POST", "groups", json={"Group": {"title": "team"}}).status_code == 422  # titles are unique
