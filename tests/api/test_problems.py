"""Every error is RFC 9457 problem+json; an unhandled error tells the client nothing but is logged."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from structlog.testing import capture_logs

from tests.support.assertions import assert_problem


async def test_unknown_route_is_404(client: httpx.AsyncClient) -> None:
    body = assert_problem(await client.get("/no/such/route"), 404)

    assert body["instance"] == "/no/such/route"


async def test_unknown_resource_is_404(client: httpx.AsyncClient) -> None:
    body = assert_problem(await client.get("/connections/missing"), 404)

    assert "missing" in str(body["detail"])


async def test_wrong_method_is_405_with_allow(client: httpx.AsyncClient) -> None:
    response = await client.put("/connections")

    assert_problem(response, 405)
    assert "POST" in response.headers["allow"]


async def test_validation_error_names_each_field(client: httpx.AsyncClient) -> None:
    response = await client.post("/connections", json={"connector": "memory-source", "config": [], "extra": 1})

    body = assert_problem(response, 422)
    assert isinstance(body["errors"], list)
    assert {e["path"] for e in body["errors"]} == {"name", "config", "extra"}


async def test_malformed_json_is_a_problem(client: httpx.AsyncClient) -> None:
    response = await client.post("/connections", content=b"{not json", headers={"content-type": "application/json"})

    assert_problem(response, 422)


async def test_bad_query_parameter_names_it(client: httpx.AsyncClient) -> None:
    body = assert_problem(await client.get("/connections", params={"limit": 0}), 422)

    assert [e["path"] for e in body["errors"]] == ["query.limit"]


async def test_unhandled_error_is_a_bare_500_and_logged(app: FastAPI, client: httpx.AsyncClient) -> None:
    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("db password is hunter2")

    with capture_logs() as logs:
        response = await client.get("/boom")

    body = assert_problem(response, 500)
    assert "hunter2" not in response.text
    assert "Traceback" not in response.text
    assert body["instance"] == "/boom"
    assert [entry["event"] for entry in logs if entry["log_level"] == "error"] == ["unhandled_error"]


async def test_text_that_cannot_be_stored_is_a_422_naming_the_field(client: httpx.AsyncClient) -> None:
    nul = await client.get("/pipelines/a%00b")
    surrogate = await client.post(
        "/connections",
        content=b'{"name": "x", "connector": "memory-source", "config": {"dataset": "\\ud800"}}',
        headers={"content-type": "application/json"},
    )
    query = await client.get("/audit", params={"actor": "a\x00"})

    assert [e["path"] for e in assert_problem(nul, 422)["errors"]] == ["path.pipeline_id"]
    assert [e["path"] for e in assert_problem(surrogate, 422)["errors"]] == ["config.dataset"]
    assert [e["path"] for e in assert_problem(query, 422)["errors"]] == ["query.actor"]


async def test_auth_problems_are_problem_documents(anonymous: httpx.AsyncClient) -> None:
    response = await anonymous.get("/pipelines")

    body = assert_problem(response, 401)
    assert body["type"] == "urn:enrolsync:problem:unauthorized"
    assert response.headers["www-authenticate"] == "Bearer"
