"""The fake answers as HiBob's published OpenAPI document says, and the connector asks only what it allows.

The document covers `POST /people/search`, `POST /people/{identifier}` and `GET /company/people/fields`; it
leaves some answers out (a refused service user's 401, a 404 for an unknown employee, which fall to its
`default` error response) and describes no webhooks, which `test_webhooks.py` covers from the prose docs.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from pydantic import SecretStr

from enrolsync.connectors.hibob import HiBobSource
from enrolsync.connectors.hibob.fake.server import SEARCH_LIMIT, HiBobFake
from enrolsync.connectors.kit.client import build_client
from enrolsync.connectors.kit.retry import ReadRetry
from enrolsync.connectors.testing.fakes import FakeClock
from enrolsync.connectors.testing.openapi import ExchangeLog, OpenApiSpec, SpecViolation
from tests.support.connectors import hibob_config

SPEC = Path(__file__).parent / "openapi" / "hibob-public-api.yaml"
BASE = "https://api.hibob.com/v1/"
# Answers any endpoint may give though the document omits them for some: a refused service user, throttling.
GENERIC = (401, 429)


def as_its_examples_show(document: dict[str, Any]) -> dict[str, Any]:
    """The document with its employee schemas corrected where its own examples (and Bob) disagree with them:
    empty fields come back as null (the machine-format example has `secondName: null` and
    `custom: {field_1711886937296: null}`), and `work.custom` is an object of custom field ids, not the array
    of strings the schema says; in the human-readable alternative dates are display dates (its example has
    `startDate: 01/05/2015` where the schema says `format: date`). Nothing else is loosened."""

    def relax(node: Any) -> None:
        if isinstance(node, dict):
            for name, sub in (node.get("properties") or {}).items():
                if isinstance(sub, dict):
                    if name == "custom" and sub.get("type") == "array":
                        sub.clear()
                        sub.update({"type": "object", "additionalProperties": {"type": "string", "nullable": True}})
                    sub["nullable"] = True
            for value in node.values():
                relax(value)
        elif isinstance(node, list):
            for value in node:
                relax(value)

    def display_dates(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("format") == "date":
                node.pop("format")
            for value in node.values():
                display_dates(value)
        elif isinstance(node, list):
            for value in node:
                display_dates(value)

    for path in ("/people/search", "/people/{identifier}"):
        answer = document["paths"][path]["post"]["responses"]["200"]
        relax(answer)
        for alternative in answer["content"]["application/json"]["schema"]["properties"]["employees"]["items"]["oneOf"]:
            if str(alternative.get("title", "")).startswith("Human readable"):
                display_dates(alternative)
    return document


@pytest.fixture(scope="module")
def spec() -> OpenApiSpec:
    document = yaml.load(SPEC.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506
    return OpenApiSpec(as_its_examples_show(document), generic_statuses=GENERIC)


async def drive(fake: HiBobFake, log: ExchangeLog, **overrides: Any) -> None:
    """Everything the connector does: check, a full read (after a throttled answer), reads by id."""
    config = hibob_config(fake, **overrides)
    async with build_client(config, transport=log.transport()) as http:
        source = HiBobSource(config, http, retry=ReadRetry(clock=FakeClock()))
        if not (await source.check()).ok:
            return
        fake.fail_next(1, status=429, retry_after=1)
        _ = [page async for page in source.read_persons(None)]
        fake.delete("130")
        _ = [page async for page in source.read_people(["120", "130"])]


@pytest.mark.parametrize("human_readable", ["APPEND", "NONE", "REPLACE"])
async def test_every_exchange_matches_the_document(spec: OpenApiSpec, human_readable: str) -> None:
    fake = HiBobFake.seeded(23, seed=3)
    log = ExchangeLog(fake.handler)
    await drive(fake, log, human_readable=human_readable)
    await drive(fake, log, service_user_token=SecretStr("wrong-token"))
    statuses = {response.status_code for _, response in log.exchanges}
    assert statuses == {200, 401, 404, 429} and len(log.exchanges) >= 6
    for request, response in log.exchanges:
        spec.validate(request, response)


def authorised(fake: HiBobFake, path: str, body: object) -> httpx.Request:
    request = httpx.Request("POST", BASE + path, json=body)
    token = base64.b64encode(f"{fake.service_user_id}:{fake.token}".encode()).decode()
    request.headers["Authorization"] = f"Basic {token}"
    return request


@pytest.mark.parametrize(
    "body",
    [
        {"fields": ["root.id"], "filters": [{"fieldPath": "work.department", "operator": "equals", "values": ["1"]}]},
        {"fields": ["root.id"], "filters": [{"fieldPath": "root.id", "operator": "contains", "values": ["1"]}]},
        {"fields": ["root.id"], "filters": [{"fieldPath": "root.id", "operator": "equals", "values": []}]},
        {"fields": ["root.id"], "filters": [{"fieldPath": "root.id", "operator": "equals", "values": ["1"]}] * 2},
        {"fields": ["root.id"] * 401},
        {"fields": ["root.shoeSize"]},
    ],
    ids=["filter-field", "operator", "no-values", "two-filters", "401-fields", "unknown-field"],
)
def test_bad_searches_are_refused_as_bob_refuses_them(spec: OpenApiSpec, body: dict[str, Any]) -> None:
    fake = HiBobFake.seeded(5, seed=1)
    request = authorised(fake, "people/search", body)
    response = fake.handler(request)
    assert response.status_code == 400, response.content
    spec.validate_response(request, response)


def test_one_filter_on_email_finds_the_one(spec: OpenApiSpec) -> None:
    fake = HiBobFake.seeded(5, seed=1)
    email = fake.person("103").email
    rule = {"fieldPath": "root.email", "operator": "equals", "values": [email]}
    request = authorised(fake, "people/search", {"fields": ["root.id", "work.employeeIdInCompany"], "filters": [rule]})
    response = fake.handler(request)
    spec.validate(request, response)
    assert response.json() == {"employees": [{"id": "103", "work": {"employeeIdInCompany": 103}}]}


def test_the_search_limit_is_a_429(spec: OpenApiSpec) -> None:
    fake = HiBobFake.seeded(3, seed=1)
    answers = [
        fake.handler(authorised(fake, "people/search", {"fields": ["root.id"]})) for _ in range(SEARCH_LIMIT + 1)
    ]
    assert [a.status_code for a in answers] == [200] * SEARCH_LIMIT + [429]
    assert answers[-1].headers["Retry-After"]


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "people/searches", {"fields": ["root.id"]}),  # undocumented path
        ("POST", "people/search", {"fields": ["root.id"], "limit": 50}),  # body field
        ("POST", "people/search", {"fields": "root.id"}),  # wrong type
        ("GET", "people/search", None),  # method
    ],
)
def test_undocumented_requests_fail(spec: OpenApiSpec, method: str, path: str, body: object) -> None:
    with pytest.raises(SpecViolation):
        spec.validate_request(httpx.Request(method, BASE + path, json=body))


@pytest.mark.parametrize(
    "tamper",
    [
        lambda answer: answer.update(cursor="abc"),  # no paging in the document
        lambda answer: answer["employees"][0]["work"].update(employeeIdInCompany=[39]),  # wrong type
    ],
)
def test_undocumented_responses_fail(spec: OpenApiSpec, tamper: Callable[[dict[str, Any]], None]) -> None:
    fake = HiBobFake.seeded(3, seed=1)
    request = authorised(fake, "people/search", {"fields": ["root.id", "work.employeeIdInCompany"]})
    answer = json.loads(fake.handler(request).content)
    tamper(answer)
    with pytest.raises(SpecViolation):
        spec.validate_response(request, httpx.Response(200, json=answer))
