"""Single sign-on for the web page: the OIDC authorization code flow with PKCE (RFC 7636), when
`ENROLSYNC_OIDC_CLIENT_ID` is set beside the issuer.

`/ui/sign-in/oidc` sends the browser to the issuer with a fresh `state` and PKCE challenge, remembered in a
short-lived HttpOnly cookie scoped to the callback. The callback checks `state`, redeems the code at the issuer's
token endpoint with the PKCE verifier, and checks the access token exactly as the API checks a bearer token
(signature, issuer, audience, expiry, role claim). The token then becomes the page's session, as a pasted one does.

The flow cookie is SameSite=Lax because the issuer's redirect back is a cross-site navigation (a Strict cookie is
not sent on it); for the same reason the callback answers with a page that moves on to /ui itself, so that
navigation starts from this site and the Strict session cookie goes with it.
"""

from __future__ import annotations

import hmac
from typing import Annotated

import httpx
import structlog
from authlib.common.security import generate_token  # type: ignore[import-untyped]
from authlib.common.urls import add_params_to_uri  # type: ignore[import-untyped]
from authlib.oauth2.rfc7636 import create_s256_code_challenge  # type: ignore[import-untyped]
from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from enrolsync.api.deps import SettingsDep, services
from enrolsync.api.oidc import OidcUnavailable, OidcVerifier
from enrolsync.api.problems import Problem
from enrolsync.api.ui.render import render
from enrolsync.api.ui.session import COOKIE, COOKIE_PATH, principal_for
from enrolsync.settings import Settings

router = APIRouter(prefix=f"{COOKIE_PATH}/sign-in/oidc", include_in_schema=False)
log = structlog.get_logger("enrolsync.api")

FLOW_COOKIE = "enrolsync_ui_sso"
FLOW_PATH = f"{COOKIE_PATH}/sign-in/oidc"
FLOW_SECONDS = 600


def enabled(request: Request) -> bool:
    """True when the page can offer single sign-on: an issuer and a client id are configured."""
    settings: Settings = request.app.state.settings
    return settings.oidc_client_id is not None and services(request).oidc is not None


def _callback_url(request: Request) -> str:
    return str(request.url_for("sso_callback"))


def _verifier(request: Request) -> OidcVerifier:
    verifier = services(request).oidc
    settings: Settings = request.app.state.settings
    if verifier is None or settings.oidc_client_id is None:
        raise Problem(404, "single sign-on is not configured (ENROLSYNC_OIDC_ISSUER and ENROLSYNC_OIDC_CLIENT_ID)")
    return verifier


def _refused(request: Request, status: int, reason: str) -> HTMLResponse:
    response = render(request, "sign_in.html", None, status, next=COOKIE_PATH, error=reason, sso=enabled(request))
    response.delete_cookie(FLOW_COOKIE, path=FLOW_PATH, httponly=True, samesite="lax")
    return response


@router.get("")
async def sso_start(request: Request, settings: SettingsDep) -> Response:
    """Send the browser to the issuer to sign in."""
    verifier = _verifier(request)
    try:
        authorize, _ = await verifier.endpoints()
    except OidcUnavailable as error:
        log.warning("ui.sso_unavailable", reason=str(error))
        return _refused(request, 503, "the identity provider cannot be reached; try again, or sign in with a token")
    state, code_verifier = generate_token(32), generate_token(64)
    target = add_params_to_uri(
        authorize,
        [
            ("response_type", "code"),
            ("client_id", settings.oidc_client_id or ""),
            ("redirect_uri", _callback_url(request)),
            ("scope", settings.oidc_scopes),
            ("state", state),
            ("code_challenge", create_s256_code_challenge(code_verifier)),
            ("code_challenge_method", "S256"),
        ],
    )
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        FLOW_COOKIE,
        f"{state}.{code_verifier}",
        max_age=FLOW_SECONDS,
        path=FLOW_PATH,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )
    return response


async def _redeem(verifier: OidcVerifier, settings: Settings, request: Request, code: str, code_verifier: str) -> str:
    _, token_url = await verifier.endpoints()
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": _callback_url(request),
        "client_id": settings.oidc_client_id or "",
        "code_verifier": code_verifier,
    }
    secret = settings.oidc_client_secret
    auth = (settings.oidc_client_id or "", secret.get_secret_value()) if secret is not None else None
    try:
        response = await verifier.http.post(token_url, data=form, auth=auth or httpx.USE_CLIENT_DEFAULT)
        body = response.json()
    except (httpx.HTTPError, ValueError) as error:
        raise OidcUnavailable(f"the token endpoint could not be read: {type(error).__name__}") from error
    token = body.get("access_token") if isinstance(body, dict) else None
    if response.status_code != 200 or not isinstance(token, str):
        error_code = body.get("error") if isinstance(body, dict) else None
        raise OidcUnavailable(f"the identity provider refused the code ({error_code or response.status_code})")
    return token


@router.get("/callback", name="sso_callback")
async def sso_callback(
    request: Request,
    settings: SettingsDep,
    code: Annotated[str, Query(max_length=4096)] = "",
    state: Annotated[str, Query(max_length=256)] = "",
    error: Annotated[str, Query(max_length=200)] = "",
) -> Response:
    """Where the issuer sends the browser back: redeem the code, check the token, start the page's session."""
    verifier = _verifier(request)
    remembered = request.cookies.get(FLOW_COOKIE, "")
    expected_state, _, code_verifier = remembered.partition(".")
    if error:
        return _refused(request, 401, f"the identity provider did not sign you in ({error})")
    if not expected_state or not code_verifier or not hmac.compare_digest(state, expected_state):
        return _refused(request, 400, "the sign-in expired or was not started here; start again")
    try:
        token = await _redeem(verifier, settings, request, code, code_verifier)
        principal = await principal_for(request, token)
    except OidcUnavailable as failure:
        log.warning("ui.sso_refused", reason=str(failure))
        return _refused(request, 502, str(failure))
    except Problem as refusal:
        return _refused(request, refusal.status, refusal.detail)
    response = render(request, "signed_in.html", None)
    response.delete_cookie(FLOW_COOKIE, path=FLOW_PATH, httponly=True, samesite="lax")
    response.set_cookie(
        COOKIE, token, path=COOKIE_PATH, httponly=True, samesite="strict", secure=request.url.scheme == "https"
    )
    log.info("ui.signed_in", subject=principal.subject, role=principal.role.value, via="oidc")
    return response
