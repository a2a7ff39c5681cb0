"""A source that can only hand over everyone (a file export, a report) has no cursor to read changes from: a
scheduled "incremental" run of it reads everyone and counts as a full read, so a person missing from it leaves."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from typing import ClassVar

import httpx
import pytest

from enrolsync.connectors.base import Capability, ConnectorInfo, Cursor, Page
from enrolsync.connectors.memory import MemorySource, MemoryTarget
from enrolsync.connectors.memory.state import Dataset
from enrolsync.connectors.model import Person
from enrolsync.connectors.registry import Registry
from tests.support.api import Execute, create_pipeline, run
from tests.support.factories import team


class SnapshotSource(MemorySource):
    """The memory HR system read as a snapshot: whatever cursor it is handed, it answers with everyone."""

    info: ClassVar[ConnectorInfo] = replace(
        MemorySource.info, key="snapshot-source", capabilities=frozenset({Capability.PERSONS_FULL})
    )

    def read_persons(self, since: Cursor | None) -> AsyncIterator[Page[Person]]:
        return super().read_persons(None)


@pytest.fixture
def registry() -> Registry:
    return Registry.from_classes(SnapshotSource, MemoryTarget)


async def test_an_incremental_run_of_a_snapshot_source_notices_who_is_missing(
    client: httpx.AsyncClient, memory: tuple[str, Dataset], execute: Execute
) -> None:
    name, data = memory
    team(data)
    ends = []
    for connector in ("snapshot-source", "memory-target"):
        body = {"name": connector, "connector": connector, "config": {"dataset": name}}
        created = await client.post("/connections", json=body)
        assert created.status_code == 201, created.text
        ends.append(created.json()["id"])
    pipeline = await create_pipeline(client, (ends[0], ends[1]))
    assert (await run(client, execute, pipeline))["status"] == "succeeded"
    account = next(a for a in data.lms.accounts.values() if a.fields.external_id == "B")
    data.hris.remove("B")  # gone from the next export

    scheduled = await run(client, execute, pipeline, scope="incremental")

    assert scheduled["status"] == "succeeded", scheduled
    assert not data.lms.accounts[account.account_id].active, "a person missing from a full snapshot is a leaver"
