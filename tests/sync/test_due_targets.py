"""Due dates on a target that cannot hold them (issue 16), on SQLite and PostgreSQL: the memory LMS declares no
DUE_DATES, like Moodle, Canvas, TalentLMS and Docebo. The rules' due dates are tracked with progress; nothing about
them is planned, the stored links and ops keep their old form, and a re-sync plans nothing."""

from __future__ import annotations

import copy
from datetime import date, timedelta
from typing import Any

import pytest
from sqlmodel import col, select

from enrolsync.connectors.base import Capability
from enrolsync.connectors.memory import MemoryTarget
from enrolsync.sync.store.tables import EnrolmentProgress, RunStatus
from tests.support.database import Database
from tests.support.factories import RULES
from tests.support.harness import make_engine, seed_staff

pytestmark = pytest.mark.usefixtures("cleanup_datasets")

HIRED = date(2020, 1, 1)  # every seeded staff member's hire date


def rules_with_due(days: int) -> dict[str, Any]:
    document = copy.deepcopy(RULES)
    document["rules"][0]["due"] = {"days_after_hire": days}
    return document


async def test_a_target_without_due_dates_gets_no_due_date_op_and_its_links_keep_their_form(db: Database) -> None:
    assert Capability.DUE_DATES not in MemoryTarget.info.capabilities
    engine = await make_engine(db, spec=rules_with_due(30))
    seed_staff(engine)

    first = await engine.run()

    assert first.status == RunStatus.SUCCEEDED
    ops = await engine.ops(first.id)
    assert ops and "set_due_date" not in {op.kind for op in ops}
    assert all("due_on" not in op.op for op in ops if op.kind == "enrol")
    assert all("due_dates" not in (link.applied or {}) for link in (await engine.links()).values())
    async with db.sessions() as session:
        rows = (await session.exec(select(EnrolmentProgress).where(col(EnrolmentProgress.course_id) == "C1"))).all()
    assert {row.due_on for row in rows} == {HIRED + timedelta(days=30)}, "the due date is tracked here instead"

    second = await engine.run()

    assert second.status == RunStatus.SUCCEEDED and second.ops_planned == 0
