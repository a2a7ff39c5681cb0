"""Pure mapping between domain records and Moodle user fields."""

from __future__ import annotations

import json

import pytest

from enrolsync.connectors.model import AccountFields, RoleScope
from enrolsync.connectors.moodle import mapping
from enrolsync.connectors.moodle.fake.server import PAYLOADS
from enrolsync.connectors.moodle.models import MoodleUser

FIELDS = AccountFields(
    username="Alex.Example",
    given_name="Alex",
    family_name="Example",
    email="alex.example@example.com",
    external_id="E1001",
    department="Operations",
    job_title="Analyst",
    location="Springfield",
)


def sample_users() -> list[MoodleUser]:
    return [MoodleUser.model_validate(u) for u in json.loads((PAYLOADS / "users.json").read_text())]


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("Alex.Example", "alex.example"),
        ("  jo@example.com ", "jo@example.com"),
        ("o'brien", None),  # cleaning would drop the quote: Moodle rejects the value
        ("two words", None),
        ("", None),
    ],
)
def test_usernames_are_lower_cased_or_refused(given: str, expected: str | None) -> None:
    assert mapping.normal_username(given) == expected


def test_sample_users_become_accounts() -> None:
    alex, sam, kim = (mapping.to_account(u, job_title_field="jobtitle") for u in sample_users())
    assert alex.account_id == "3" and alex.fields.external_id == "E1001" and alex.fields.location == "Springfield"
    assert alex.fields.department == "Operations" and alex.active
    assert sam.fields.auth == "saml2" and sam.fields.job_title == "Trainer"
    assert kim.fields.external_id is None and kim.fields.department is None and not kim.active


def test_create_payload_for_a_manual_account_asks_moodle_to_mail_a_password() -> None:
    payload = mapping.create_payload(FIELDS, default_auth="manual", job_title_field="jobtitle")
    assert payload == {
        "username": "alex.example",
        "firstname": "Alex",
        "lastname": "Example",
        "email": "alex.example@example.com",
        "idnumber": "E1001",
        "department": "Operations",
        "city": "Springfield",
        "auth": "manual",
        "customfields": [{"type": "jobtitle", "value": "Analyst"}],
        "createpassword": True,
    }


def test_create_payload_for_an_sso_account_has_no_password() -> None:
    fields = FIELDS.model_copy(update={"auth": "saml2", "department": None, "location": None})
    payload = mapping.create_payload(fields, default_auth="manual", job_title_field=None)
    assert payload["auth"] == "saml2"
    assert "createpassword" not in payload and "department" not in payload and "customfields" not in payload


def test_create_payload_refuses_a_username_moodle_would_reject() -> None:
    with pytest.raises(ValueError, match="username"):
        mapping.create_payload(
            FIELDS.model_copy(update={"username": "a b"}), default_auth="manual", job_title_field=None
        )


def test_update_payload_names_only_what_changed() -> None:
    alex = sample_users()[0]
    same = FIELDS.model_copy(update={"job_title": None})
    assert mapping.update_payload(alex, same, job_title_field=None) is None
    moved = same.model_copy(update={"department": "Finance", "location": None})
    assert mapping.update_payload(alex, moved, job_title_field=None) == {"id": 3, "department": "Finance", "city": ""}


def test_update_payload_leaves_identity_fields_alone_when_unset() -> None:
    alex = sample_users()[0]
    fields = FIELDS.model_copy(update={"external_id": None, "auth": None, "job_title": None})
    assert mapping.update_payload(alex, fields, job_title_field=None) is None


def test_sso_payload_sets_auth_and_subject_field() -> None:
    alex = sample_users()[0]
    assert mapping.sso_payload(alex, "saml2", "Alex.Example@example.com", "email") == {
        "id": 3,
        "auth": "saml2",
        "email": "Alex.Example@example.com",
    }
    assert mapping.sso_payload(alex, "oidc", "A.Example", "username") == {
        "id": 3,
        "auth": "oidc",
        "username": "a.example",
    }
    sam = sample_users()[1]
    assert mapping.sso_payload(sam, "saml2", "SAM.sample@example.com", "email") is None  # emails match case-blind


def test_mirror_tokens_round_trip() -> None:
    tokens = {mapping.mirror_token("manager", RoleScope.SYSTEM, 7), mapping.mirror_token("parent", RoleScope.USER, 9)}
    value = mapping.format_mirror(tokens)
    assert value == "manager,parent@9"
    assert mapping.parse_mirror(value + ", ,") == tokens
    assert mapping.mirror_assignments(3, value) == [
        (3, "manager", RoleScope.SYSTEM, None, True),
        (9, "parent", RoleScope.USER, 3, True),
    ]
    pending = mapping.format_mirror({mapping.pending_token("parent@9"), "manager"})
    assert pending == "manager,pending:parent@9"
    assert mapping.mirror_assignments(3, pending)[1] == (9, "parent", RoleScope.USER, 3, False)


@pytest.mark.parametrize(("given", "expected"), [("12", 12), ("0", None), ("no-such-course", None), (None, None)])
def test_numeric_ids(given: str | None, expected: int | None) -> None:
    assert mapping.numeric_id(given) == expected


def test_custom_reads_the_named_field_or_nothing() -> None:
    user = MoodleUser.model_validate(
        {"id": 7, "customfields": [{"shortname": "a", "value": "1"}, {"shortname": "b", "value": "2"}]}
    )
    assert (user.custom("a"), user.custom("b"), user.custom("c")) == ("1", "2", "")
