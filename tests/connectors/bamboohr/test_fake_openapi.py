"""The fake answers as BambooHR's published OpenAPI document says, and the connector asks only what it allows.

The connector talks to the API-key gateway (`/api/gateway.php/{companyDomain}/v1/...`); the document describes
the company host (`https://{companyDomain}.bamboohr.com/api/v1/...`), so URLs are mapped before checking.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from enrolsync.connectors.bamboohr import BambooHRSource
from enrolsync.connectors.bamboohr.fake.server import BambooHRFake
from enrolsync.connectors.base import Cursor
from enrolsync.connectors.kit.client import build_client
from enrolsync.connectors.kit.retry import ReadRetry
from enrolsync.connectors.testing.fakes import FakeClock
from enrolsync.connectors.testing.openapi import ExchangeLog, OpenApiSpec, SpecViolation
from tests.support.connectors import PAYLOADS, make_config

SPEC = Path(__file__).parent / "openapi" / "bamboohr-public.yaml"
GATEWAY = re.compile(r"^/api/gateway\.php/(?P<domain>[^/]+)/(?P<rest>.*)$")
# Not in the document for every endpoint, yet any endpoint answers them: a refused key, and throttling
# (503 + Retry-After is BambooHR's main throttle signal; 429 on some endpoints).
GENERIC = (401, 429, 503)


def to_company_host(url: httpx.URL) -> httpx.URL:
    match = GATEWAY.match(url.path)
    if match is None:
        return url
    return url.copy_with(host=f"{match['domain']}.bamboohr.com", path=f"/api/{match['rest']}")


@pytest.fixture(scope="module")
def spec() -> OpenApiSpec:
    return OpenApiSpec.from_file(SPEC, rewrite=to_company_host, generic_statuses=GENERIC)


async def drive(fake: BambooHRFake, log: ExchangeLog, *, api_key: str | None = None) -> None:
    """Everything the connector does: check, full read, delta after changes, throttling."""
    config = make_config(fake, id_batch_size=2, **({"api_key": SecretStr(api_key)} if api_key else {}))
    async with build_client(config, transport=log.transport()) as http:
        source = BambooHRSource(config, http, retry=ReadRetry(clock=FakeClock()))
        if not (await source.check()).ok:
            return
        fake.fail_next(1, status=503, retry_after=1)
        checkpoint = [page async for page in source.read_persons(None)][-1].checkpoint
        fake.hire("Noor", "Haddad", department="Sales", manager="102")
        fake.move("110", department="Legal")
        fake.terminate("121", fake.today)
        fake.delete("140")
        _ = [page async for page in source.read_persons(Cursor(checkpoint or ""))]


async def test_every_exchange_matches_the_document(spec: OpenApiSpec) -> None:
    fake = BambooHRFake.seeded(57, seed=7)
    log = ExchangeLog(fake.handler)
    await drive(fake, log)
    await drive(fake, log, api_key="wrong-key")
    statuses = {response.status_code for _, response in log.exchanges}
    assert statuses == {200, 401, 503} and len(log.exchanges) > 10
    for request, response in log.exchanges:
        spec.validate(request, response)


async def test_fake_refusals_match_the_document(spec: OpenApiSpec) -> None:
    fake = BambooHRFake.seeded(5, seed=1)
    auth = "Basic " + base64.b64encode(f"{fake.api_key}:x".encode()).decode()
    base = "https://api.bamboohr.com/api/gateway.php/acme/"
    refused = [
        httpx.Request("POST", base + "v2/datasets/employee/data", json={"fields": ["eeid", "shoeSize"]}),
        httpx.Request("POST", base + "v2/datasets/employee/data", json={"fields": ["eeid"], "pageSize": 5000}),
        httpx.Request("POST", base + "v2/datasets/employee/data", json={"fields": ["eeid"], "filter": "a eq 1"}),
        httpx.Request("GET", base + "v1/employees/changed", params={"since": "2025-01-01T00:00:00Z", "type": "x"}),
    ]
    for request in refused:
        request.headers["Authorization"] = auth
        response = fake.handler(request)
        assert response.status_code in (400, 422), response.content
        spec.validate_response(request, response)  # the requests are wrong on purpose; the answers are not


JSON = {"Content-Type": "application/json"}


def test_payload_samples_match_the_document(spec: OpenApiSpec) -> None:
    base = "https://acme.bamboohr.com/api/"
    dataset = httpx.Request("POST", base + "v2/datasets/employee/data", json={"fields": ["eeid"]})
    changed = httpx.Request("GET", base + "v1/employees/changed", params={"since": "2025-06-02T12:00:00Z"})
    samples = [
        (dataset, 200, "dataset_employee_page.json"),
        (dataset, 422, "problem_invalid_filter.json"),
        (changed, 200, "employees_changed.json"),
    ]
    for request, status, name in samples:
        spec.validate_response(request, httpx.Response(status, content=(PAYLOADS / name).read_bytes(), headers=JSON))
    for kind in ("created", "updated", "deleted"):
        spec.validate_webhook(f"employee.{kind}", (PAYLOADS / f"webhook_employee_{kind}.json").read_bytes())


@pytest.mark.parametrize(
    ("method", "path", "params", "body"),
    [
        ("GET", "v1/employees/changes", {"since": "2025-06-02T12:00:00Z"}, None),  # undocumented path
        ("GET", "v1/employees/changed", {"since": "2025-06-02T12:00:00Z", "limit": "5"}, None),  # parameter
        ("GET", "v1/employees/changed", {"since": "yesterday"}, None),  # not a date-time
        ("POST", "v2/datasets/employee/data", {}, {"fields": ["eeid"], "page_size": 5}),  # body field
        ("DELETE", "v2/datasets/employee/data", {}, None),  # method
    ],
)
def test_undocumented_requests_fail(
    spec: OpenApiSpec, method: str, path: str, params: dict[str, str], body: object
) -> None:
    request = httpx.Request(method, "https://api.bamboohr.com/api/gateway.php/acme/" + path, params=params, json=body)
    with pytest.raises(SpecViolation):
        spec.validate_request(request)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda page: page["meta"].update(cursor="abc"),  # undocumented field
        lambda page: page["data"][0].update(id="101"),  # undocumented field on a row
        lambda page: page["data"][0]["fields"].update(email=None),  # values are strings
        lambda page: page.update(meta={"page": "1"}),  # wrong type
    ],
)
def test_undocumented_responses_fail(spec: OpenApiSpec, tamper: Callable[[dict[str, Any]], None]) -> None:
    page = json.loads((PAYLOADS / "dataset_employee_page.json").read_bytes())
    tamper(page)
    with pytest.raises(SpecViolation):
        spec.validate_response(DATASET, httpx.Response(200, json=page))


def test_undeclared_status_fails(spec: OpenApiSpec) -> None:
    with pytest.raises(SpecViolation):
        spec.validate_response(DATASET, httpx.Response(418, json={}))


DATASET = httpx.Request("POST", "https://acme.bamboohr.com/api/v2/datasets/employee/data", json={"fields": ["a"]})
