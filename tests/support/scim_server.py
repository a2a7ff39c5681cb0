"""The real `scim2-server` (PyPI) as the peer of the scim target's tests: its WSGI app, in process.

`ScimServer` puts scim2-server's own application behind the `FakeServer` seam, so every answer (discovery,
filters, ETags, PATCH, Bulk, error bodies) is the server's, while tests keep the request log and fault injection.
`serve_on_loopback` runs the same app on 127.0.0.1 for the one test that crosses a real socket.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

import httpx
from scim2_models import Bulk, ChangePassword, ETag, Filter, Patch, ScimProvider, ServiceProviderConfig, Sort
from scim2_server.memory import InMemoryStorage
from scim2_server.service import ScimService
from scim2_server.testserver.application import BearerTokenApplication
from scim2_server.testserver.cli import ThreadingWSGIServer
from scim2_server.utils import load_default_resource_types, load_default_schemas
from werkzeug.test import Client

from enrolsync.connectors.model import AccountFields
from enrolsync.connectors.testing.fakes import FakeServer

SCIM_TOKEN = "scim-s3cret-bearer-token"
BASE_URL = "https://scim.test/v2/"


def provider(
    *,
    patch: bool = True,
    bulk: bool = True,
    etag: bool = True,
    filter: bool = True,
    max_operations: int = 1000,
    max_payload: int = 1_048_576,
    enterprise: bool = True,
) -> ScimProvider:
    """scim2-server's default schemas and resource types, announcing the features asked for."""
    config = ServiceProviderConfig(
        patch=Patch(supported=patch),
        bulk=Bulk(supported=bulk, max_operations=max_operations, max_payload_size=max_payload),
        filter=Filter(supported=filter, max_results=1000),
        change_password=ChangePassword(supported=False),
        sort=Sort(supported=True),
        etag=ETag(supported=etag),
    )
    types = load_default_resource_types()
    if not enterprise:  # a User resource type without the enterprise extension
        types["User"] = types["User"].model_copy(update={"schema_extensions": None})
    return ScimProvider.from_discovery(load_default_schemas().values(), types.values(), config=config)


class ScimServer(FakeServer):
    """scim2-server's in-memory SCIM service, reached through `handler` (httpx MockTransport) or `wsgi`."""

    def __init__(self, token: str = SCIM_TOKEN, **features: Any) -> None:
        super().__init__()
        self.token = token
        self.provider = provider(**features)
        self.storage = InMemoryStorage()
        self.wsgi = BearerTokenApplication(self.storage, self.provider, ScimService(self.provider), [token])
        self._client = Client(self.wsgi)
        # Called before each write the connector sends: lets a test change the server in between (a 412).
        self.before_write: Callable[[httpx.Request], None] | None = None

    def handle(self, request: httpx.Request) -> httpx.Response:
        if self.before_write is not None and self.is_write(request):
            self.before_write(request)
        answer = self._client.open(
            path=request.url.path,
            query_string=request.url.query.decode(),
            method=request.method,
            headers=list(request.headers.items()),
            data=request.content,
            base_url=f"{request.url.scheme}://{request.url.netloc.decode()}",
        )
        return httpx.Response(answer.status_code, headers=list(answer.headers.items()), content=answer.get_data())

    # -- seeding and inspection, through the server's own API (not logged as the connector's requests) --------
    def call(self, method: str, path: str, body: Any = None, **params: str) -> Any:
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/scim+json"}
        data = None if body is None else json.dumps(body)
        answer = self._client.open(path=f"/v2/{path}", method=method, headers=headers, data=data,
                                   query_string=params)  # fmt: skip
        assert answer.status_code < 400, answer.get_data(as_text=True)
        return answer.json if answer.get_data() else None

    def add_group(self, name: str, members: tuple[str, ...] = ()) -> str:
        body: dict[str, Any] = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": name}
        if members:
            body["members"] = [{"value": m} for m in members]
        return str(self.call("POST", "Groups", body)["id"])

    def add_user(self, user_name: str, external_id: str | None = None, **extra: Any) -> str:
        body = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": user_name, **extra}
        if external_id is not None:
            body["externalId"] = external_id
        return str(self.call("POST", "Users", body)["id"])

    def users(self) -> list[dict[str, Any]]:
        return list(self.call("GET", "Users", count="1000")["Resources"])

    def user(self, user_id: str) -> dict[str, Any]:
        return dict(self.call("GET", f"Users/{user_id}"))

    def by_external_id(self, external_id: str) -> dict[str, Any] | None:
        found = [u for u in self.users() if u.get("externalId") == external_id]
        assert len(found) <= 1, f"{len(found)} Users carry externalId {external_id}"
        return found[0] if found else None

    def group_named(self, name: str) -> str:
        [found] = [g["id"] for g in self.call("GET", "Groups")["Resources"] if g["displayName"] == name]
        return str(found)

    def members(self, group_id: str) -> set[str]:
        return {m["value"] for m in self.call("GET", f"Groups/{group_id}").get("members", [])}


def account_fields(n: int, **extra: Any) -> AccountFields:
    """Person number `n`: username and email `person<n>@example.com`, HR id `HR-<n>`."""
    return AccountFields(
        username=f"person{n}@example.com", given_name="Person", family_name=f"No {n}",
        email=f"person{n}@example.com", external_id=f"HR-{n}", **extra,
    )  # fmt: skip


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's signature
        """wsgiref logs every request to stderr; the tests read the server's state instead."""


@contextmanager
def serve_on_loopback(server: ScimServer) -> Iterator[str]:
    """Serve `server`'s WSGI app on 127.0.0.1 (a free port) in a thread; yields its SCIM base URL."""
    httpd = make_server("127.0.0.1", 0, server.wsgi, server_class=ThreadingWSGIServer, handler_class=_Quiet)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_port}/v2/"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()
