"""The fake answers as Canvas does, called over HTTP without the connector."""

from __future__ import annotations

from typing import Any

import httpx

from enrolsync.connectors.canvas.fake import FakeCanvas
from enrolsync.connectors.testing.fakes import FakeClock

BASE = "https://canvas.example.test/api/v1/"


def call(fake: FakeCanvas, method: str, path: str, form: dict[str, Any] | None = None, token: str | None = None,
         **params: Any) -> httpx.Response:  # fmt: skip
    headers = {"Authorization": f"Bearer {token or fake.token}"}
    content = None
    if form is not None:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        content = (
            httpx.QueryParams(form).encode() if hasattr(httpx.QueryParams, "encode") else str(httpx.QueryParams(form))
        )
    request = httpx.Request(method, BASE + path, params=params, headers=headers, content=content)
    return fake.handler(request)


def test_tokens_are_checked_as_canvas_does(fake: FakeCanvas) -> None:
    wrong = call(fake, "GET", "accounts/self", token="nope")
    assert (wrong.status_code, wrong.json()) == (401, {"errors": [{"message": "Invalid access token."}]})
    assert wrong.headers["WWW-Authenticate"] == 'Bearer realm="canvas-lms"'
    missing = fake.handler(httpx.Request("GET", BASE + "accounts/self"))
    assert missing.status_code == 401 and missing.json()["status"] == "unauthenticated"


def test_lists_page_through_link_headers(fake: FakeCanvas) -> None:
    for n in range(25):
        fake.add_user("Paged", f"Person {n:02}", f"paged{n}")
    first = call(fake, "GET", "accounts/self/users", per_page=10)
    assert len(first.json()) == 10
    assert set(first.links) == {"current", "next", "first"}, "bookmark pages name no last page"
    seen = [u["id"] for u in first.json()]
    url = first.links["next"]["url"]
    while url:
        page = fake.handler(httpx.Request("GET", url, headers={"Authorization": f"Bearer {fake.token}"}))
        seen += [u["id"] for u in page.json()]
        url = page.links.get("next", {}).get("url")
    assert sorted(seen) == sorted(u.id for u in fake.state.live_users())
    courses = call(fake, "GET", "accounts/self/courses", per_page=1)
    assert "page=2" in courses.links["next"]["url"] and "last" in courses.links
    assert len(call(fake, "GET", "accounts/self/users", per_page=1000).json()) == 28, "per_page is capped at 100"


def test_ids_by_sis_reference_escaped(fake: FakeCanvas) -> None:
    fake.add_user("Slash", "Person", "slash.person", sis_user_id="E/1")
    found = call(fake, "GET", "users/sis_user_id:E%2F1")
    assert found.status_code == 200 and found.json()["sis_user_id"] == "E/1"
    assert call(fake, "GET", "users/sis_login_id:ALEX.EXAMPLE").json()["sis_user_id"] == "E-100"
    gone = call(fake, "GET", "users/sis_user_id:nobody")
    assert (gone.status_code, gone.json()) == (404, {"errors": [{"message": "The specified resource does not exist."}]})
    assert call(fake, "GET", "courses/sis_course_id:SAFETY-101").json()["name"] == "Workplace Safety"


def test_a_taken_login_is_refused_with_canvas_nested_errors(fake: FakeCanvas) -> None:
    answer = call(fake, "POST", "accounts/self/users", {"user[name]": "Dup", "pseudonym[unique_id]": "Alex.Example"})
    assert answer.status_code == 400
    assert answer.json()["errors"]["pseudonym"]["unique_id"][0]["type"] == "taken"
    saml = next(p.id for p in fake.state.providers.values() if p.auth_type == "saml")
    other_provider = {"user[name]": "Dup", "pseudonym[unique_id]": "alex.example",
                      "pseudonym[authentication_provider_id]": "saml"}  # fmt: skip
    made = call(fake, "POST", "accounts/self/users", other_provider)
    assert made.status_code == 200, "a login id is unique per provider"
    [login] = fake.state.logins_of(made.json()["id"])
    assert login.authentication_provider_id == saml


def test_ending_an_enrolment_keeps_it(fake: FakeCanvas) -> None:
    course = next(iter(fake.state.courses))
    user = next(iter(fake.state.users))
    made = call(fake, "POST", f"courses/{course}/enrollments", {"enrollment[user_id]": user,
                "enrollment[type]": "StudentEnrollment", "enrollment[enrollment_state]": "active"})  # fmt: skip
    enrolment = made.json()["id"]
    ended = call(fake, "DELETE", f"courses/{course}/enrollments/{enrolment}", task="conclude")
    assert ended.json()["enrollment_state"] == "completed"
    assert call(fake, "GET", f"courses/{course}/enrollments").json() == [], "active and invited by default"
    listed = call(fake, "GET", f"courses/{course}/enrollments", **{"state[]": "completed"}).json()
    assert [e["id"] for e in listed] == [enrolment]


def test_the_bucket_throttles_and_drains_with_time() -> None:
    clock = FakeClock()
    fake = FakeCanvas.seeded(clock=clock)
    fake.throttle(3.0, cost=1.0)
    answers = [call(fake, "GET", "accounts/self") for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 403]
    assert answers[3].content == b"403 Forbidden (Rate Limit Exceeded)\n"
    assert [a.headers["X-Rate-Limit-Remaining"] for a in answers] == ["2.0000", "1.0000", "0.0000", "0.0000"]
    assert all(a.headers["X-Request-Cost"] == "1.0000" for a in answers)
    clock.now += 0.2  # two units drain at ten a second
    assert call(fake, "GET", "accounts/self").status_code == 200
