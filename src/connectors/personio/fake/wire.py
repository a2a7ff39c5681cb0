"""Personio's v2 wire conventions the fake follows: problem+json errors, opaque cursors, filter checks."""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx

ERRORS = "https://developer.personio.de/reference/errors#"
TIME_FILTERS = frozenset(f"{f}{op}" for f in ("created_at", "updated_at") for op in ("", ".gt", ".lt"))


class Refused(Exception):
    def __init__(self, status: int, code: str, title: str, detail: str) -> None:
        super().__init__(detail)
        self.response = problem(status, code, title, detail)


def problem(status: int, code: str, title: str, detail: str) -> httpx.Response:
    """A v2 error as Personio sends it (`common-components-v2.json` `ErrorResponse`)."""
    body = {
        "personio_trace_id": f"fake-{secrets.token_hex(6)}",
        "timestamp": "2025-06-02T12:00:00Z",
        "errors": [{"title": title, "detail": detail, "type": ERRORS + code}],
    }
    return httpx.Response(
        status, content=json.dumps(body).encode(), headers={"Content-Type": "application/problem+json"}
    )


def only(params: httpx.QueryParams, allowed: frozenset[str]) -> None:
    unknown = sorted(set(params) - allowed - {"limit", "cursor"})
    if unknown:
        raise Refused(400, "common.invalid_filter", "Bad Request", f"Unknown query parameter(s): {', '.join(unknown)}")
    for name in TIME_FILTERS & set(params):
        if instant(params[name]) is None:
            raise Refused(400, "common.invalid_filter", "Bad Request", f"{name} must be an RFC 3339 date-time.")


def times_match(item: dict[str, Any], params: httpx.QueryParams) -> bool:
    checks: dict[str, Callable[[datetime, datetime], bool]] = {
        "": lambda a, b: a == b, ".gt": lambda a, b: a > b, ".lt": lambda a, b: a < b,
    }  # fmt: skip
    for name in TIME_FILTERS & set(params):
        field, _, op = name.partition(".")
        value, bound = instant(item.get(field)), instant(params[name])
        if value is None or bound is None or not checks["." + op if op else ""](value, bound):
            return False
    return True


def make_cursor(offset: int) -> str:
    return "cur_" + base64.urlsafe_b64encode(json.dumps({"o": offset}).encode()).decode().rstrip("=")


def read_offset(cursor: str | None) -> int:
    if cursor is None:
        return 0
    try:
        raw = cursor.removeprefix("cur_")
        offset = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))["o"]
    except (ValueError, KeyError, TypeError):
        raise Refused(400, "common.invalid_cursor", "Bad Request", "The cursor is invalid or expired.") from None
    if not isinstance(offset, int) or offset < 0:
        raise Refused(400, "common.invalid_cursor", "Bad Request", "The cursor is invalid or expired.")
    return offset


def instant(value: Any) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed


def iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
