"""Pure conversion between accounts and SCIM Users (scim2-models), and the PATCH operations a change needs."""

from __future__ import annotations

from scim2_models import Context, Email, EnterpriseUser, Manager, Name

from enrolsync.connectors.model import AccountFields
from enrolsync.connectors.scim import mapping
from enrolsync.connectors.scim.models import ENTERPRISE_URN, ScimUser

FIELDS = AccountFields(
    username="ada@example.com", given_name="Ada", family_name="Lovelace", email="ada@example.com",
    external_id="E-1", department="Engineering", job_title="Analyst",
)  # fmt: skip


def test_a_new_user_carries_the_hr_id_and_the_enterprise_department() -> None:
    body = mapping.to_user(FIELDS, enterprise=True).model_dump(scim_ctx=Context.RESOURCE_CREATION_REQUEST)
    assert body["externalId"] == "E-1" and body["userName"] == "ada@example.com" and body["active"] is True
    assert body["name"] == {"givenName": "Ada", "familyName": "Lovelace"} and body["displayName"] == "Ada Lovelace"
    assert body[ENTERPRISE_URN] == {"department": "Engineering"}
    assert ENTERPRISE_URN in body["schemas"]


def test_without_the_extension_no_enterprise_attribute_is_sent() -> None:
    body = mapping.to_user(FIELDS, enterprise=False).model_dump(scim_ctx=Context.RESOURCE_CREATION_REQUEST)
    assert ENTERPRISE_URN not in body and body["schemas"] == ["urn:ietf:params:scim:schemas:core:2.0:User"]


def held(**update: object) -> ScimUser:
    user = mapping.to_user(FIELDS, enterprise=True).model_copy(update={"id": "u1", **update})
    return user


def test_an_account_reads_the_primary_email_and_the_manager() -> None:
    user = held(
        emails=[Email(value="home@example.com", type=Email.Type.home), Email(value="w@example.com", primary=True)]
    )
    user[EnterpriseUser] = EnterpriseUser(department="Ops", manager=Manager(value="boss"))
    account = mapping.to_account(user)
    assert (account.account_id, account.fields.email, account.fields.department) == ("u1", "w@example.com", "Ops")
    assert mapping.manager_id(user) == "boss" and account.active is True
    assert mapping.to_account(held(active=False)).active is False


def test_usernames_and_emails_compare_caselessly_other_fields_exactly() -> None:
    assert mapping.differences(FIELDS, held(user_name="ADA@example.com"), enterprise=True) == []
    assert mapping.differences(FIELDS, held(external_id="e-1"), enterprise=True) == ["external_id"]
    assert mapping.differences(FIELDS.model_copy(update={"job_title": None}), held(title="x"), enterprise=True) == []


def test_a_rename_patches_the_names_and_the_display_name() -> None:
    renamed = FIELDS.model_copy(update={"family_name": "King"})
    changed = mapping.differences(renamed, held(name=Name(given_name="Ada", family_name="Lovelace")), enterprise=True)
    operations = [(o.op.value, o.path, o.value) for o in mapping.profile_operations(renamed, changed)]
    assert operations == [("replace", "name.familyName", "King"), ("replace", "displayName", "Ada King")]
