"""The fake holds TalentLMS's rules: authentication and version headers, uniqueness, required fields, paging
limits, error shapes and both rate limits."""

from __future__ import annotations

from typing import Any

import httpx

from enrolsync.connectors.talentlms.fake import TalentLMSFake
from enrolsync.connectors.testing.fakes import FakeClock


def call(fake: TalentLMSFake, method: str, path: str, *, key: str | None = None, version: str = "2024-01-01",
         **kwargs: Any) -> httpx.Response:  # fmt: skip
    headers = {"X-API-Key": key or fake.api_key, "X-API-Version": version, "Accept": "application/json"}
    return fake.handler(httpx.Request(method, f"https://{fake.domain}/api/v2{path}", headers=headers, **kwargs))


def error(response: httpx.Response) -> tuple[int, str, str]:
    body = response.json()["error"]
    return response.status_code, body["type"], body["message"]


def test_the_key_and_the_version_are_required() -> None:
    fake = TalentLMSFake.seeded()
    assert error(call(fake, "GET", "/users", key="wrong"))[:2] == (401, "invalid_request_error")
    assert call(fake, "GET", "/users", version="v2").status_code == 400
    assert call(fake, "GET", "/users").status_code == 200


def test_logins_and_emails_are_unique_whatever_their_case() -> None:
    fake = TalentLMSFake.seeded()
    body = {"name": "A", "surname": "B", "login": "JANE.ROE", "email": "new@example.com", "password": "Long-enough-1"}
    assert error(call(fake, "POST", "/users", json=body))[2] == "The login has already been taken."
    body |= {"login": "new.one", "email": "Jane.Roe@EXAMPLE.com"}
    assert error(call(fake, "POST", "/users", json=body))[2] == "The email has already been taken."
    assert call(fake, "POST", "/users", json=body | {"email": "new@example.com"}).status_code == 200


def test_required_fields_and_lengths() -> None:
    fake = TalentLMSFake.seeded()
    body = {"name": "A", "surname": "B", "login": "a.b", "email": "a.b@example.com", "password": "Long-enough-1"}
    for broken, message in (
        ({"password": None}, "The password field is required."),
        ({"surname": " "}, "The surname field is required."),
        ({"name": "x" * 192}, "The name may not be greater than 191 characters."),
        ({"custom_field_9": "x"}, "The custom field custom_field_9 does not exist."),
    ):
        assert error(call(fake, "POST", "/users", json=body | broken)) == (400, "invalid_request_error", message)
    assert not any(u.login == "a.b" for u in fake.portal.users.values())


def test_pages_hold_at_most_100_and_link_the_next() -> None:
    fake = TalentLMSFake.seeded()
    for n in range(3):
        fake.add_user(f"u{n}", "U", str(n), f"u{n}@example.com")
    assert call(fake, "GET", "/users", params={"page[size]": "101"}).status_code == 400
    first = call(fake, "GET", "/users", params={"page[size]": "2"}).json()
    last = call(fake, "GET", "/users", params={"page[size]": "2", "page[number]": "3"}).json()
    assert len(first["_data"]) == 2 and "next" in first["_links"] and "prev" not in first["_links"]
    assert len(last["_data"]) == 1 and "next" not in last["_links"]
    assert first["_meta"]["pagination"]["total_items"] == 5


def test_the_hourly_and_the_five_second_limits() -> None:
    clock = FakeClock(start=7200.0)
    fake = TalentLMSFake.seeded(hourly_limit=3, clock=clock.monotonic)
    answers = [call(fake, "GET", "/users") for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert [a.headers["X-RateLimit-Remaining"] for a in answers] == ["2", "1", "0", "0"]
    assert answers[-1].headers["Retry-After"] == "3601" and answers[-1].json()["error"]["type"] == "api_error"
    clock.now += 3600
    assert call(fake, "GET", "/users").status_code == 200, "a new hour, a new budget"

    burst = TalentLMSFake.seeded(hourly_limit=10_000, clock=clock.monotonic)
    statuses = [call(burst, "GET", "/users").status_code for _ in range(201)]
    assert statuses.count(429) == 1 and statuses[-1] == 429
