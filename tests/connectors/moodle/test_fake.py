"""The fake answers as Moodle does, called over HTTP without the connector."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import httpx

from enrolsync.connectors.moodle.client import encode
from enrolsync.connectors.moodle.fake.params import parse_php_form
from enrolsync.connectors.moodle.fake.server import FakeMoodle
from tests.support.connectors import MOODLE_TOKEN as TOKEN

URL = "https://moodle.example.test/webservice/rest/server.php"


def call(fake: FakeMoodle, function: str, params: dict[str, Any], token: str = TOKEN) -> Any:
    fields = [("wstoken", token), ("wsfunction", function), ("moodlewsrestformat", "json"), *encode(params)]
    response = fake.handler(httpx.Request("POST", URL, content=urlencode(fields).encode()))
    assert response.status_code == 200  # Moodle reports errors inside a 200
    return response.json()


def new_user(username: str, email: str) -> dict[str, Any]:
    return {"username": username, "firstname": "A", "lastname": "B", "email": email, "createpassword": True}


def test_php_brackets_become_nested_lists() -> None:
    pairs = [("users[0][customfields][0][type]", "t"), ("users[0][username]", "a"), ("users[1][username]", "b")]
    assert parse_php_form(pairs) == {"users": [{"customfields": [{"type": "t"}], "username": "a"}, {"username": "b"}]}


def test_create_users_is_one_transaction(fake: FakeMoodle) -> None:
    fake.debugging = True
    batch = [new_user("fresh.one", "fresh.one@example.com"), new_user("fresh.two", "alex.example@example.com")]
    answer = call(fake, "core_user_create_users", {"users": batch})
    assert answer["errorcode"] == "invalidparameter"
    assert answer["debuginfo"] == "Email address already exists: alex.example@example.com"
    assert fake.user("fresh.one") is None and fake.writes == [fake.requests[-1]]


def test_validation_rejects_values_cleaning_would_change(fake: FakeMoodle) -> None:
    answer = call(fake, "core_user_create_users", {"users": [new_user("Fresh.One", "f@example.com")]})
    assert (answer["errorcode"], "debuginfo" in answer) == ("invalidparameter", False)
    answer = call(fake, "core_user_get_users_by_field", {"field": "username", "values": ["Alex.Example"]})
    assert answer["errorcode"] == "invalidparameter"


def test_internal_auth_needs_a_password_sso_does_not(fake: FakeMoodle) -> None:
    fake.debugging = True
    manual = {**new_user("fresh.one", "f1@example.com"), "createpassword": False}
    assert "Invalid password" in call(fake, "core_user_create_users", {"users": [manual]})["debuginfo"]
    sso = {**new_user("fresh.two", "f2@example.com"), "createpassword": False, "auth": "saml2"}
    [created] = call(fake, "core_user_create_users", {"users": [sso]})
    assert created["username"] == "fresh.two"


def test_token_service_and_function_errors(fake: FakeMoodle) -> None:
    assert call(fake, "core_webservice_get_site_info", {}, token="nope")["errorcode"] == "invalidtoken"
    assert call(fake, "core_no_such_function", {})["errorcode"] == "invalidrecord"
    fake.service_functions.discard("core_user_create_users")
    assert call(fake, "core_user_create_users", {"users": []})["errorcode"] == "accessexception"


def test_functions_that_return_nothing_answer_null(fake: FakeMoodle) -> None:
    enrolment = {"roleid": fake.role_id("student"), "userid": 5, "courseid": 3}
    assert call(fake, "enrol_manual_enrol_users", {"enrolments": [enrolment]}) is None
    assert fake.courses_of(5) == {3}


def test_email_search_accepts_wildcards_and_by_field_is_exact(fake: FakeMoodle) -> None:
    found = call(fake, "core_user_get_users", {"criteria": [{"key": "email", "value": "%@EXAMPLE.com"}]})
    assert [u["username"] for u in found["users"]] == ["alex.example", "sam.sample", "kim.placeholder"]
    exact = call(fake, "core_user_get_users_by_field", {"field": "email", "values": ["Alex.Example@example.com"]})
    assert exact == []
