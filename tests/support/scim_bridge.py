"""A synchronous SCIM client over an ASGI app, for `scim2-tester` (whose checks are synchronous).

The checks run in a worker thread; each request is sent on the test's event loop, where the app (and its
database) live, and the thread waits for the answer. No network, no second event loop.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from scim2_client import BaseSyncSCIMClient


class BridgedScimClient(BaseSyncSCIMClient):
    def __init__(self, client: httpx.AsyncClient, loop: asyncio.AbstractEventLoop, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.client = client
        self.loop = loop

    def _stays_under_base_url(self, endpoint: str) -> bool:
        url = self.client.build_request("GET", endpoint).url
        base = self.client.base_url
        return url.host == base.host and url.path.startswith(base.path.rstrip("/"))

    def _parse_json(self, response: Any) -> Any:
        return response.json()

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        future = asyncio.run_coroutine_threadsafe(self.client.request(method, url, **kwargs), self.loop)
        return future.result(timeout=60)
