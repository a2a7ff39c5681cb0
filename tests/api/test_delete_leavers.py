"""`policies.leaver: delete` on a target that can delete accounts: a leaver's account is deleted (after their
manager's role over it is revoked), the deletion guard counts it, nothing flaps afterwards, and a rehire gets a
new account rather than a link to the deleted one."""

from __future__ import annotations

from typing import Any

import httpx

from enrolsync.connectors.memory.state import Dataset
from enrolsync.connectors.model import PersonStatus
from tests.support.api import Execute, create_pipeline, run
from tests.support.factories import RULES, employee, seed, team

DELETING: dict[str, Any] = {**RULES, "policies": {"leaver": "delete"}}


async def _kinds(client: httpx.AsyncClient, run_id: str) -> list[tuple[str, str]]:
    items: list[dict[str, Any]] = (await client.get(f"/runs/{run_id}/operations")).json()["items"]
    return [(op["kind"], op["hr_id"]) for op in sorted(items, key=lambda op: op["seq"])]


def _account_of(data: Dataset, hr_id: str) -> str | None:
    return next((a.account_id for a in data.lms.accounts.values() if a.fields.external_id == hr_id), None)


async def test_a_leaver_s_account_is_deleted_once_and_a_rehire_gets_a_new_one(
    client: httpx.AsyncClient, ends: tuple[str, str], memory: tuple[str, Dataset], execute: Execute
) -> None:
    data = memory[1]
    team(data)
    pipeline = await create_pipeline(client, ends, spec=DELETING)
    assert (await run(client, execute, pipeline))["status"] == "succeeded"
    b_account = _account_of(data, "B")
    m_account = _account_of(data, "M")
    assert b_account is not None and _account_of(data, "T") is None, "a leaver before the first sync gets nothing"
    assert any(r.account_id == m_account and r.scope_id == b_account for r in data.lms.roles)

    seed(data, employee("B", department="Sales", manager="M", status=PersonStatus.TERMINATED))
    dry = await run(client, execute, pipeline, mode="plan")
    assert dry["guard"]["deactivations"] == 1 and dry["guard"]["hr_ids"] == ["B"], "a deletion counts for the guard"
    assert (await client.get(f"/pipelines/{pipeline}/people/B")).json()["situation"] == "leaver_deleted"
    left = await run(client, execute, pipeline)

    assert left["status"] == "succeeded", left
    kinds = await _kinds(client, left["id"])
    assert kinds[-1] == ("delete_user", "B"), "deleted last, after every other change"
    assert ("revoke_role", "M") in kinds, "the manager's role over the leaver is revoked first"
    assert b_account not in data.lms.accounts
    assert not any(b_account in (r.account_id, r.scope_id) for r in data.lms.roles)
    again = await run(client, execute, pipeline)
    assert again["progress"]["ops_planned"] == 0, "a deleted leaver is not deleted again, nor re-created"
    story = (await client.get(f"/pipelines/{pipeline}/people/B")).json()
    assert story["account_id"] is None and story["sync_state"] == "in_sync", story
    assert story["situation"] == "leaver_deleted" and "no account is kept" in story["situation_detail"]

    seed(data, employee("B", department="Sales", manager="M"))
    back = await run(client, execute, pipeline)

    assert back["status"] == "succeeded", back
    assert ("create_user", "B") in await _kinds(client, back["id"])
    rehired = _account_of(data, "B")
    assert rehired is not None and rehired != b_account
    assert any(r.account_id == m_account and r.scope_id == rehired for r in data.lms.roles)
