"""Pipelines over the API: end kinds, rule validation with paths, versioning, deletion rules."""

from __future__ import annotations

from typing import Any

import httpx
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from enrolsync.sync.store.tables import PipelineVersion
from tests.support.factories import RULE


async def create_pipeline(client: httpx.AsyncClient, ends: tuple[str, str], **extra: Any) -> Any:
    body = {"name": "sales", "source_id": ends[0], "target_id": ends[1], "spec": {"rules": [RULE]}, **extra}
    response = await client.post("/pipelines", json=body)
    assert response.status_code == 201, response.text
    return response.json()


async def test_create_and_read(client: httpx.AsyncClient, ends: tuple[str, str]) -> None:
    created = await create_pipeline(client, ends)

    read = (await client.get(f"/pipelines/{created['id']}")).json()

    assert read == created
    assert read["version"] == 1
    assert read["spec"]["rules"][0]["enrol"] == ["C1"]
    assert read["spec"]["policies"]["leaver"] == "deactivate"  # defaults are filled in and shown
    assert [p["id"] for p in (await client.get("/pipelines")).json()["items"]] == [created["id"]]


async def test_malformed_rule_is_422_with_its_path_and_nothing_is_stored(
    client: httpx.AsyncClient, ends: tuple[str, str]
) -> None:
    bad = {"name": "r", "when": {"all": [RULE["when"], {"attr": "shoe_size", "op": "equals", "value": "9"}]}}
    body = {"name": "p", "source_id": ends[0], "target_id": ends[1], "spec": {"rules": [RULE, bad]}}

    response = await client.post("/pipelines", json=body)

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert [e["path"] for e in response.json()["errors"]] == ["spec.rules[1].when.all[1].attr"]
    assert (await client.get("/pipelines")).json()["items"] == []


async def test_source_must_be_hris_and_target_lms(client: httpx.AsyncClient, ends: tuple[str, str]) -> None:
    source, target = ends
    body = {"name": "p", "source_id": target, "target_id": source}

    response = await client.post("/pipelines", json=body)

    assert response.status_code == 422
    assert {e["path"] for e in response.json()["errors"]} == {"source_id", "target_id"}
    assert (await client.get("/pipelines")).json()["items"] == []


async def test_unknown_connection_is_422(client: httpx.AsyncClient, ends: tuple[str, str]) -> None:
    response = await client.post("/pipelines", json={"name": "p", "source_id": "nope", "target_id": ends[1]})

    assert response.status_code == 422
    assert [e["path"] for e in response.json()["errors"]] == ["source_id"]


async def test_spec_and_end_changes_bump_the_version_and_keep_the_old_spec(
    client: httpx.AsyncClient, ends: tuple[str, str], session: AsyncSession
) -> None:
    pipeline = await create_pipeline(client, ends)
    url = f"/pipelines/{pipeline['id']}"
    second_rule = {**RULE, "name": "everyone", "when": {"attr": "hr_id", "op": "exists"}}

    v2 = (await client.patch(url, json={"spec": {"rules": [RULE, second_rule]}})).json()
    unchanged = (await client.patch(url, json={"spec": {"rules": [RULE, second_rule]}})).json()
    renamed = (await client.patch(url, json={"name": "sales-and-all"})).json()
    other = (await client.post("/connections", json={"name": "hr2", "connector": "memory-source"})).json()
    v3 = (await client.patch(url, json={"source_id": other["id"]})).json()

    assert [r["version"] for r in (v2, unchanged, renamed, v3)] == [2, 2, 2, 3]
    assert (v3["name"], v3["source_id"]) == ("sales-and-all", other["id"])
    stmt = select(PipelineVersion).where(col(PipelineVersion.pipeline_id) == pipeline["id"])
    versions = {v.version: v.spec for v in (await session.exec(stmt)).all()}
    assert sorted(versions) == [1, 2, 3]
    assert len(versions[1]["rules"]) == 1 and len(versions[2]["rules"]) == 2


async def test_an_update_racing_another_answers_409_instead_of_overwriting_it(
    client: httpx.AsyncClient, ends: tuple[str, str], session: AsyncSession
) -> None:
    pipeline = await create_pipeline(client, ends)
    # Another admin's update recorded version 2 after this request loaded version 1. Only its version row is
    # written here: that row is where two updates collide, and it makes the race happen on every run.
    theirs = {"rules": [{**RULE, "name": "theirs"}]}
    session.add(PipelineVersion(pipeline_id=pipeline["id"], version=2, spec=theirs))
    await session.commit()

    response = await client.patch(f"/pipelines/{pipeline['id']}", json={"spec": {"rules": [{**RULE, "name": "mine"}]}})

    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    stmt = select(PipelineVersion).where(
        col(PipelineVersion.pipeline_id) == pipeline["id"], PipelineVersion.version == 2
    )
    assert (await session.exec(stmt.execution_options(populate_existing=True))).one().spec == theirs
    assert (await client.get(f"/pipelines/{pipeline['id']}")).json()["spec"]["rules"][0]["name"] == RULE["name"]


async def test_bad_update_changes_nothing(client: httpx.AsyncClient, ends: tuple[str, str]) -> None:
    pipeline = await create_pipeline(client, ends)
    url = f"/pipelines/{pipeline['id']}"

    response = await client.patch(url, json={"name": "x", "spec": {"rules": [{"name": "r", "when": {}}]}})

    assert response.status_code == 422
    assert response.json()["errors"][0]["path"].startswith("spec.rules[0].when")
    assert (await client.get(url)).json() == pipeline


async def test_connection_in_use_cannot_be_deleted(client: httpx.AsyncClient, ends: tuple[str, str]) -> None:
    pipeline = await create_pipeline(client, ends)

    refused = await client.delete(f"/connections/{ends[0]}")
    assert refused.status_code == 409
    assert refused.headers["content-type"] == "application/problem+json"

    assert (await client.delete(f"/pipelines/{pipeline['id']}")).status_code == 204
    assert (await client.get(f"/pipelines/{pipeline['id']}")).status_code == 404
    assert (await client.delete(f"/connections/{ends[0]}")).status_code == 204


async def test_duplicate_name_is_409(client: httpx.AsyncClient, ends: tuple[str, str]) -> None:
    await create_pipeline(client, ends)

    response = await client.post("/pipelines", json={"name": "sales", "source_id": ends[0], "target_id": ends[1]})

    assert response.status_code == 409


async def test_a_spec_asking_more_than_the_target_can_do_is_422_naming_the_field(
    client: httpx.AsyncClient, ends: tuple[str, str]
) -> None:
    spec = {"rules": [RULE], "policies": {"leaver": "delete"}}
    keeping = {"name": "keeps accounts", "connector": "keeping-target", "config": {"dataset": "keeping"}}
    target = (await client.post("/connections", json=keeping)).json()["id"]
    body = {"name": "p", "source_id": ends[0], "target_id": target, "spec": spec}

    created = await client.post("/pipelines", json=body)
    pipeline = await create_pipeline(client, (ends[0], target))
    patched = await client.patch(f"/pipelines/{pipeline['id']}", json={"spec": spec})

    for response in (created, patched):
        assert response.status_code == 422 and response.headers["content-type"] == "application/problem+json"
        [error] = response.json()["errors"]
        assert error["path"] == "spec.policies.leaver" and "hard_delete" in error["message"]
    assert [p["id"] for p in (await client.get("/pipelines")).json()["items"]] == [pipeline["id"]]
    assert (await client.get(f"/pipelines/{pipeline['id']}")).json()["version"] == 1
