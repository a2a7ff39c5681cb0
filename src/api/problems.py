"""RFC 9457 problem details (`application/problem+json`) for every error the API answers.

Handlers raise `Problem` (or let FastAPI raise its own HTTP and validation errors); the handlers here turn each
into a problem document with `type`, `title`, `status`, `detail` and `instance`. Validation problems add an
`errors` list naming each field path. An unhandled exception answers a bare 500: its text and stack trace are
logged server-side only, because they can carry personal data or secrets. A database that cannot be reached
answers 503 with `Retry-After`.
"""

from __future__ import annotations

from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError
from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

PROBLEM_JSON = "application/problem+json"
VALIDATION = "urn:enrolsync:problem:validation"
CONFLICT = "urn:enrolsync:problem:conflict"
BAD_REQUEST = "urn:enrolsync:problem:bad-request"
NOT_FOUND = "urn:enrolsync:problem:not-found"
UNAUTHORIZED = "urn:enrolsync:problem:unauthorized"
FORBIDDEN = "urn:enrolsync:problem:forbidden"
UNAVAILABLE = "urn:enrolsync:problem:unavailable"

log = structlog.get_logger("enrolsync.api")


class FieldProblem(BaseModel):
    """One invalid input: where it is (`config.base_url`, `spec.rules[0].when.value`) and what is wrong."""

    path: str
    message: str
    type: str = "invalid"


class ProblemDocument(BaseModel):
    """The body of every error response (RFC 9457)."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[FieldProblem] | None = None


class Problem(Exception):
    """An error a handler answers on purpose. `errors` is set for validation problems only."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        type_: str = "about:blank",
        title: str | None = None,
        errors: Sequence[FieldProblem] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.type = type_
        self.title = title or HTTPStatus(status).phrase
        self.errors = list(errors) if errors is not None else None
        self.headers = headers


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries for the problems a route answers on purpose."""
    return {status: {"model": ProblemDocument, "description": HTTPStatus(status).phrase} for status in statuses}


def not_found(what: str, ident: str) -> Problem:
    """A 404 for a resource that does not exist."""
    return Problem(404, f"no {what} with id {ident!r}", type_=NOT_FOUND, title="Not found")


def conflict(detail: str) -> Problem:
    """A 409: the request is valid but clashes with the current state."""
    return Problem(409, detail, type_=CONFLICT, title="Conflict")


def unauthorized(detail: str, *, error: str | None = "invalid_token") -> Problem:
    """A 401 with the RFC 6750 challenge. `error` is omitted when no credentials were sent (section 3.1)."""
    challenge = f'Bearer error="{error}"' if error else "Bearer"
    return Problem(401, detail, type_=UNAUTHORIZED, title="Unauthorized", headers={"WWW-Authenticate": challenge})


def forbidden(detail: str) -> Problem:
    """A 403: the caller is known but their role does not allow this."""
    return Problem(403, detail, type_=FORBIDDEN, title="Forbidden")


def invalid(errors: Sequence[FieldProblem], detail: str = "the request is invalid") -> Problem:
    """A 422 naming each invalid field."""
    return Problem(422, detail, type_=VALIDATION, title="Invalid request", errors=errors)


def invalid_field(path: str, message: str, type_: str = "invalid") -> Problem:
    """A 422 for a single invalid field."""
    return invalid([FieldProblem(path=path, message=message, type=type_)], detail=f"{path}: {message}")


def format_loc(loc: Sequence[int | str]) -> str:
    """`("config", "rules", 0, "name")` -> `config.rules[0].name`."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path


def field_problems(error: ValidationError, *, prefix: Sequence[int | str] = ()) -> list[FieldProblem]:
    """A pydantic error as field problems under `prefix`. Inputs are never echoed: they may be secrets."""
    return [
        FieldProblem(path=format_loc([*prefix, *err["loc"]]), message=err["msg"], type=err["type"])
        for err in error.errors(include_url=False, include_input=False, include_context=False)
    ]


