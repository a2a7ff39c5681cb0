"""Pure pieces of the Canvas connector: names, logins, providers, error reasons and the concurrency budget."""

from __future__ import annotations

import httpx
import pytest

from enrolsync.connectors.canvas import mapping
from enrolsync.connectors.canvas.budget import Budget
from enrolsync.connectors.canvas.errors import classify
from enrolsync.connectors.canvas.models import AuthenticationProvider, CanvasUser, Login
from enrolsync.connectors.errors import AuthError, Invalid, TransientError
from enrolsync.connectors.model import AccountFields

FIELDS = AccountFields(username="ana@acme.test", given_name="Ana María", family_name="de la Cruz",
                       email="ana@acme.test", external_id="E/7")  # fmt: skip


def test_names_round_trip_through_the_sortable_name() -> None:
    form = dict(mapping.names(FIELDS))
    assert form == {"user[name]": "Ana María de la Cruz", "user[short_name]": "Ana María",
                    "user[sortable_name]": "de la Cruz, Ana María"}  # fmt: skip
    user = CanvasUser(id=1, name="x", sortable_name=str(form["user[sortable_name]"]))
    assert mapping.split_sortable(user) == ("Ana María", "de la Cruz")
    assert mapping.profile_changes(CanvasUser(id=1, sortable_name="de la Cruz, Ana María", email="ANA@acme.test"),
                                   FIELDS) == []  # fmt: skip


@pytest.mark.parametrize(
    ("name", "sortable", "expected"),
    [("Kim Lee", "", ("Kim", "Lee")), ("Prince", "", ("Prince", "")), ("Kim Lee", "Lee, Kim", ("Kim", "Lee"))],
)
def test_names_made_by_hand_in_canvas_are_read_sensibly(name: str, sortable: str, expected: tuple[str, str]) -> None:
    assert mapping.split_sortable(CanvasUser(id=1, name=name, sortable_name=sortable)) == expected


def login(
    id: int, unique_id: str, *, sis: str | None = None, provider: int | None = None, state: str = "active"
) -> Login:
    return Login(id=id, user_id=1, unique_id=unique_id, sis_user_id=sis, authentication_provider_id=provider,
                 workflow_state=state)  # fmt: skip


def test_the_account_reads_the_sis_login_and_is_active_while_any_login_is() -> None:
    logins = [login(5, "ana@idp.acme.test", provider=9, state="suspended"), login(7, "ana@acme.test", sis="E/7")]
    user = CanvasUser(id=1, sortable_name="de la Cruz, Ana María", email="ana@acme.test", sis_user_id="E/7")
    account = mapping.to_account(user, logins)
    assert account.fields == FIELDS and account.active
    suspended = [lg.model_copy(update={"workflow_state": "suspended"}) for lg in logins]
    assert not mapping.to_account(user, suspended).active


def test_providers_by_type_or_id_and_back() -> None:
    providers = [AuthenticationProvider(id=1, auth_type="canvas", position=1),
                 AuthenticationProvider(id=4, auth_type="saml", position=3),
                 AuthenticationProvider(id=3, auth_type="saml", position=2)]  # fmt: skip
    names = {"saml2": "saml", "staff": "4"}
    assert mapping.provider_id("saml2", providers, names) == 3, "the first SAML provider by position"
    assert mapping.provider_id("staff", providers, names) == 4
    assert mapping.provider_id("oidc", providers, names) is None
    assert [mapping.auth_name(p, names) for p in providers] == ["canvas", "staff", "saml2"]


def response(status: int, body: bytes, content_type: str = "application/json") -> httpx.Response:
    return httpx.Response(status, content=body, headers={"Content-Type": content_type})


@pytest.mark.parametrize(
    ("answer", "kind", "reason"),
    [
        (response(403, b"403 Forbidden (Rate Limit Exceeded)\n", "text/plain"), TransientError,
         "Canvas rate limit exceeded"),
        (response(403, b'{"status":"unauthorized","errors":[{"message":"user not authorized to perform that '
                       b'action"}]}'),
         AuthError, "user not authorized to perform that action"),
        (response(400, b'{"errors":{"pseudonym":{"unique_id":[{"attribute":"unique_id","type":"taken",'
                       b'"message":"ID already in use for this account and authentication provider"}]}}}'),
         Invalid, "pseudonym.unique_id: ID already in use for this account and authentication provider"),
        (response(400, b'{"message":"Invalid type"}'), Invalid, "Invalid type"),
    ],
)  # fmt: skip
def test_errors_in_each_of_canvas_shapes(answer: httpx.Response, kind: type[Exception], reason: str) -> None:
    error = classify(answer)
    assert type(error) is kind and error is not None and error.reason == reason


async def test_the_budget_follows_the_remaining_quota() -> None:
    budget = Budget(ceiling=3)

    async def seen(headers: dict[str, str], status: int = 200, body: bytes = b"[]") -> int:
        await budget.observe(httpx.Response(status, content=body, headers=headers))
        return budget.limit

    assert await seen({"X-Request-Cost": "1.5"}) == 3, "no throttling header: unchanged"
    assert await seen({"X-Rate-Limit-Remaining": "650.0"}) == 3
    assert await seen({"X-Rate-Limit-Remaining": "250"}) == 2
    assert await seen({"X-Rate-Limit-Remaining": "120"}) == 1
    assert await seen({"X-Rate-Limit-Remaining": "0"}, 403, b"403 Forbidden (Rate Limit Exceeded)") == 1
    assert await seen({"X-Rate-Limit-Remaining": "700"}) == 3
    assert (budget.throttled, budget.spent) == (1, 1.5)
