"""OAuth2 client-credentials as an `httpx.Auth`: one token per instance, fetched through the same client.

The token request is yielded from the auth flow, so it travels the caller's transport (a fake in tests, the
connection's limiter in production) and never builds a client of its own. The token is kept until shortly
before `expires_in` runs out, then fetched again; a 401 on a request refreshes once and replays it. Concurrent
requests share one fetch (a lock), so a run asks for one token, not one per request.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable, Generator

import httpx
from pydantic import BaseModel, ConfigDict, SecretStr, ValidationError

from enrolsync.connectors.errors import AuthError, ConnectorError, TransientError
from enrolsync.connectors.kit.clock import SYSTEM_CLOCK, Clock

ErrorFor = Callable[[httpx.Response], ConnectorError | None]


class _Token(BaseModel):
    model_config = ConfigDict(extra="ignore")
    access_token: str
    expires_in: float = 3600.0


class ClientCredentials(httpx.Auth):
    """`grant_type=client_credentials` posted form-encoded to `token_url` (RFC 6749 section 4.4)."""

    requires_response_body = True

    def __init__(
        self,
        token_url: str | httpx.URL,
        client_id: str,
        client_secret: SecretStr,
        *,
        classify: ErrorFor,
        clock: Clock = SYSTEM_CLOCK,
        margin_seconds: float = 300.0,
    ) -> None:
        self._url = httpx.URL(token_url)
        self._client_id = client_id
        self._secret = client_secret
        self._classify = classify
        self._clock = clock
        self._margin = margin_seconds
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = asyncio.Lock()
        self.fetched = 0

    def _fresh(self) -> bool:
        return self._token is not None and self._clock.monotonic() < self._expires_at - self._margin

    def _token_request(self) -> httpx.Request:
        form = {
            "grant_type": "client_credentials",
            "client_id": self._client_id,
            "client_secret": self._secret.get_secret_value(),
        }
        return httpx.Request("POST", self._url, data=form, headers={"Accept": "application/json"})

    def _store(self, response: httpx.Response) -> None:
        error = self._classify(response)
        if error is not None:
            if isinstance(error, TransientError):
                raise error
            raise AuthError(f"token request refused: {error.reason}", status=response.status_code)
        try:
            token = _Token.model_validate_json(response.content)
        except ValidationError as exc:
            raise TransientError("malformed token response", status=response.status_code) from exc
        self._token = token.access_token
        self._expires_at = self._clock.monotonic() + token.expires_in
        self.fetched += 1

    def _bearer(self, request: httpx.Request) -> httpx.Request:
        request.headers["Authorization"] = f"Bearer {self._token}"
        return request

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        raise RuntimeError("ClientCredentials is for async clients")

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        async with self._lock:
            if not self._fresh():
                self._store((yield self._token_request()))
            used = self._token
        response = yield self._bearer(request)
        if response.status_code != 401:
            return
        async with self._lock:
            if self._token == used:  # nobody refreshed meanwhile: the token was revoked or expired early
                self._store((yield self._token_request()))
        yield self._bearer(request)
