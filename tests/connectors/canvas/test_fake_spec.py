"""The connector's requests and the fake's answers, checked against Instructure's published Swagger 1.2 documents
(`vendor-specs/canvas-*.json`): every parameter sent is documented for its operation (enums and required ones
too), and every 2xx answer has only its model's fields, with their types."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from enrolsync.connectors.canvas import CanvasTarget
from enrolsync.connectors.canvas.config import CanvasConfig
from enrolsync.connectors.canvas.fake import FakeCanvas
from enrolsync.connectors.kit.client import build_client
from enrolsync.connectors.kit.retry import ReadRetry
from enrolsync.connectors.model import AccountFields, RoleScope
from enrolsync.connectors.ops import (
    AssignRole,
    CreateUser,
    DeactivateUser,
    DeleteUser,
    Enrol,
    ReactivateUser,
    RevokeRole,
    SetSsoIdentity,
    Unenrol,
    UpdateUser,
)
from enrolsync.connectors.testing.fakes import FakeClock
from enrolsync.connectors.testing.swagger12 import SwaggerDocs

SPECS = Path(__file__).parent / "swagger"
SPEC_FILES = sorted(SPECS.glob("canvas-*.json"))
# Operations the connector uses that the 2021 snapshot of the documents does not hold, each with its source.
UNDOCUMENTED = {
    # User Observees API (https://canvas.instructure.com/doc/api/user_observees.html): not among the snapshot's files.
    ("GET", "/api/v1/users/{}/observees"),
    ("PUT", "/api/v1/users/{}/observees/{}"),
    ("DELETE", "/api/v1/users/{}/observees/{}"),
}
# Parameters newer than the snapshot: `include[]=email` on List users in account is in the current documentation
# (https://canvas.instructure.com/doc/api/users.html#method.users.api_index: avatar_url, email, last_login...).
EXTRA = {("GET", "/v1/accounts/{account_id}/users"): frozenset({"include"})}

pytestmark = pytest.mark.skipif(not SPEC_FILES, reason="the vendor documents are not on this machine")

Exchange = tuple[httpx.Request, httpx.Response]


def shape(path: str) -> str:
    return "/".join("{}" if part.isdigit() else part for part in path.split("/"))


def problems(docs: SwaggerDocs, exchanges: list[Exchange]) -> list[str]:
    found: list[str] = []
    for request, response in exchanges:
        op = docs.operation(request.method, request.url.path)
        if op is None:
            if (request.method, shape(request.url.path)) not in UNDOCUMENTED:
                found.append(f"{request.method} {request.url.path}: no such operation in the documents")
            continue
        found += docs.request_problems(request, op, extra=EXTRA.get((op.method, op.template), frozenset()))
        found += docs.response_problems(response, op)
    return found


@pytest.fixture
def docs() -> SwaggerDocs:
    return SwaggerDocs.load(SPEC_FILES)


@pytest.fixture
def exchanges() -> list[Exchange]:
    return []


@pytest.fixture
async def recorded(
    config: CanvasConfig, fake: FakeCanvas, clock: FakeClock, exchanges: list[Exchange]
) -> AsyncIterator[CanvasTarget]:
    def handler(request: httpx.Request) -> httpx.Response:
        response = fake.handler(request)
        exchanges.append((request, response))
        return response

    async with build_client(config, transport=httpx.MockTransport(handler)) as http:
        yield CanvasTarget(config, http, retry=ReadRetry(attempts=2, clock=clock))


def fields(n: int, **changes: str) -> AccountFields:
    base = AccountFields(username=f"spec.user{n}", given_name="Spec", family_name=f"User {n}",
                         email=f"spec.user{n}@example.com", external_id=f"SP-{n}")  # fmt: skip
    return base.model_copy(update=changes)


async def test_every_call_the_connector_makes_keeps_the_documents(
    recorded: CanvasTarget, fake: FakeCanvas, docs: SwaggerDocs, exchanges: list[Exchange]
) -> None:
    course = str(max(fake.state.courses))  # Secure Coding; SAFETY-101 is named by its SIS id below
    t = recorded
    assert (await t.check()).ok
    [made, boss] = await t.apply(
        [CreateUser(hr_id="SP-1", fields=fields(1)), CreateUser(hr_id="SP-2", fields=fields(2))]
    )
    one, two = made.ref.id if made.ref else "", boss.ref.id if boss.ref else ""
    ops = [
        UpdateUser(hr_id="SP-1", account_id=one, fields=fields(1, family_name="Renamed", username="spec.renamed")),
        SetSsoIdentity(hr_id="SP-1", account_id=one, auth="saml2", subject="spec.renamed"),
        SetSsoIdentity(hr_id="SP-2", account_id=two, auth="saml2", subject="sso.subject2@example.com"),
        Enrol(hr_id="SP-1", account_id=one, course_id=course),
        Enrol(hr_id="SP-1", account_id=one, course_id="sis_course_id:SAFETY-101"),
        AssignRole(hr_id="SP-2", account_id=two, role="instructor", scope=RoleScope.COURSE, scope_id=course),
        AssignRole(
            hr_id="SP-2", account_id=two, role="manager", scope=RoleScope.USER, scope_id=one, scope_hr_id="SP-1"
        ),
    ]
    for op in ops:
        assert [r.outcome for r in await t.apply([op])] == ["done"], op
    for hr_id, account_id in (("SP-1", one), ("SP-2", two)):
        [off] = await t.apply([DeactivateUser(hr_id=hr_id, account_id=account_id)])
        [on] = await t.apply([ReactivateUser(hr_id=hr_id, account_id=account_id)])
        assert (off.outcome, on.outcome) == ("done", "done")
    [a] = await t.apply(
        [RevokeRole(hr_id="SP-2", account_id=two, role="instructor", scope=RoleScope.COURSE, scope_id=course)]
    )
    [b] = await t.apply([Unenrol(hr_id="SP-1", account_id=one, course_id=course)])
    [c] = await t.apply([Enrol(hr_id="SP-1", account_id=one, course_id=course)])
    [d] = await t.apply([CreateUser(hr_id="SP-3", fields=fields(3))])
    [e] = await t.apply([DeleteUser(hr_id="SP-3", account_id=d.ref.id if d.ref else "")])
    assert (a.outcome, b.outcome, c.outcome, e.outcome) == ("done", "done", "done", "done")
    _ = [x async for x in t.list_accounts()], [x async for x in t.list_sso_identities()]
    _ = [x async for x in t.list_enrolments()], [x async for x in t.list_role_assignments()]
    fake.require(int(course), 3)  # module based: bulk_user_progress answers each student's CourseProgress
    fake.meet(int(one), int(course), 1, "2026-10-01T08:00:00Z")
    read = {p.course_id: p.percent async for p in t.list_progress(course_ids=[course, "sis_course_id:SAFETY-101"])}
    assert read == {course: 100 / 3, "sis_course_id:SAFETY-101": None}
    for field, value in (("external_id", "SP-1"), ("username", "spec.user2"), ("email", "SPEC.USER2@example.com")):
        assert len(await t.find_accounts(field=field, values=[value])) == 1, field

    assert problems(docs, exchanges) == []
    documented = {(op.method, op.template) for r, _ in exchanges if (op := docs.operation(r.method, r.url.path))}
    assert len(documented) >= 15, sorted(documented)  # the check covered the API, not a corner of it


def test_the_check_catches_an_undocumented_field_and_parameter(docs: SwaggerDocs, fake: FakeCanvas) -> None:
    user = next(iter(fake.state.users.values()))
    request = httpx.Request("GET", f"https://canvas.example.test/api/v1/users/{user.id}?colour=blue",
                            headers={"Authorization": f"Bearer {fake.token}"})  # fmt: skip
    response = fake.handler(request)
    body = {**response.json(), "favourite_colour": "blue", "id": "not-a-number"}
    doctored = httpx.Response(200, json=body)
    assert problems(docs, [(request, doctored)]) == [
        "GET /v1/users/{id}: undocumented parameter 'colour'",
        "GET /v1/users/{id}: User has no field 'favourite_colour'",
        "GET /v1/users/{id} User.id: 'not-a-number' is not a integer",
    ]


def test_a_wrong_enum_value_and_a_missing_required_parameter_are_caught(docs: SwaggerDocs) -> None:
    request = httpx.Request(
        "POST", "https://canvas.example.test/api/v1/courses/7/enrollments",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        content=b"enrollment%5Btype%5D=LearnerEnrollment",
    )  # fmt: skip
    op = docs.operation("POST", request.url.path)
    assert op is not None
    assert docs.request_problems(request, op) == [
        "POST /v1/courses/{course_id}/enrollments: enrollment[type]='LearnerEnrollment' is not one of "
        "['StudentEnrollment', 'TeacherEnrollment', 'TaEnrollment', 'ObserverEnrollment', 'DesignerEnrollment']",
        "POST /v1/courses/{course_id}/enrollments: required parameter 'enrollment[user_id]' missing",
    ]
