"""Two pipelines on one target: an account is the pipeline's that linked it. A second pipeline reaching the same
people reports each as a conflict naming the owner, and writes nothing to them, unless set to share accounts."""

from __future__ import annotations

from typing import Any

import httpx

from enrolsync.connectors.memory.state import Dataset
from tests.support.api import Execute, create_pipeline, run
from tests.support.factories import RULES, team


async def _operations(client: httpx.AsyncClient, run_id: str) -> list[tuple[str, str]]:
    items: list[dict[str, Any]] = (await client.get(f"/runs/{run_id}/operations")).json()["items"]
    return sorted((op["hr_id"], op["kind"]) for op in items)


async def test_a_second_pipeline_does_not_take_over_the_first_ones_accounts(
    client: httpx.AsyncClient, ends: tuple[str, str], memory: tuple[str, Dataset], execute: Execute
) -> None:
    team(memory[1])
    first = await create_pipeline(client, ends, name="emea")
    assert (await run(client, execute, first))["status"] == "succeeded"
    accounts = dict(memory[1].lms.accounts)
    second = await create_pipeline(client, ends, spec={**RULES, "policies": {"base_role": "learner"}}, name="all")

    dry = await run(client, execute, second, mode="plan")

    assert dry["status"] == "succeeded", dry
    assert sorted(dry["conflicted"]) == ["A", "B", "C", "M"]
    assert await _operations(client, dry["id"]) == [], "nothing planned over another pipeline's accounts"
    story = (await client.get(f"/pipelines/{second}/people/A")).json()
    assert story["situation"] == "matching_conflict"
    assert "of pipeline 'emea'" in story["situation_detail"], story["situation_detail"]
    applied = await run(client, execute, second)
    assert memory[1].lms.accounts == accounts, "the first pipeline's accounts are untouched"
    assert applied["conflicted"] == dry["conflicted"]


async def test_pipelines_set_to_share_link_the_same_accounts(
    client: httpx.AsyncClient, ends: tuple[str, str], memory: tuple[str, Dataset], execute: Execute
) -> None:
    team(memory[1])
    first = await create_pipeline(client, ends, name="emea")
    assert (await run(client, execute, first))["status"] == "succeeded"
    shared = {**RULES, "policies": {"share_accounts": True}}
    second = await create_pipeline(client, ends, spec=shared, name="all")

    accounts = dict(memory[1].lms.accounts)

    dry = await run(client, execute, second, mode="plan")

    assert dry["conflicted"] == []
    planned = {kind for _, kind in await _operations(client, dry["id"])}
    assert not planned & {"create_user", "update_user"}, "same people, same accounts: linked, not re-made"
    assert (await run(client, execute, second))["status"] == "succeeded"
    assert memory[1].lms.accounts == accounts
    assert (await client.get(f"/pipelines/{second}/people/A")).json()["situation"] == "in_sync"
