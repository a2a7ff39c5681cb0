"""Pure conversions: a listed Docebo user to an account, and the bodies of user writes."""

from __future__ import annotations

from pydantic import SecretStr

from enrolsync.connectors.docebo import mapping
from enrolsync.connectors.docebo.config import DoceboConfig
from enrolsync.connectors.docebo.models import EnrollmentItem, Row, UserItem
from enrolsync.connectors.model import AccountFields

CONFIG = DoceboConfig(
    base_url="https://acme.docebosaas.com/", client_id="c", client_secret=SecretStr("s"), external_id_field=3
)
FIELDS = AccountFields(
    username="ada@example.com", given_name="Ada", family_name="L", email="ada@example.com", external_id="E-9"
)


def test_a_listed_user_is_an_account_with_its_hr_id_and_status() -> None:
    user = UserItem.model_validate({
        "user_id": "12345", "username": "ada@example.com", "first_name": "Ada", "last_name": None,
        "email": "ada@example.com", "status": "0", "field_3": "E-9", "field_4": "other",
        "manager_names": {"1": {"manager_id": "777", "manager_username": "boss"}},
    })  # fmt: skip
    account = mapping.to_account(user, CONFIG)
    assert (account.account_id, account.active, account.fields.external_id) == ("12345", False, "E-9")
    assert account.fields.family_name == "" and user.manager(1) == "777" and user.manager(2) is None


def test_a_user_without_managers_listed_as_an_empty_array_has_none() -> None:
    assert UserItem.model_validate({"user_id": "1", "manager_names": []}).manager(1) is None


def test_the_import_names_the_username_username_and_single_writes_userid() -> None:
    imported = mapping.profile(FIELDS, CONFIG, username_key="username")
    updated = mapping.profile(FIELDS, CONFIG, username_key="userid")
    assert imported["username"] == updated["userid"] == "ada@example.com"
    assert imported["additional_fields"] == {"3": "E-9"}
    without = CONFIG.model_copy(update={"external_id_field": None})
    assert "additional_fields" not in mapping.profile(FIELDS, without, username_key="userid")


def test_only_untouched_enrolments_count_as_not_started() -> None:
    started = {s: EnrollmentItem(user_id=1, id=2, status=s).started for s in ("subscribed", "in_progress", "completed")}
    assert started == {"subscribed": False, "in_progress": True, "completed": True}


def test_a_rows_reason_joins_its_messages() -> None:
    assert Row(row_index=0, success=False, message=["Email already exists", "x"]).reason == "Email already exists; x"
    assert Row(row_index=0, success=False).reason == "refused by Docebo"


def test_ids_are_positive_integers_only() -> None:
    assert [mapping.numeric(v) for v in ("12", "0", "-1", "a1", None)] == [12, None, None, None, None]
