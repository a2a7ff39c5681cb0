"""Core INSERTs of the webhook path (`row_values`) write the rows building the table model wrote: same defaults."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from sqlmodel import SQLModel, select

from enrolsync.sync.store import repo
from enrolsync.sync.store.db import row_values
from enrolsync.sync.store.tables import Event, Run, RunStatus, utcnow
from tests.support.database import Database

# Made anew per row (an id, a timestamp): compared by kind and by time, not by value.
_PER_ROW = {"id", "received_at", "created_at"}

_EVENT: dict[str, Any] = {
    "connection_id": "c",
    "event_id": "e-1",
    "headers": {"x": "1"},
    "body": "{}",
    "hr_ids": ["P1"],
}
_RUN: dict[str, Any] = {
    "pipeline_id": "p", "pipeline_version": 3, "trigger": "webhook", "mode": "apply", "scope": "people",
    "hr_ids": ["P1"], "plan_run_id": None, "status": RunStatus.QUEUED,
}  # fmt: skip


def _stable(row: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in row.items() if name not in _PER_ROW}


@pytest.mark.parametrize(("model", "given"), [(Event, _EVENT), (Run, _RUN)])
def test_row_values_are_what_the_model_instance_dumps(model: type[SQLModel], given: dict[str, Any]) -> None:
    before = utcnow()
    built, row = model(**given).model_dump(), row_values(model, **given)

    assert row.keys() == built.keys(), "the same columns, including those left to the database (none given)"
    assert _stable(row) == _stable(built)
    stamps = [value for name, value in row.items() if name in _PER_ROW and isinstance(value, datetime)]
    assert stamps and all(before <= stamp <= utcnow() for stamp in stamps)
    assert isinstance(row["id"], str) and len(row["id"]) == 32


def test_defaults_are_made_per_row_and_unknown_fields_refused() -> None:
    first, second = row_values(Event, **_EVENT), row_values(Event, **_EVENT)

    assert first["id"] != second["id"]
    assert first["run_ids"] == [] and first["run_ids"] is not second["run_ids"], "no list shared between rows"
    with pytest.raises(TypeError, match="no field"):
        row_values(Event, **_EVENT, colour="red")


async def test_stored_event_and_queued_run_rows_equal_those_the_orm_wrote(db: Database) -> None:
    async with db.sessions() as s:
        hr = await repo.create_connection(s, name="hr", connector="memory-source", config={})
        lms = await repo.create_connection(s, name="lms", connector="memory-target", config={})
        pipeline = await repo.create_pipeline(s, name="p", source_id=hr.id, target_id=lms.id, spec={})
        other = await repo.create_pipeline(s, name="o", source_id=hr.id, target_id=lms.id, spec={})
        await s.commit()
    before = utcnow()
    async with db.sessions() as s:
        event, _ = await repo.store_event(
            s, connection_id=hr.id, event_id="e-1", body="{}", headers={"x": "1"}, hr_ids=["P2", "P1", "P2"]
        )
        run, _ = await repo.create_run(
            s, pipeline_id=pipeline.id, trigger="webhook", mode="apply", scope="people", hr_ids=["P1"]
        )
        # What the ORM wrote before: the model built, then added (another pipeline: one queued run each).
        s.add(Event(connection_id=hr.id, event_id="orm", body="{}", headers={"x": "1"}, hr_ids=["P1", "P2"]))
        s.add(Run(**{**_RUN, "pipeline_id": other.id, "pipeline_version": other.version}))
        await s.commit()
    async with db.sessions() as s:
        [core_event, orm_event] = (await s.exec(select(Event).order_by(Event.event_id))).all()
        [orm_run] = (await s.exec(select(Run).where(Run.pipeline_id == other.id))).all()
        core_run = await s.get(Run, run.id)
    assert core_event.id == event.id and core_run is not None
    assert _stable(core_event.model_dump()) == _stable(orm_event.model_dump()) | {"event_id": "e-1"}
    assert _stable(core_run.model_dump()) == _stable(orm_run.model_dump()) | {"pipeline_id": pipeline.id}
    assert before <= core_event.received_at <= utcnow() and before <= core_run.created_at <= utcnow()
