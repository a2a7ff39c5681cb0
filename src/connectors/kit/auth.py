"""httpx.Auth classes for the schemes our vendors use. Secrets arrive as `SecretStr` and are read at send time."""

from __future__ import annotations

from collections.abc import Generator

import httpx
from pydantic import SecretStr


class ApiKeyBasic(httpx.Auth):
    """HTTP Basic with an API key as the user name and a fixed password (BambooHR: key + `x`)."""

    def __init__(self, key: SecretStr, password: str = "x") -> None:  # noqa: S107 - BambooHR ignores the password
        self._key = key
        self._password = password

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        basic = httpx.BasicAuth(self._key.get_secret_value(), self._password)
        yield from basic.auth_flow(request)


class Basic(httpx.Auth):
    def __init__(self, username: str, password: SecretStr) -> None:
        self._username = username
        self._password = password

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        yield from httpx.BasicAuth(self._username, self._password.get_secret_value()).auth_flow(request)


class Bearer(httpx.Auth):
    def __init__(self, token: SecretStr) -> None:
        self._token = token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self._token.get_secret_value()}"
        yield request


class ApiKeyHeader(httpx.Auth):
    def __init__(self, header: str, key: SecretStr) -> None:
        self._header = header
        self._key = key

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers[self._header] = self._key.get_secret_value()
        yield request
