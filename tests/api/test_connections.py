"""Connections over the API: validation, secret redaction everywhere, checks, deletion rules, pagination."""

from __future__ import annotations

from typing import Any

import httpx
from sqlmodel.ext.asyncio.session import AsyncSession
from structlog.testing import capture_logs

from enrolsync.connectors.memory.state import Dataset
from enrolsync.sync.store.tables import Connection

SECRET = "s3cret-Value-4711"


async def create(client: httpx.AsyncClient, name: str, connector: str = "memory-source", **config: Any) -> Any:
    response = await client.post("/connections", json={"name": name, "connector": connector, "config": config})
    assert response.status_code == 201, response.text
    return response.json()


async def test_crud_never_returns_or_logs_the_secret(client: httpx.AsyncClient, session: AsyncSession) -> None:
    with capture_logs() as logs:
        created = await client.post(
            "/connections",
            json={"name": "hr", "connector": "memory-source", "config": {"dataset": "d1", "token": SECRET}},
        )
        ident = created.json()["id"]
        bodies = [
            created.text,
            (await client.get(f"/connections/{ident}")).text,
            (await client.get("/connections")).text,
            (await client.patch(f"/connections/{ident}", json={"name": "hr-2"})).text,
            (await client.patch(f"/connections/{ident}", json={"config": {"token": SECRET + "-new"}})).text,
            (await client.get("/openapi.json")).text,
        ]
    assert created.status_code == 201
    assert created.headers["location"] == f"/connections/{ident}"
    for body in bodies:
        assert SECRET not in body
    assert SECRET not in repr(logs)
    shown = created.json()
    assert shown["config"].items() >= {"base_url": "http://memory.invalid/", "dataset": "d1", "page_size": 50}.items()
    assert "token" not in shown["config"]
    assert shown["secrets_set"] == ["token"]
    assert shown["kind"] == "hris"
    stored = await session.get(Connection, ident)
    assert stored is not None
    assert SECRET not in stored.secrets and SECRET not in repr(stored.config)  # encrypted at rest


async def test_the_connector_of_a_connection_cannot_change(client: httpx.AsyncClient) -> None:
    ident = (await create(client, "hr"))["id"]

    response = await client.patch(f"/connections/{ident}", json={"connector": "memory-target"})

    assert response.status_code == 422
    assert [e["path"] for e in response.json()["errors"]] == ["connector"]
    assert (await client.get(f"/connections/{ident}")).json()["connector"] == "memory-source"


async def test_update_keeps_secrets_left_out(client: httpx.AsyncClient, memory: tuple[str, Dataset]) -> None:
    name, data = memory
    data.hris.token = SECRET
    ident = (await create(client, "hr", dataset=name, token=SECRET))["id"]

    updated = await client.patch(f"/connections/{ident}", json={"config": {"page_size": 10}, "name": "renamed"})

    assert updated.status_code == 200
    assert updated.json()["config"]["page_size"] == 10
    assert updated.json()["name"] == "renamed"
    check = await client.post(f"/connections/{ident}/check")
    assert check.json()["ok"] is True


async def test_moving_a_connection_requires_its_secrets_again(
    client: httpx.AsyncClient, memory: tuple[str, Dataset]
) -> None:
    # The review's attack: point a connection elsewhere, then let the check send the stored key there.
    name, data = memory
    data.hris.token = SECRET
    ident = (await create(client, "hr", dataset=name, token=SECRET))["id"]

    moved = await client.patch(f"/connections/{ident}", json={"config": {"base_url": "https://hr.example.com/"}})
    same_place = await client.patch(f"/connections/{ident}", json={"config": {"base_url": "http://memory.invalid"}})

    assert moved.status_code == 422, moved.text
    assert moved.headers["content-type"] == "application/problem+json"
    assert [(e["path"], e["type"]) for e in moved.json()["errors"]] == [("config.token", "required")]
    assert (await client.get(f"/connections/{ident}")).json()["config"]["base_url"] == "http://memory.invalid/"
    assert same_place.status_code == 200  # the same address, written differently, is no move
    resent = await client.patch(
        f"/connections/{ident}", json={"config": {"base_url": "https://hr.example.com/", "token": SECRET + "-2"}}
    )
    assert resent.status_code == 200, resent.text
    assert resent.json()["config"]["base_url"] == "https://hr.example.com/"
    assert resent.json()["secrets_set"] == ["token"]


