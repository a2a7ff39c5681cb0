"""The SuccessFactors fake refuses what SuccessFactors refuses, so a connector that passes against it has been told
no when it asked wrongly: assertions that do not verify, unknown properties, bad filters, stale skip tokens."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import httpx
import pytest

from enrolsync.connectors.successfactors.fake import SuccessFactorsFake
from enrolsync.connectors.successfactors.fake.saml import signing_key
from enrolsync.connectors.successfactors.saml import signed_assertion

ROOT = "https://api4.successfactors.test/odata/v2/"


@pytest.fixture
def fake() -> SuccessFactorsFake:
    return SuccessFactorsFake.seeded(40, seed=2)


@pytest.fixture
def basic(fake: SuccessFactorsFake) -> httpx.Client:
    auth = (f"{fake.api_user}@{fake.company_id}", fake.password)
    return httpx.Client(transport=fake.transport(), base_url=ROOT, auth=auth)


def token(fake: SuccessFactorsFake, **changes: str) -> httpx.Response:
    key = signing_key()
    fields = {"user": fake.api_user, "client_id": fake.client_id, "recipient": ROOT.rstrip("/"), **changes}
    assertion = signed_assertion(**fields, private_key=key.private_key_pem, certificate=None, now=datetime.now(UTC))
    form = {"company_id": fake.company_id, "client_id": fake.client_id, "assertion": assertion,
            "grant_type": "urn:ietf:params:oauth:grant-type:saml2-bearer"}  # fmt: skip
    with httpx.Client(transport=fake.transport()) as client:
        return client.post("https://api4.successfactors.test/oauth/token", data=form)


def test_a_good_assertion_buys_a_token_that_reads(fake: SuccessFactorsFake) -> None:
    answer = token(fake)
    assert answer.status_code == 200 and answer.json()["token_type"] == "Bearer"
    headers = {"Authorization": f"Bearer {answer.json()['access_token']}"}
    with httpx.Client(transport=fake.transport(), base_url=ROOT, headers=headers) as client:
        assert client.get("User", params={"$format": "json", "$top": "1"}).status_code == 200
        fake.revoke_tokens()
        assert client.get("User", params={"$format": "json", "$top": "1"}).status_code == 401


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"client_id": "someone-else"}, "api_key"),
        ({"user": "admin"}, "no API user"),
        ({"recipient": "https://api4.successfactors.test/elsewhere"}, "recipient"),
    ],
)
def test_assertions_sf_would_refuse_are_refused(fake: SuccessFactorsFake, changes: dict[str, str], reason: str) -> None:
    answer = token(fake, **changes)
    assert answer.status_code == 401 and reason in answer.json()["error_description"]


def test_a_tampered_assertion_does_not_verify(fake: SuccessFactorsFake) -> None:
    key = signing_key()
    assertion = signed_assertion(user=fake.api_user, client_id=fake.client_id, recipient=ROOT.rstrip("/"),
                                 private_key=key.private_key_pem, certificate=None, now=datetime.now(UTC))  # fmt: skip
    forged = base64.b64encode(base64.b64decode(assertion).replace(b">sfapi<", b">admin<")).decode()
    form = {"company_id": fake.company_id, "client_id": fake.client_id, "assertion": forged,
            "grant_type": "urn:ietf:params:oauth:grant-type:saml2-bearer"}  # fmt: skip
    with httpx.Client(transport=fake.transport()) as client:
        answer = client.post("https://api4.successfactors.test/oauth/token", data=form)
    assert answer.status_code == 401 and "signature" in answer.json()["error_description"]


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"$select": "userId,noSuchField"}, "COE_PROPERTY_NOT_FOUND"),
        ({"$filter": "noSuchField eq 'x'"}, "COE_PROPERTY_NOT_FOUND"),
        ({"$filter": "userId eq"}, "COE_GENERAL_BAD_REQUEST"),
        ({"$filter": "lastModifiedDateTime gt datetimeoffset'2025-01-01T00:00:00'"}, "COE_GENERAL_BAD_REQUEST"),
        ({"$skiptoken": "made-up"}, "COE_INVALID_SKIPTOKEN"),
    ],
)
def test_bad_queries_get_sf_error_json(basic: httpx.Client, params: dict[str, str], code: str) -> None:
    answer = basic.get("User", params={"$format": "json", **params})
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["code"] == code and error["message"]["lang"] == "en-US" and error["message"]["value"]


def test_users_are_active_ones_unless_the_filter_names_the_status(
    basic: httpx.Client, fake: SuccessFactorsFake
) -> None:
    leavers = {p.user_id for p in map(fake.person, fake.hr_ids()) if p.user_status(fake.today) == "f"}
    assert leavers, "the seeded company has leavers"
    default = {u["userId"] for u in basic.get("User", params={"$format": "json"}).json()["d"]["results"]}
    every = basic.get("User", params={"$format": "json", "$filter": "status in 't','f'"}).json()["d"]["results"]
    assert not default & leavers and leavers <= {u["userId"] for u in every}


def test_effective_dating_answers_the_segment_in_force_unless_a_range_is_asked(
    basic: httpx.Client, fake: SuccessFactorsFake
) -> None:
    fake.move("105", department="Legal", on=fake.today.replace(year=fake.today.year + 1))
    params = {"$format": "json", "$filter": "userId eq 'E00105'", "$select": "department,startDate"}
    today = basic.get("EmpJob", params=params).json()["d"]["results"]
    ranged = basic.get("EmpJob", params={**params, "fromDate": "1900-01-01"}).json()["d"]["results"]
    assert [j["department"] for j in today] != ["Legal"] and len(today) == 1
    assert [j["department"] for j in ranged][-1] == "Legal" and len(ranged) == 2


def test_json_only(basic: httpx.Client) -> None:
    assert basic.get("User").status_code == 406
