"""Pure conversions between domain accounts and LearnUpon user bodies."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import SecretStr

from enrolsync.connectors.learnupon import mapping
from enrolsync.connectors.learnupon.config import LearnUponConfig
from enrolsync.connectors.learnupon.models import LuUser
from enrolsync.connectors.model import AccountFields

CONFIG = LearnUponConfig(
    base_url="https://acme.learnupon.test/",
    api_username="u",
    api_password=SecretStr("p"),
    department_field="department",
    sso_auth="saml2",
    sso_field="sign_in",
)


def fields(**changes: Any) -> AccountFields:
    base = {
        "username": "ann.ward",
        "given_name": "Ann",
        "family_name": "Ward",
        "email": "ann.ward@example.com",
        "external_id": "E1",
        "department": "Sales",
        "auth": "saml2",
    }
    return AccountFields(**{**base, **changes})


def user(**changes: Any) -> LuUser:
    base = {
        "id": 7,
        "email": "ann.ward@example.com",
        "username": "ann.ward",
        "first_name": "Ann",
        "last_name": "Ward",
        "CustomData": {"employee_id": "E1", "department": "Sales", "sign_in": "saml2"},
    }
    return LuUser.model_validate({**base, **changes})


def test_a_new_learner_carries_hr_id_department_and_sso_marker() -> None:
    body = mapping.create_body(fields(), CONFIG)
    assert body["CustomData"] == {"employee_id": "E1", "department": "Sales", "sign_in": "saml2"}
    assert (body["user_type"], body["enabled"], body["username"]) == ("learner", True, "ann.ward")
    assert len(body["password"]) >= 6 and body["password"] != mapping.create_body(fields(), CONFIG)["password"]


@pytest.mark.parametrize(
    ("username", "sent"),
    [("ann.ward", True), ("ann", False), ("a" * 31, False), ("ann.ward@example.com", False)],
)
def test_a_username_is_sent_only_when_it_fits_and_differs_from_the_email(username: str, sent: bool) -> None:
    assert ("username" in mapping.profile(fields(username=username), CONFIG)) is sent


def test_a_username_portal_refuses_a_username_that_does_not_fit() -> None:
    with pytest.raises(ValueError, match="6 to 30"):
        mapping.profile(fields(username="ann"), CONFIG.model_copy(update={"identifier": "username"}))


def test_an_account_reads_back_as_written() -> None:
    account = mapping.to_account(user(), CONFIG)
    assert account.fields == fields(job_title=None, location=None)
    assert mapping.update_body(user(), fields(), CONFIG) is None


def test_an_update_sends_only_what_changed_and_clears_a_removed_department() -> None:
    change = mapping.update_body(user(), fields(family_name="Ward-Lind", department=None), CONFIG)
    assert change == {"last_name": "Ward-Lind", "CustomData": {"department": ""}}


def test_an_unmarked_account_has_no_known_auth() -> None:
    assert mapping.to_account(user(CustomData={"employee_id": "E1"}), CONFIG).fields.auth is None
    assert mapping.to_account(user(), CONFIG.model_copy(update={"sso_auth": None})).fields.auth is None
