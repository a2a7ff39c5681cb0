"""A SCIM 2.0 service holding Users with the enterprise extension, imitated in memory (RFC 7644 sections 3.4.2 and
3.12): what the `scim-inbound` connector reads, whether served from enrolsync's stored state or by another SCIM
service. `GET /Users` pages by 1-based `startIndex` and `count` inside a `ListResponse`; `GET /Users/{id}` answers
404 in SCIM's error format for an unknown id; a wrong bearer token is a 401. Shipped for the demo and third
parties; the suite also reads the real `scim2-server` peer.
"""

from __future__ import annotations

import json
import random
from typing import Any

import httpx

from enrolsync.connectors.testing.fakes import FakeServer

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
LIST = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
FAKE_TOKEN = "scim-fake-token"
DEPARTMENTS = ("Engineering", "Sales", "Finance", "People")


def _answer(status: int, body: Any) -> httpx.Response:
    return httpx.Response(status, content=json.dumps(body).encode(), headers={"Content-Type": "application/scim+json"})


def _error(status: int, detail: str) -> httpx.Response:
    return _answer(status, {"schemas": [ERROR], "status": str(status), "detail": detail})


class ScimServiceFake(FakeServer):
    def __init__(self, token: str = FAKE_TOKEN) -> None:
        super().__init__()
        self.token = token
        self.users: dict[str, dict[str, Any]] = {}

    @classmethod
    def seeded(cls, n: int, seed: int = 1, token: str = FAKE_TOKEN) -> ScimServiceFake:
        fake = cls(token)
        rng = random.Random(seed)
        for i in range(1, n + 1):
            manager = f"u{rng.randint(1, i - 1)}" if i > 1 else None
            fake.add(f"u{i}", f"person{i}@example.com", department=rng.choice(DEPARTMENTS), manager=manager)
        return fake

    def add(self, user_id: str, user_name: str, *, department: str, manager: str | None, active: bool = True) -> None:
        extension: dict[str, Any] = {"department": department, "employeeNumber": user_id.upper()}
        if manager:
            extension["manager"] = {"value": manager}
        self.users[user_id] = {
            "schemas": [USER, ENTERPRISE],
            "id": user_id,
            "userName": user_name,
            "externalId": user_id.upper(),
            "active": active,
            "name": {"givenName": "Given", "familyName": user_id.upper()},
            "emails": [{"value": user_name, "type": "work", "primary": True}],
            ENTERPRISE: extension,
            "meta": {"resourceType": "User"},
        }

    def handle(self, request: httpx.Request) -> httpx.Response:
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return _error(401, "the bearer token is not valid")
        parts = request.url.path.rstrip("/").split("/")
        if request.method == "GET" and parts[-1] == "Users":
            return self._list(request)
        if request.method == "GET" and len(parts) > 1 and parts[-2] == "Users":
            found = self.users.get(parts[-1])
            return _answer(200, found) if found else _error(404, f"Resource {parts[-1]} not found")
        return _error(404, "no such endpoint")

    def _list(self, request: httpx.Request) -> httpx.Response:
        try:
            start = max(int(request.url.params.get("startIndex", "1")), 1)
            count = max(int(request.url.params.get("count", "100")), 0)
        except ValueError:
            return _error(400, "startIndex and count are integers")
        everyone = list(self.users.values())
        page = everyone[start - 1 : start - 1 + min(count, 1000)]
        return _answer(200, {
            "schemas": [LIST], "totalResults": len(everyone), "itemsPerPage": len(page), "startIndex": start,
            "Resources": page,
        })  # fmt: skip
