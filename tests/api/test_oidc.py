"""OIDC access tokens: verified against the issuer's JWKS, served here from a local key pair through a transport."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlsplit

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from enrolsync.api.oidc import OidcConfig, claim_roles
from enrolsync.settings import Settings
from enrolsync.sync.store.tables import ApiRole, utcnow
from tests.support.api import Clock, MakeClient, app_settings
from tests.support.assertions import assert_problem
from tests.support.database import Database
from tests.support.leaks import LeakGuard

ISSUER = "https://idp.example.test/realms/acme"
AUDIENCE = "enrolsync"


class Issuer:
    """A stand-in identity provider: discovery document and JWKS, with a request log and an outage switch."""

    def __init__(self, key: RSAKey) -> None:
        self.keys = [key]
        self.requests: list[str] = []
        self.down = False
        self.codes: dict[str, str] = {}  # authorization code -> the PKCE challenge it was issued for (web sign-in)
        self.redeemed: list[dict[str, str]] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request.url.path)
        if self.down:
            return httpx.Response(503)
        if request.url.path == "/realms/acme/.well-known/openid-configuration":
            return httpx.Response(
                200,
                json={
                    "issuer": ISSUER,
                    "jwks_uri": f"{ISSUER}/protocol/openid-connect/certs",
                    "authorization_endpoint": f"{ISSUER}/protocol/openid-connect/auth",
                    "token_endpoint": f"{ISSUER}/protocol/openid-connect/token",
                },
            )
        if request.url.path == "/realms/acme/protocol/openid-connect/certs":
            return httpx.Response(200, json={"keys": [key.as_dict(private=False) for key in self.keys]})
        if request.url.path == "/realms/acme/protocol/openid-connect/token" and request.method == "POST":
            return self.token(dict(parse_qsl(request.content.decode())))
        return httpx.Response(404)

    def token(self, form: dict[str, str]) -> httpx.Response:
        """RFC 6749 4.1.3 with RFC 7636's check: the code's challenge must be the S256 of the verifier sent."""
        self.redeemed.append(form)
        challenge = self.codes.pop(form.get("code", ""), None)
        digest = hashlib.sha256(form.get("code_verifier", "").encode()).digest()
        if challenge is None or challenge != base64.urlsafe_b64encode(digest).rstrip(b"=").decode():
            return httpx.Response(400, json={"error": "invalid_grant"})
        return httpx.Response(200, json={"access_token": sign(self.keys[0]), "token_type": "Bearer"})


@pytest.fixture(scope="module")
def signing_key() -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": "k1", "use": "sig", "alg": "RS256"})


@pytest.fixture(scope="module")
def other_key() -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": "k2", "use": "sig", "alg": "RS256"})


@pytest.fixture
def issuer(signing_key: RSAKey) -> Issuer:
    return Issuer(signing_key)


@pytest.fixture
def oidc_transport(issuer: Issuer) -> httpx.AsyncBaseTransport:
    return httpx.MockTransport(issuer.handler)


@pytest.fixture
def settings(db: Database, tmp_path: Path) -> Settings:
    return app_settings(db, tmp_path, oidc_issuer=ISSUER, oidc_audience=AUDIENCE, oidc_client_id="enrolsync-web")


def claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {
        "iss": ISSUER,
        "aud": [AUDIENCE, "account"],
        "sub": "f1e2d3c4",
        "preferred_username": "ops.lead",
        "iat": now,
        "nbf": now - 5,
        "exp": now + 300,
        "enrolsync_role": "operator",
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def sign(key: RSAKey, alg: str = "RS256", **changes: Any) -> str:
    return jwt.encode({"alg": alg, "kid": key.kid or "k1", "typ": "at+jwt"}, claims(**changes), key)


@pytest.fixture
def bearer(make_client: MakeClient, leak_guard: LeakGuard) -> Any:
    def make(token: str) -> httpx.AsyncClient:
        leak_guard.watch(token.rsplit(".", 1)[-1])  # the signature: a token's own secret part
        return make_client(token)

    return make


async def test_a_valid_access_token_acts_with_its_role(bearer: Any, signing_key: RSAKey, issuer: Issuer) -> None:
    client = bearer(sign(signing_key))

    assert (await client.get("/pipelines")).status_code == 200
    assert (await client.post("/pipelines/missing/runs")).status_code == 404  # operator: allowed, pipeline unknown
    assert_problem(await client.post("/connections", json={}), 403)  # admin only
    assert (await client.get("/pipelines")).status_code == 200
    # Discovery, then the keys, once: later requests use the cached keys.
    assert issuer.requests == [
        "/realms/acme/.well-known/openid-configuration",
        "/realms/acme/protocol/openid-connect/certs",
    ]


async def test_the_audit_names_the_oidc_subject(
    bearer: Any, signing_key: RSAKey, make_client: MakeClient, tokens: dict[ApiRole, str]
) -> None:
    admin = bearer(sign(signing_key, enrolsync_role=["viewer", "admin"]))
    created = await admin.post("/connections", json={"name": "hr", "connector": "memory-source", "config": {}})
    assert created.status_code == 201

    entries = (await make_client(tokens[ApiRole.ADMIN]).get("/audit")).json()["items"]

    assert [(e["actor"], e["actor_name"], e["role"], e["action"]) for e in entries] == [
        ("oidc:f1e2d3c4", "ops.lead", "admin", "connection.create")
    ]


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"iss": "https://evil.example.test/realms/acme"}, "invalid_claim"),
        ({"aud": "another-app"}, "invalid_claim"),
        ({"exp": int(time.time()) - 120}, "expired_token"),
        ({"nbf": int(time.time()) + 600}, "invalid_claim"),
        ({"exp": None}, "missing_claim"),
        ({"sub": None}, "no subject"),
    ],
)
async def test_claims_are_checked(bearer: Any, signing_key: RSAKey, changes: dict[str, Any], reason: str) -> None:
    response = await bearer(sign(signing_key, **changes)).get("/pipelines")

    assert reason in assert_problem(response, 401)["detail"]
    assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'


async def test_a_token_signed_by_another_key_is_refused(bearer: Any, signing_key: RSAKey) -> None:
    impostor = RSAKey.import_key(RSAKey.generate_key(2048).as_dict(private=True), parameters={"kid": "k1"})

    response = await bearer(sign(impostor)).get("/pipelines")

    assert "bad_signature" in assert_problem(response, 401)["detail"]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forge(alg: str, secret: bytes | None) -> str:
    """A token with a chosen `alg`, built by hand: joserfc refuses to make these, an attacker does not."""
    header = _b64(json.dumps({"alg": alg, "kid": "k1"}).encode())
    payload = _b64(json.dumps(claims(enrolsync_role="admin")).encode())
    signature = b"" if secret is None else hmac.new(secret, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{_b64(signature)}"


async def test_symmetric_and_unsigned_tokens_are_refused(bearer: Any, signing_key: RSAKey) -> None:
    # HS256 keyed with the public key's bytes is the classic algorithm-confusion attack; `none` is no signature.
    for token in (forge("HS256", signing_key.as_pem(private=False)), forge("none", None)):
        assert_problem(await bearer(token).get("/pipelines"), 401)


async def test_a_token_without_a_role_is_forbidden(bearer: Any, signing_key: RSAKey) -> None:
    for role in (None, "superuser", ["auditor"]):
        response = await bearer(sign(signing_key, enrolsync_role=role)).get("/pipelines")

        assert "names no enrolsync role" in assert_problem(response, 403)["detail"]


async def test_rotated_keys_are_fetched_again(
    bearer: Any, signing_key: RSAKey, other_key: RSAKey, issuer: Issuer, clock: Clock
) -> None:
    start = utcnow()
    clock.moment = start
    assert (await bearer(sign(signing_key)).get("/pipelines")).status_code == 200
    issuer.keys = [signing_key, other_key]  # the issuer rotates: new tokens are signed with k2
    certs = "/realms/acme/protocol/openid-connect/certs"

    # Within the refetch pause an unknown key id is not chased, so random key ids cannot hammer the issuer.
    assert_problem(await bearer(sign(other_key)).get("/pipelines"), 401)
    assert issuer.requests.count(certs) == 1
    clock.moment = start + timedelta(seconds=31)
    assert (await bearer(sign(other_key)).get("/pipelines")).status_code == 200
    assert issuer.requests.count(certs) == 2


async def test_known_keys_outlive_an_issuer_outage(
    bearer: Any, signing_key: RSAKey, issuer: Issuer, clock: Clock
) -> None:
    start = utcnow()
    clock.moment = start
    assert (await bearer(sign(signing_key)).get("/pipelines")).status_code == 200
    issuer.down = True
    clock.moment = start + timedelta(minutes=10)  # past the key cache's lifetime
    later = sign(signing_key, exp=int(time.time()) + 3600)

    assert (await bearer(later).get("/pipelines")).status_code == 200


async def test_an_unreachable_issuer_is_503_not_401(bearer: Any, signing_key: RSAKey, issuer: Issuer) -> None:
    issuer.down = True

    response = await bearer(sign(signing_key)).get("/pipelines")

    assert_problem(response, 503)


def test_nested_and_list_role_claims() -> None:
    assert claim_roles({"realm_access": {"roles": ["offline", "operator"]}}, "realm_access.roles") == {ApiRole.OPERATOR}
    assert claim_roles({"role": "admin"}, "role") == {ApiRole.ADMIN}
    assert claim_roles({"role": 7}, "role") == frozenset()
    assert claim_roles({}, "realm_access.roles") == frozenset()


def test_an_issuer_without_an_audience_is_refused(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, oidc_issuer=ISSUER)

    with pytest.raises(ValueError, match="AUDIENCE"):
        OidcConfig.from_settings(settings)


@pytest.mark.parametrize(
    ("issuer", "jwks", "accepted"),
    [
        ("http://idp.example.test/realms/acme", None, False),
        (ISSUER, "http://idp.example.test/certs", False),
        ("http://127.0.0.1:8081/realms/acme", None, True),  # a local fake, as in the demo
    ],
)
def test_keys_are_only_fetched_over_https(tmp_path: Path, issuer: str, jwks: str | None, accepted: bool) -> None:
    settings = Settings(data_dir=tmp_path, oidc_issuer=issuer, oidc_audience=AUDIENCE, oidc_jwks_url=jwks)

    if accepted:
        assert OidcConfig.from_settings(settings) is not None
    else:
        with pytest.raises(ValueError, match="https"):
            OidcConfig.from_settings(settings)


def test_keysets_import_the_served_document(signing_key: RSAKey) -> None:
    served = Issuer(signing_key).handler(httpx.Request("GET", f"{ISSUER}/protocol/openid-connect/certs")).json()

    assert [key.kid for key in KeySet.import_key_set(served).keys] == ["k1"]


async def test_a_manager_token_carries_their_hr_id_or_is_refused(bearer: Any, signing_key: RSAKey) -> None:
    manager = bearer(sign(signing_key, enrolsync_role="manager", hr_id="M"))
    nameless = bearer(sign(signing_key, enrolsync_role="manager"))

    assert (await manager.get("/pipelines/missing/teams/M")).status_code == 404  # let through: no such pipeline
    assert "viewer" in assert_problem(await manager.get("/pipelines"), 403)["detail"]
    assert "hr_id" in assert_problem(await nameless.get("/pipelines/missing/teams/M"), 403)["detail"]


async def test_an_access_token_signs_the_web_page_in_with_its_role(
    make_client: MakeClient, signing_key: RSAKey, leak_guard: LeakGuard
) -> None:
    token = sign(signing_key)
    leak_guard.watch(token.rsplit(".", 1)[-1])
    browser = make_client(None)

    signed_in = await browser.post("/ui/sign-in", data={"token": token})
    assert signed_in.status_code == 303
    browser.headers["Cookie"] = f"enrolsync_ui={token}"
    page = await browser.get("/ui")

    assert page.status_code == 200
    assert "ops.lead" in page.text and "operator" in page.text
    assert (await browser.get("/ui/connections")).status_code == 200
    expired = sign(signing_key, exp=int(time.time()) - 3600)
    browser.headers["Cookie"] = f"enrolsync_ui={expired}"
    assert (await browser.get("/ui")).headers["location"] == "/ui/sign-in?next=/ui"


async def test_single_sign_on_on_the_web_page(make_client: MakeClient, issuer: Issuer, leak_guard: LeakGuard) -> None:
    browser = make_client(None)
    assert 'href="/ui/sign-in/oidc"' in (await browser.get("/ui/sign-in")).text

    started = await browser.get("/ui/sign-in/oidc")

    assert started.status_code == 303
    target = urlsplit(started.headers["location"])
    assert f"{target.scheme}://{target.netloc}{target.path}" == f"{ISSUER}/protocol/openid-connect/auth"
    asked = {k: v[0] for k, v in parse_qs(target.query).items()}
    assert asked["client_id"] == "enrolsync-web" and asked["response_type"] == "code"
    assert asked["redirect_uri"] == "http://enrolsync.test/ui/sign-in/oidc/callback"
    assert asked["code_challenge_method"] == "S256" and asked["scope"] == "openid profile"
    flow = started.headers["set-cookie"]
    assert "httponly" in flow.lower() and "samesite=lax" in flow.lower() and "path=/ui/sign-in/oidc" in flow.lower()
    remembered = flow.split(";", 1)[0].split("=", 1)[1]
    browser.headers["Cookie"] = f"enrolsync_ui_sso={remembered}"

    forged = await browser.get("/ui/sign-in/oidc/callback", params={"code": "c1", "state": "forged"})
    assert forged.status_code == 400 and "enrolsync_ui=" not in forged.headers.get("set-cookie", "")
    assert issuer.redeemed == [], "a callback with another state redeems nothing"

    issuer.codes["c1"] = asked["code_challenge"]
    back = await browser.get("/ui/sign-in/oidc/callback", params={"code": "c1", "state": asked["state"]})

    assert back.status_code == 200, back.text
    assert issuer.redeemed[0]["redirect_uri"] == asked["redirect_uri"]
    session = next(c for c in back.headers.get_list("set-cookie") if c.startswith("enrolsync_ui="))
    assert "samesite=strict" in session.lower() and "httponly" in session.lower()
    token = session.split(";", 1)[0].split("=", 1)[1]
    leak_guard.watch(token.rsplit(".", 1)[-1])
    assert 'http-equiv="refresh"' in back.text  # moves on to /ui from this site, so the Strict cookie is sent
    browser.headers["Cookie"] = f"enrolsync_ui={token}"
    page = await browser.get("/ui")
    assert page.status_code == 200 and "ops.lead" in page.text

    browser.headers["Cookie"] = f"enrolsync_ui_sso={remembered}"
    replayed = await browser.get("/ui/sign-in/oidc/callback", params={"code": "c1", "state": asked["state"]})
    assert replayed.status_code == 502 and "invalid_grant" in replayed.text
    denied = await browser.get("/ui/sign-in/oidc/callback", params={"error": "access_denied"})
    assert denied.status_code == 401 and "access_denied" in denied.text
