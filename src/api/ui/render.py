"""Rendering the web page: the templates, the security headers every page carries, and the context every page
gets (the signed-in user, their CSRF field, what their role may do)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from enrolsync import __version__
from enrolsync.api.auth import Principal, allows
from enrolsync.api.ui.session import csrf_token, session_token
from enrolsync.sync.store.tables import ApiRole, RunStatus

HERE = Path(__file__).resolve().parent  # resolved: StaticFiles refuses files behind symlinks (editable installs)
templates = Jinja2Templates(directory=HERE / "templates")

LIVE = {RunStatus.QUEUED.value, RunStatus.RUNNING.value}
# No inline script or style, nothing from another origin, never framed.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'",
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}


def render(
    request: Request, name: str, principal: Principal | None, status_code: int = 200, **context: Any
) -> HTMLResponse:
    """A page from `templates/`, with the signed-in user, their CSRF field and role flags in its context."""
    secret = session_token(request)
    context.update(
        principal=principal,
        csrf=csrf_token(secret) if secret and principal else "",
        can_view=principal is not None and allows(principal.role, ApiRole.VIEWER),  # a manager sees their team only
        can_operate=principal is not None and allows(principal.role, ApiRole.OPERATOR),
        can_admin=principal is not None and allows(principal.role, ApiRole.ADMIN),
        version=__version__,
        live_statuses=LIVE,
    )
    response = templates.TemplateResponse(request, name, context, status_code=status_code)
    response.headers.update(SECURITY_HEADERS)
    return response
