"""`/ui`: the web page, static files shipped in the wheel (`api/ui/`): plain JavaScript over the REST API, no CDN
and no build step. The page itself holds no data and needs no token; everything it shows comes from the API
with the bearer token the person signs in with (kept in the tab's sessionStorage).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

ASSETS = Path(__file__).resolve().parent.parent / "ui"
# The page runs only its own script and talks only to its own origin: an injected value cannot load or send
# anything elsewhere.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

router = APIRouter(tags=["web page"])


@router.get("/ui", include_in_schema=False)
async def web_page() -> FileResponse:
    """The web page (a single page: it routes by the URL's fragment)."""
    return FileResponse(ASSETS / "index.html", media_type="text/html", headers=SECURITY_HEADERS)


def install(app: FastAPI) -> None:
    """Serve the page's assets under `/ui/assets`."""
    app.mount("/ui/assets", StaticFiles(directory=ASSETS), name="ui-assets")
