"""The gate of the Docebo fake: the OAuth2 token endpoint, bearer tokens that expire, and the leaky bucket."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from urllib.parse import parse_qs

import httpx

from enrolsync.connectors.testing.fakes import json_response

TOKEN_PATH = "/oauth2/token"
_NAMES = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 429: "Too Many Requests"}


def error_response(status: int, message: str, code: int | None = None, **headers: str) -> httpx.Response:
    """Docebo's error body: `{"name", "message": [...], "code", "status"}`."""
    body = {"name": _NAMES.get(status, "Error"), "message": [message], "code": code or status, "status": status}
    return json_response(status, body, headers)


class Gate:
    """Tokens from `POST /oauth2/token` (client credentials, form-encoded) living `token_seconds`; every other
    call needs a live one (401 otherwise). Every call, the token request too, passes a leaky bucket of
    `capacity` calls draining over `drain_seconds`: an overflow is a 429 with `Retry-After`."""

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        capacity: int,
        drain_seconds: float,
        token_seconds: int,
        clock: Callable[[], float] | None,
    ) -> None:
        self.client_id, self.client_secret = client_id, client_secret
        self.capacity, self.drain_seconds, self.token_seconds = capacity, drain_seconds, token_seconds
        self.clock = clock or time.monotonic
        self.tokens: dict[str, float] = {}  # token -> expiry
        self.tokens_issued = 0
        self.throttled = 0
        self.unauthorized = 0  # calls refused for a missing, unknown or expired token
        self.throttle_log: list[tuple[float, float]] = []  # (when refused, Retry-After given)
        self.request_times: list[float] = []
        self._level, self._drained_at = 0.0, self.clock()

    def admit(self, request: httpx.Request) -> httpx.Response | None:
        """The answer that stops `request` here (throttled, a token, unauthorised), or None to serve it."""
        now = self.clock()
        self.request_times.append(now)
        refused = self._spend(now)
        if refused is not None:
            return refused
        if request.url.path == TOKEN_PATH:
            return self._token(request)
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if self.tokens.get(token, 0.0) <= now:
            self.unauthorized += 1
            return error_response(401, "The access token provided is invalid or expired", 401)
        return None

    def _spend(self, now: float) -> httpx.Response | None:
        """Leaky bucket: the level drains at capacity / drain_seconds calls a second; a full bucket refuses."""
        rate = self.capacity / self.drain_seconds
        self._level = max(0.0, self._level - (now - self._drained_at) * rate)
        self._drained_at = now
        if self._level + 1 > self.capacity:
            self.throttled += 1
            wait = max(1, int((self._level + 1 - self.capacity) / rate + 0.999))
            self.throttle_log.append((now, float(wait)))
            return error_response(429, "Too many requests", 429, **{"Retry-After": str(wait)})
        self._level += 1
        return None

    def _token(self, request: httpx.Request) -> httpx.Response:
        if request.method != "POST":
            return error_response(405, "Method not allowed")
        form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
        if form.get("grant_type") != "client_credentials":
            return json_response(
                400, {"error": "unsupported_grant_type", "error_description": "Grant type not supported"}
            )
        if form.get("client_id") != self.client_id or form.get("client_secret") != self.client_secret:
            return json_response(
                400, {"error": "invalid_client", "error_description": "The client credentials are invalid"}
            )
        token = secrets.token_hex(20)
        self.tokens[token] = self.clock() + self.token_seconds
        self.tokens_issued += 1
        body = {"access_token": token, "expires_in": self.token_seconds, "token_type": "Bearer", "scope": "api"}
        return json_response(200, body)
