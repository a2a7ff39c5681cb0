"""Helpers the Moodle connector's tests share: calling the fake over HTTP, and sample people."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import httpx

from enrolsync.connectors.model import AccountFields
from enrolsync.connectors.moodle.client import encode
from enrolsync.connectors.moodle.fake.server import FakeMoodle
from enrolsync.connectors.ops import CreateUser
from tests.support.connectors import MOODLE_TOKEN as TOKEN

URL = "https://moodle.example.test/webservice/rest/server.php"


def call(fake: FakeMoodle, function: str, params: dict[str, Any], token: str = TOKEN) -> Any:
    fields = [("wstoken", token), ("wsfunction", function), ("moodlewsrestformat", "json"), *encode(params)]
    response = fake.handler(httpx.Request("POST", URL, content=urlencode(fields).encode()))
    assert response.status_code == 200  # Moodle reports errors inside a 200
    return response.json()


def new_user(username: str, email: str) -> dict[str, Any]:
    return {"username": username, "firstname": "A", "lastname": "B", "email": email, "createpassword": True}


def person(n: int, **changes: str) -> AccountFields:
    fields = AccountFields(
        username=f"new.starter{n}",
        given_name="New",
        family_name=f"Starter {n}",
        email=f"new.starter{n}@example.com",
        external_id=f"H{n}",
    )
    return fields.model_copy(update=changes)


def creates(*fields: AccountFields) -> list[CreateUser]:
    return [CreateUser(hr_id=f.external_id or f.username, fields=f) for f in fields]