async def test_unknown_connector_is_422_naming_connector(client: httpx.AsyncClient) -> None:
    response = await client.post("/connections", json={"name": "x", "connector": "nope", "config": {}})

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert [e["path"] for e in response.json()["errors"]] == ["connector"]
    assert (await client.get("/connections")).json()["items"] == []


async def test_missing_and_extra_config_fields_are_named(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/connections",
        json={
            "name": "strict",
            "connector": "strict-source",
            "config": {"base_url": "https://hr.example.com", "api_key": SECRET, "colour": "red"},
        },
    )

    assert response.status_code == 422
    paths = {e["path"]: e["type"] for e in response.json()["errors"]}
    assert paths == {"config.subdomain": "missing", "config.colour": "extra_forbidden"}
    assert SECRET not in response.text
    assert (await client.get("/connections")).json()["items"] == []


async def test_plain_http_base_url_is_refused(client: httpx.AsyncClient) -> None:
    config = {"base_url": "http://hr.example.com", "subdomain": "acme", "api_key": SECRET}
    response = await client.post("/connections", json={"name": "s", "connector": "strict-source", "config": config})

    assert response.status_code == 422
    assert [e["path"] for e in response.json()["errors"]] == ["config.base_url"]
    assert (await client.get("/connections")).json()["items"] == []


async def test_https_base_url_is_accepted_and_patch_to_http_refused(client: httpx.AsyncClient) -> None:
    ident = (await create(client, "s", "strict-source", base_url="https://hr.example.com", subdomain="a", api_key="k"))[
        "id"
    ]

    response = await client.patch(f"/connections/{ident}", json={"config": {"base_url": "http://hr.example.com"}})

    assert response.status_code == 422
    shown = (await client.get(f"/connections/{ident}")).json()
    assert shown["config"]["base_url"] == "https://hr.example.com/"
    assert shown["secrets_set"] == ["api_key"]


async def test_duplicate_name_is_409(client: httpx.AsyncClient) -> None:
    await create(client, "hr")

    response = await client.post("/connections", json={"name": "hr", "connector": "memory-target", "config": {}})

    assert response.status_code == 409
    assert response.json()["status"] == 409


async def test_check_with_wrong_credentials_answers_ok_false(
    client: httpx.AsyncClient, memory: tuple[str, Dataset]
) -> None:
    name, data = memory
    data.hris.token = "the-right-one"
    ident = (await create(client, "hr", dataset=name, token="a-wrong-one"))["id"]

    response = await client.post(f"/connections/{ident}/check")

    assert response.status_code == 200
    assert response.json()["ok"] is False
    assert "credentials" in response.json()["detail"]


async def test_check_with_right_credentials_answers_ok(client: httpx.AsyncClient, memory: tuple[str, Dataset]) -> None:
    name, data = memory
    data.lms.token = SECRET
    ident = (await create(client, "lms", "memory-target", dataset=name, token=SECRET))["id"]

    response = await client.post(f"/connections/{ident}/check")

    assert response.json()["ok"] is True
    assert SECRET not in response.text


async def test_delete_then_gone(client: httpx.AsyncClient) -> None:
    ident = (await create(client, "hr"))["id"]

    assert (await client.delete(f"/connections/{ident}")).status_code == 204
    assert (await client.get(f"/connections/{ident}")).status_code == 404
    assert (await client.delete(f"/connections/{ident}")).status_code == 404


async def test_list_paginates_with_a_cursor(client: httpx.AsyncClient) -> None:
    ids = [(await create(client, f"c{i}"))["id"] for i in range(3)]

    first = (await client.get("/connections", params={"limit": 2})).json()
    second = (await client.get("/connections", params={"limit": 2, "after": first["next"]})).json()

    assert [c["id"] for c in first["items"]] == ids[:2]
    assert [c["id"] for c in second["items"]] == ids[2:]
    assert second["next"] is None


async def test_unknown_cursor_is_400(client: httpx.AsyncClient) -> None:
    response = await client.get("/connections", params={"after": "no-such-id"})

    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
