"""Who is using the web page: the API token (or OIDC access token) they signed in with, kept in a cookie.

The cookie is HttpOnly (page scripts cannot read it), SameSite=Strict (no other site's page sends it), scoped to
`/ui` and Secure when the page is served over HTTPS. Each request checks the token exactly as the JSON API does
(`auth.current_principal`), so a revoked or expired token signs the page out at once.

Every form that changes something carries a CSRF field: a digest of the session's token, which a page of
another origin cannot compute (it cannot read the cookie); a request whose `Origin` names another origin is
refused as well.

Pages declare their role with `Page(role)`, a `RoleCheck`, so `auth.route_role` (and the role-matrix test) reads
it like any API route's.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Annotated
from urllib.parse import quote, urlsplit

from fastapi import Depends, Form, Request
from fastapi.security import HTTPAuthorizationCredentials

from enrolsync.api import auth
from enrolsync.api.auth import Principal, RoleCheck
from enrolsync.api.problems import Problem
from enrolsync.sync.store.tables import ApiRole

COOKIE = "enrolsync_ui"
COOKIE_PATH = "/ui"
MAX_TOKEN = 4096  # longer than any API token or a sane access token; refused before it is checked
_CSRF_CONTEXT = b"enrolsync-ui-csrf-v1"


class SignInNeeded(Exception):
    """No session, or its token is refused: the page answers with a redirect to the sign-in page."""

    def __init__(self, path: str, reason: str | None = None) -> None:
        super().__init__(reason or "sign in")
        self.path = path
        self.reason = reason

    def location(self) -> str:
        return f"{COOKIE_PATH}/sign-in?next={quote(self.path, safe='/')}"


class PageForbidden(Exception):
    """Signed in, but the role does not allow this (or the form's CSRF field is wrong): an HTML 403."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


def csrf_token(secret: str) -> str:
    """The CSRF field value of a session: a keyed digest of its token (not the token)."""
    return hmac.new(_CSRF_CONTEXT, secret.encode(), hashlib.sha256).hexdigest()


def session_token(request: Request) -> str | None:
    token = request.cookies.get(COOKIE)
    if not token or len(token) > MAX_TOKEN:
        return None
    return token


async def principal_for(request: Request, secret: str) -> Principal:
    """The caller a token names, checked as the API checks a bearer token.

    Raises:
        Problem: 401 when the token is unknown, expired, revoked or malformed; 403/503 as the API answers them.
    """
    return await auth.current_principal(request, HTTPAuthorizationCredentials(scheme="Bearer", credentials=secret))


async def page_principal(request: Request) -> Principal:
    """The signed-in user of the page; `SignInNeeded` when there is none or the token is no longer good."""
    path = COOKIE_PATH
    if request.method == "GET":  # come back to the same page, filters included
        path = f"{request.url.path}?{request.url.query}" if request.url.query else request.url.path
    secret = session_token(request)
    if secret is None:
        raise SignInNeeded(path)
    try:
        return await principal_for(request, secret)
    except Problem as error:
        if error.status == 401:
            raise SignInNeeded(path, error.detail) from None
        raise


PagePrincipal = Annotated[Principal, Depends(page_principal)]


class Page(RoleCheck):
    """A page's role: like the API's role check, on the session cookie instead of the Authorization header."""

    async def __call__(self, principal: PagePrincipal) -> Principal:
        if not auth.allows(principal.role, self.role):
            raise PageForbidden(f"this needs the {self.role.value} role; you are signed in as {principal.role.value}")
        return principal

    def __repr__(self) -> str:
        return f"page({self.role.value})"


_PAGES = {role: Page(role) for role in ApiRole}
ViewerPage = Annotated[Principal, Depends(_PAGES[ApiRole.VIEWER])]
# Viewers and up, or a manager: the pages a manager may open show only their own team (the route checks whom).
ManagerPage = Annotated[Principal, Depends(_PAGES[ApiRole.MANAGER])]
OperatorPage = Annotated[Principal, Depends(_PAGES[ApiRole.OPERATOR])]
AdminPage = Annotated[Principal, Depends(_PAGES[ApiRole.ADMIN])]


def same_origin(request: Request) -> bool:
    """False when the request says it comes from a page of another origin."""
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        # Browsers send Origin on every cross-site POST; "null" comes from sandboxed or privacy-redirected pages.
        return origin is None
    # The host only: behind a proxy that ends TLS the app sees http (and perhaps another port) where the browser
    # says https. The CSRF field is the main defence; this stops a form posted from another host.
    return urlsplit(origin).hostname == request.url.hostname


async def checked_form(request: Request, csrf: Annotated[str, Form(max_length=128)] = "") -> None:
    """Refuse a form post from another origin or without this session's CSRF field."""
    secret = session_token(request)
    if secret is None:
        raise SignInNeeded(COOKIE_PATH)
    if not same_origin(request) or not hmac.compare_digest(csrf, csrf_token(secret)):
        raise PageForbidden("the form is out of date or came from another site; reload the page and try again")


CheckedForm = Depends(checked_form)
