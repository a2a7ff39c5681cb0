"""The Docebo fake enforces what the platform enforces: tokens, page sizes, required options and fields, unique
usernames and emails, its error body and its leaky-bucket rate limit."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from enrolsync.connectors.docebo.fake import DoceboFake
from enrolsync.connectors.testing.fakes import FakeClock

BASE = "https://acme.docebosaas.com"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def fake(clock: FakeClock) -> DoceboFake:
    return DoceboFake.seeded(clock=clock.monotonic)


def call(fake: DoceboFake, method: str, path: str, *, token: str | None = None, **kwargs: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return fake.handler(httpx.Request(method, BASE + path, headers=headers, **kwargs))


def token(fake: DoceboFake) -> str:
    form = {"grant_type": "client_credentials", "client_id": fake.client_id, "client_secret": fake.client_secret}
    answer = call(fake, "POST", "/oauth2/token", data=form)
    assert answer.status_code == 200 and answer.json()["expires_in"] == 3600
    return str(answer.json()["access_token"])


def test_wrong_client_secret_gets_no_token(fake: DoceboFake) -> None:
    form = {"grant_type": "client_credentials", "client_id": fake.client_id, "client_secret": "nope"}
    answer = call(fake, "POST", "/oauth2/token", data=form)
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_client"


def test_calls_need_a_live_token(fake: DoceboFake, clock: FakeClock) -> None:
    assert call(fake, "GET", "/manage/v1/user").status_code == 401
    bearer = token(fake)
    assert call(fake, "GET", "/manage/v1/user", token=bearer).status_code == 200
    clock.now += 3601
    expired = call(fake, "GET", "/manage/v1/user", token=bearer)
    assert expired.status_code == 401 and set(expired.json()) == {"name", "message", "code", "status"}


def test_pages_hold_at_most_200(fake: DoceboFake) -> None:
    bearer = token(fake)
    refused = call(fake, "GET", "/manage/v1/user", token=bearer, params={"page_size": 201})
    assert refused.status_code == 400 and refused.json()["name"] == "Bad Request"
    page = call(fake, "GET", "/manage/v1/user", token=bearer, params={"page": 1, "page_size": 1}).json()["data"]
    assert (page["count"], page["has_more_data"], page["total_count"]) == (1, True, 2)


def test_the_batch_import_needs_its_branch_option(fake: DoceboFake) -> None:
    body = {"items": [{"username": "a.b", "email": "a.b@example.com"}], "options": {}}
    answer = call(fake, "POST", "/manage/v1/user/batch", token=token(fake), json=body)
    assert answer.status_code == 400
    assert answer.json()["message"] == ["Required option not set: branch_option"]


def test_the_batch_import_refuses_a_malformed_row_whole_and_a_taken_name_alone(fake: DoceboFake) -> None:
    bearer = token(fake)
    rows = [{"username": "new.one", "email": "new.one@example.com"}, {"username": "x", "email": "bad"}]
    body = {"items": rows, "options": {"branch_option": "existing"}}
    refused = call(fake, "POST", "/manage/v1/user/batch", token=bearer, json=body)
    assert refused.status_code == 400 and fake.user_by(email="new.one@example.com") is None

    rows[1] = {"username": "JANE.ROE", "email": "other@example.com"}
    answer = call(fake, "POST", "/manage/v1/user/batch", token=bearer, json=body).json()["data"]
    assert [r["success"] for r in answer] == [True, False]
    assert answer[1]["message"] == ["Username already exists"]


def test_a_full_bucket_answers_429_with_the_wait(clock: FakeClock) -> None:
    fake = DoceboFake.seeded(clock=clock.monotonic, capacity=5, drain_seconds=10)
    bearer = token(fake)
    answers = [call(fake, "GET", "/manage/v1/user", token=bearer) for _ in range(5)]
    assert [a.status_code for a in answers] == [200] * 4 + [429]
    assert answers[-1].headers["Retry-After"] == "2" and fake.throttled == 1
    clock.now += 2
    assert call(fake, "GET", "/manage/v1/user", token=bearer).status_code == 200


def test_a_manager_must_be_another_existing_user(fake: DoceboFake) -> None:
    bearer = token(fake)
    jane = fake.user_by(email="jane.roe@example.com")
    assert jane is not None
    for manager in (jane.id, 999999):
        answer = call(fake, "PUT", f"/manage/v1/user/{jane.id}", token=bearer, json={"manager": {"1": manager}})
        assert answer.status_code == 400 and answer.json()["message"] == [f"Invalid manager: {manager}"]
    assert jane.managers == {}


def test_the_course_service_lists_enrolments_with_status_and_dates(fake: DoceboFake) -> None:
    first, second = sorted(fake.platform.courses)[:2]
    jane, john = sorted(fake.platform.users)
    fake.platform.enrol(jane, first, "student")
    fake.platform.enrol(john, second, "student")
    fake.complete(jane, first, datetime(2026, 11, 20, 9, 30, tzinfo=UTC))
    path = "/course/v1/courses/enrollments"
    assert call(fake, "GET", path).status_code == 401
    bearer = token(fake)

    answer = call(fake, "GET", path, token=bearer, params={"course_id[]": [first], "page_size": 200})

    [row] = answer.json()["data"]["items"]
    assert (row["user_id"], row["course_id"], row["enrollment_level"]) == (jane, first, "student")
    assert (row["enrollment_status"], row["enrollment_completion_date"]) == ("completed", "2026-11-20 09:30:00")
    other = call(fake, "GET", path, token=bearer, params={"course_id[]": [second]}).json()["data"]["items"]
    assert [(r["enrollment_status"], r["enrollment_completion_date"]) for r in other] == [("enrolled", None)]
    assert call(fake, "GET", path, token=bearer, params={"page_size": 201}).status_code == 400
