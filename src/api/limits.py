"""Request size limits: an API body larger than `MAX_BODY_BYTES` is refused with 413 before any handler runs.

Configuration documents are small; a larger body is a mistake or an attack on memory. The body is read here up
to one byte past the limit (a declared `Content-Length` over the limit is refused unread) and handed to the app
unchanged. Webhooks keep their own limit (`routes/webhooks.py`), which reads the stream itself, and so do file
uploads (`routes/uploads.py`: a csv file may be hundreds of MB), unless their body claims to be JSON (other routes'
dependencies would read that whole).
"""

from __future__ import annotations

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from enrolsync.api.problems import PROBLEM_JSON, ProblemDocument

MAX_BODY_BYTES = 1024 * 1024
EXEMPT_PREFIXES = ("/webhooks/",)
EXEMPT_FILES_SUFFIX = "/uploads"  # POST /connections/{id}/uploads


def _exempt(scope: Scope) -> bool:
    path = str(scope.get("path", ""))
    if path.startswith(EXEMPT_PREFIXES):
        return True
    if path.startswith("/connections/") and path.rstrip("/").endswith(EXEMPT_FILES_SUFFIX):
        media = dict(scope.get("headers") or []).get(b"content-type", b"")
        return b"json" not in media.lower()
    return False


class BodyLimit:
    """ASGI middleware: 413 problem+json for request bodies over `limit` bytes."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or _exempt(scope):
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.limit:
            await self._refuse(scope, receive, send)
            return
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            size += len(message.get("body", b""))
            if size > self.limit:
                await self._refuse(scope, receive, send)
                return
            if message["type"] != "http.request" or not message.get("more_body"):
                break

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        document = ProblemDocument(
            title="Content Too Large",
            status=413,
            detail=f"the request body is larger than {self.limit} bytes",
            instance=scope.get("path"),
        )
        body = document.model_dump(mode="json", exclude_none=True)
        await JSONResponse(body, status_code=413, media_type=PROBLEM_JSON)(scope, receive, send)
