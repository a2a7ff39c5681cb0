"""The fake answers as TalentLMS's published v2 document says, and the connector asks only what it allows.

The document is a Postman conversion; `as_its_prose_says` fixes what its own description states but its paths
do not: `:id` path segments become templates, the list operations get the `page[number]` / `page[size]`
parameters the "Pagination" section describes, and the status table ("Code | Description": 204, 400, 401, 403,
404, 429, 500) applies to every endpoint. Nothing else is loosened: undocumented paths, query parameters and
fields of the declared response schemas (`UserListItem`, the user detail) fail.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from pydantic import SecretStr

from enrolsync.connectors.kit.client import build_client
from enrolsync.connectors.kit.retry import ReadRetry
from enrolsync.connectors.model import AccountFields, RoleScope
from enrolsync.connectors.ops import (
    AddToGroup,
    AssignRole,
    CreateUser,
    DeactivateUser,
    DeleteUser,
    Enrol,
    RemoveFromGroup,
    RevokeRole,
    SetSsoIdentity,
    Unenrol,
    UpdateUser,
)
from enrolsync.connectors.talentlms import TalentLMSTarget
from enrolsync.connectors.talentlms.fake import TalentLMSFake
from enrolsync.connectors.testing.fakes import FakeClock
from enrolsync.connectors.testing.openapi import ExchangeLog, OpenApiSpec, SpecViolation
from tests.support.talentlms import talentlms_config

SPEC = Path(__file__).parent / "openapi" / "talentlms-v2-openapi.yaml"
STATUS_TABLE = (204, 400, 401, 403, 404, 429, 500)
PAGED = ("/api/v2/users", "/api/v2/courses", "/api/v2/groups", "/api/v2/branches")


def as_its_prose_says(document: dict[str, Any]) -> dict[str, Any]:
    fixed = copy.deepcopy(document)
    paths: dict[str, Any] = {}
    for path, item in fixed["paths"].items():
        names = re.findall(r":(\w+)", path)
        for operation in (v for k, v in item.items() if k in ("get", "post", "put", "patch", "delete")):
            # Status keys are written `200:`, which YAML reads as integers; OpenAPI keys are strings.
            operation["responses"] = {str(code): answer for code, answer in operation.get("responses", {}).items()}
            declared = {p.get("name") for p in operation.setdefault("parameters", []) if p.get("in") == "path"}
            for name in names:
                if name not in declared:
                    operation["parameters"].append(
                        {"name": name, "in": "path", "required": True, "schema": {"type": "integer"}}
                    )
        paths[re.sub(r":(\w+)", r"{\1}", path)] = item
    fixed["paths"] = paths
    for path in PAGED:
        for name in ("page[number]", "page[size]"):
            paging = {"name": name, "in": "query", "required": False, "schema": {"type": "integer"}}
            paths[path]["get"].setdefault("parameters", []).append(paging)
    return fixed


@pytest.fixture(scope="module")
def spec() -> OpenApiSpec:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    document = yaml.load(SPEC.read_text(encoding="utf-8"), Loader=loader)  # noqa: S506 - a safe loader
    # The document's one server is `https://your-domain.talentlms.com`: each portal is its own host.
    portal = "your-domain.talentlms.com"
    return OpenApiSpec(
        as_its_prose_says(document), rewrite=lambda url: url.copy_with(host=portal), generic_statuses=STATUS_TABLE
    )


def fields(n: int, **change: str) -> AccountFields:
    base = {"username": f"spec.user{n}", "given_name": "Spec", "family_name": f"User {n}"}
    return AccountFields(**{**base, "email": f"spec.user{n}@example.com", "external_id": f"SP-{n}", **change})


async def drive(fake: TalentLMSFake, log: ExchangeLog, **overrides: Any) -> None:
    """Everything the connector does: check, every list, every op kind, refusals and a throttled answer."""
    config = talentlms_config(fake, **overrides)
    async with build_client(config, transport=log.transport()) as http:
        target = TalentLMSTarget(config, http, retry=ReadRetry(clock=FakeClock()))
        if not (await target.check()).ok:
            return
        course = str(min(fake.portal.courses))
        group = str(min(fake.portal.groups))
        created = await target.apply([CreateUser(hr_id=f"SP-{n}", fields=fields(n)) for n in (1, 2)])
        boss, report = (r.ref.id for r in created if r.ref)
        fake.fail_next(1, status=429, retry_after=1, when=lambda r: r.method == "GET")
        await target.apply([
            CreateUser(hr_id="SP-1", fields=fields(1)),  # already: a 400 for the login, then a lookup
            CreateUser(hr_id="SP-3", fields=fields(3, given_name="")),  # refused: name is required
            UpdateUser(hr_id="SP-1", account_id=boss, fields=fields(1, family_name="Renamed")),
            SetSsoIdentity(hr_id="SP-1", account_id=boss, auth="saml2", subject="boss@example.com"),
            Enrol(hr_id="SP-2", account_id=report, course_id=course),
            AssignRole(hr_id="SP-1", account_id=boss, role="instructor", scope=RoleScope.COURSE, scope_id=course),
            AssignRole(hr_id="SP-1", account_id=boss, role="manager", scope=RoleScope.USER, scope_id=report),
            AddToGroup(hr_id="SP-2", account_id=report, group_id=group),
            AddToGroup(hr_id="SP-2", account_id=report, group_id="branch:1"),
        ])  # fmt: skip
        _ = [a async for a in target.list_accounts()]
        _ = [e async for e in target.list_enrolments()]
        _ = [r async for r in target.list_role_assignments()]
        _ = [g async for g in target.list_group_memberships()]
        _ = [s async for s in target.list_sso_identities()]
        for field, value in (("email", "spec.user1@example.com"), ("username", "spec.user2"), ("external_id", "SP-1")):
            await target.find_accounts(field=field, values=[value])
        await target.apply([
            Unenrol(hr_id="SP-2", account_id=report, course_id=course),
            RevokeRole(hr_id="SP-1", account_id=boss, role="manager", scope=RoleScope.USER, scope_id=report),
            RemoveFromGroup(hr_id="SP-2", account_id=report, group_id=group),
            DeactivateUser(hr_id="SP-2", account_id=report),
            DeleteUser(hr_id="SP-2", account_id=report),
        ])  # fmt: skip
        _ = [c async for c in target.list_courses()]


async def test_every_exchange_matches_the_document(spec: OpenApiSpec) -> None:
    fake = TalentLMSFake.seeded()
    log = ExchangeLog(fake.handler)
    await drive(fake, log)
    await drive(fake, log, api_key=SecretStr("not-the-key-5d1e"))
    statuses = {response.status_code for _, response in log.exchanges}
    assert {200, 204, 400, 401, 429} <= statuses, statuses
    paths = {re.sub(r"\d+", "N", request.url.path) for request, _ in log.exchanges}
    assert len(paths) >= 10, paths
    for request, response in log.exchanges:
        spec.validate(request, response)


def authorised(fake: TalentLMSFake, method: str, path: str, **kwargs: Any) -> httpx.Request:
    headers = {"X-API-Key": fake.api_key, "X-API-Version": "2024-01-01", "Accept": "application/json"}
    return httpx.Request(method, f"https://{fake.domain}{path}", headers=headers, **kwargs)


@pytest.mark.parametrize(
    ("method", "path", "params"),
    [
        ("GET", "/api/v2/people", {}),  # undocumented path
        ("GET", "/api/v2/users", {"limit": "100"}),  # undocumented parameter (v2 pages with page[size])
        ("PUT", "/api/v2/users/5", {}),  # undocumented method
    ],
)
def test_undocumented_requests_fail(spec: OpenApiSpec, method: str, path: str, params: dict[str, str]) -> None:
    fake = TalentLMSFake.seeded()
    with pytest.raises(SpecViolation):
        spec.validate_request(authorised(fake, method, path, params=params))


def test_undocumented_user_fields_fail(spec: OpenApiSpec) -> None:
    fake = TalentLMSFake.seeded()
    request = authorised(fake, "GET", "/api/v2/users")
    answer = fake.handler(request).json()
    spec.validate_response(request, httpx.Response(200, json=answer))
    answer["_data"][0]["department"] = "Sales"
    with pytest.raises(SpecViolation):
        spec.validate_response(request, httpx.Response(200, json=answer))