def problem_response(request: Request, problem: ProblemDocument, headers: dict[str, str] | None = None) -> JSONResponse:
    """Serialise a problem document, with `instance` set to the request path."""
    problem.instance = problem.instance or request.url.path
    body = problem.model_dump(mode="json", exclude_none=True)
    return JSONResponse(body, status_code=problem.status, media_type=PROBLEM_JSON, headers=headers)


async def _on_problem(request: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, Problem):
        raise exc
    document = ProblemDocument(type=exc.type, title=exc.title, status=exc.status, detail=exc.detail, errors=exc.errors)
    return problem_response(request, document, headers=exc.headers)


async def _on_http_error(request: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, StarletteHTTPException):
        raise exc
    title = HTTPStatus(exc.status_code).phrase
    detail = exc.detail if isinstance(exc.detail, str) and exc.detail != title else None
    if exc.status_code == 404 and detail is None:
        detail = f"nothing at {request.url.path}"
    document = ProblemDocument(title=title, status=exc.status_code, detail=detail)
    return problem_response(request, document, headers=dict(exc.headers or {}))


def _request_loc(loc: Sequence[int | str]) -> list[int | str]:
    # The body is the usual place; naming it in every path adds noise. Query and path parameters keep their source.
    return list(loc[1:]) if loc and loc[0] == "body" else list(loc)


async def _on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, RequestValidationError):
        raise exc
    errors = [
        FieldProblem(path=format_loc(_request_loc(err.get("loc", ()))), message=err["msg"], type=err["type"])
        for err in exc.errors()
    ]
    detail = "; ".join(f"{e.path or '(body)'}: {e.message}" for e in errors)
    document = ProblemDocument(
        type=VALIDATION, title="Invalid request", status=422, detail=detail or "the request is invalid", errors=errors
    )
    return problem_response(request, document)


# Errors meaning the database cannot be reached or used right now (down, restarting, its pool exhausted, SQLite's
# file locked or unreadable): the request may succeed later, so the answer is 503 with Retry-After, not a 500.
DATABASE_UNAVAILABLE = (OperationalError, InterfaceError, DisconnectionError, PoolTimeout, ConnectionError)
RETRY_AFTER_SECONDS = 5


class UnhandledErrors:
    """ASGI middleware: an exception no handler answered becomes a bare 500 problem and a server-side log entry;
    the database being unavailable becomes a 503 with `Retry-After` and one log line (no traceback: an outage
    would otherwise flood the log with identical ones).

    It sits inside Starlette's own error middleware so the exception is answered here and not re-raised.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except DATABASE_UNAVAILABLE as error:
            log.warning(
                "database_unavailable", method=scope.get("method"), path=scope.get("path"), error=type(error).__name__
            )
            if started:
                raise
            detail = "the database is not available; try again later"
            headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
            await self._answer(scope, receive, send, 503, "Service Unavailable", detail, headers)
        except Exception:
            log.exception("unhandled_error", method=scope.get("method"), path=scope.get("path"))
            if started:
                raise
            detail = "the server failed to answer this request; the error is logged"
            await self._answer(scope, receive, send, 500, "Internal Server Error", detail)

    @staticmethod
    async def _answer(
        scope: Scope,
        receive: Receive,
        send: Send,
        status: int,
        title: str,
        detail: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        kind = UNAVAILABLE if status == 503 else "about:blank"
        document = ProblemDocument(type=kind, title=title, status=status, detail=detail, instance=scope.get("path"))
        body: dict[str, Any] = document.model_dump(mode="json", exclude_none=True)
        await JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)(scope, receive, send)


def install(app: FastAPI) -> None:
    """Register the problem handlers and the 500 middleware on `app`."""
    app.add_exception_handler(Problem, _on_problem)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_middleware(UnhandledErrors)
