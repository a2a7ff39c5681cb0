"""The fake answers as Personio's published v2 components say, and the connector asks only what the v2
reference allows.

Personio publishes the shared v2 components as a document (`openapi/personio-common-components-v2.json`); the
per-endpoint definitions live only on the reference pages. The document checked here therefore takes `_meta`,
`LinkObject`, `ErrorResponse` and the `cursor` parameter from Personio's file, and states the endpoints' paths
and query parameters as the reference pages list them. Person and employment fields are not in the shared
file, so `_data` items are not checked field by field.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from enrolsync.connectors.base import Cursor
from enrolsync.connectors.kit.client import build_client
from enrolsync.connectors.kit.retry import ReadRetry
from enrolsync.connectors.personio import PersonioSource
from enrolsync.connectors.personio.fake import PersonioFake
from enrolsync.connectors.testing.fakes import FakeClock
from enrolsync.connectors.testing.openapi import ExchangeLog, OpenApiSpec, SpecViolation
from tests.support.connectors import personio_config

COMMON = Path(__file__).parent / "openapi" / "personio-common-components-v2.json"
# Any endpoint answers these though the reference pages do not list them on every operation.
GENERIC = (401, 429)
PROBLEM = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}}
ERRORS = {str(status): {"description": "error", "content": PROBLEM} for status in (400, 401, 404, 422, 429, 500)}


def _query(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"in": "query", "name": name, "required": False, "schema": schema}


def _listing(filters: list[str]) -> dict[str, Any]:
    """A v2 list operation: `limit` 1..50 (the persons page caps it at 50), the shared cursor, filters."""
    instant = {"type": "string", "format": "date-time"}
    parameters = [
        _query("limit", {"type": "integer", "minimum": 1, "maximum": 50}),
        {"$ref": "#/components/parameters/Cursor"},
    ]
    for name in filters:
        parameters.append(_query(name, instant if name.split(".")[0].endswith("_at") else {"type": "string"}))
    body = {
        "type": "object",
        "required": ["_data", "_meta"],
        "properties": {
            "_data": {"type": "array", "items": {"type": "object", "additionalProperties": True}},
            "_meta": {"$ref": "#/components/schemas/MetaObject"},
        },
    }
    ok = {"description": "page", "content": {"application/json": {"schema": body}}}
    return {"get": {"parameters": parameters, "responses": {"200": ok, **ERRORS}}}


def document() -> dict[str, Any]:
    common = json.loads(COMMON.read_text())
    times = [f"{f}{op}" for f in ("created_at", "updated_at") for op in ("", ".gt", ".lt")]
    person_filters = ["id", "email", "first_name", "last_name", "preferred_name", "status", *times]
    one = {"type": "object", "required": ["id"], "properties": {"id": {"type": "string"}}, "additionalProperties": True}
    token_form = {
        "type": "object",
        "required": ["grant_type", "client_id", "client_secret"],
        "properties": {k: {"type": "string"} for k in ("grant_type", "client_id", "client_secret")},
    }
    token = {
        "type": "object",
        "required": ["access_token", "token_type", "expires_in"],
        "properties": {
            "access_token": {"type": "string"},
            "token_type": {"type": "string"},
            "expires_in": {"type": "integer"},
            "scope": {"type": "string"},
        },
    }
    id_path = {"in": "path", "name": "id", "required": True, "schema": {"type": "string"}}
    return {
        "openapi": "3.0.0",
        "info": {"title": "Personio v2 persons, employments and auth (per the reference pages)", "version": "2.0"},
        "servers": common["servers"],
        "paths": {
            "/v2/auth/token": {
                "post": {
                    "requestBody": {"content": {"application/x-www-form-urlencoded": {"schema": token_form}}},
                    "responses": {
                        "200": {"description": "token", "content": {"application/json": {"schema": token}}},
                        **ERRORS,
                    },
                }
            },
            "/v2/persons": _listing(person_filters),
            "/v2/persons/{id}": {
                "get": {
                    "parameters": [id_path],
                    "responses": {
                        "200": {"description": "person", "content": {"application/json": {"schema": one}}},
                        **ERRORS,
                    },
                }
            },
            "/v2/persons/{id}/employments": {"parameters": [id_path], **_listing(times[3:])},
        },
        "components": copy.deepcopy(common["components"]),
    }


@pytest.fixture(scope="module")
def spec() -> OpenApiSpec:
    return OpenApiSpec(document(), generic_statuses=GENERIC)


async def drive(fake: PersonioFake, log: ExchangeLog, **overrides: Any) -> None:
    """Everything the connector does: check, full read with throttling, delta after changes, by-id reads."""
    config = personio_config(fake, **overrides)
    async with build_client(config, transport=log.transport()) as http:
        source = PersonioSource(config, http, retry=ReadRetry(clock=FakeClock()))
        if not (await source.check()).ok:
            return
        fake.throttle_next(1, retry_after=1)
        checkpoint = [page async for page in source.read_persons(None)][-1].checkpoint
        fake.hire("Noor", "Haddad", manager="102")
        fake.move("110", manager="101")
        fake.terminate("121", fake.today)
        fake.delete("140")
        _ = [page async for page in source.read_persons(Cursor(checkpoint or ""))]
        _ = [page async for page in source.read_people(["110", "140"])]


async def test_every_exchange_matches_the_document(spec: OpenApiSpec) -> None:
    fake = PersonioFake.seeded(57, seed=7)
    log = ExchangeLog(fake.handler)
    await drive(fake, log)
    await drive(fake, log, client_secret="wrong-secret")
    statuses = {response.status_code for _, response in log.exchanges}
    assert statuses == {200, 401, 404, 429} and len(log.exchanges) > 100
    for request, response in log.exchanges:
        spec.validate(request, response)


@pytest.mark.parametrize(
    "query",
    [{"limit": "51"}, {"limit": "0"}, {"updated_at.gt": "yesterday"}, {"status": "FIRED"}, {"cursor": "cur_???"}],
)
def test_fake_refusals_match_the_document(spec: OpenApiSpec, query: dict[str, str]) -> None:
    fake = PersonioFake.seeded(5, seed=1)
    token = fake.handler(httpx.Request("POST", "https://api.personio.de/v2/auth/token", data={
        "grant_type": "client_credentials", "client_id": fake.client_id, "client_secret": fake.client_secret,
    })).json()["access_token"]  # fmt: skip
    request = httpx.Request("GET", "https://api.personio.de/v2/persons", params=query)
    request.headers["Authorization"] = f"Bearer {token}"
    response = fake.handler(request)
    assert response.status_code == 400, response.content
    assert response.headers["content-type"] == "application/problem+json"
    spec.validate_response(request, response)  # some requests are wrong on purpose; the answers are not


def test_an_undocumented_filter_is_refused_by_both(spec: OpenApiSpec) -> None:
    request = httpx.Request("GET", "https://api.personio.de/v2/persons", params={"department": "Sales"})
    with pytest.raises(SpecViolation):
        spec.validate_request(request)


@pytest.mark.parametrize(
    "body",
    [
        {"errors": [{"title": "Bad", "details": "spelt as in some write-ups, not as the document"}]},
        {"_data": [], "_meta": {"links": {}, "total": 3}},
    ],
)
def test_undocumented_response_fields_fail(spec: OpenApiSpec, body: dict[str, Any]) -> None:
    request = httpx.Request("GET", "https://api.personio.de/v2/persons")
    status = 400 if "errors" in body else 200
    media = "application/problem+json" if status == 400 else "application/json"
    with pytest.raises(SpecViolation):
        spec.validate_response(request, httpx.Response(status, json=body, headers={"Content-Type": media}))
