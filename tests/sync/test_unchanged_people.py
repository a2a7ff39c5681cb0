"""Planning passes over people nothing changed for (issue 19, `plan/fingerprint.py`), and never over a change: a new
pipeline version, a tenure rule crossing its day, a termination date reached, an account changed by hand."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from enrolsync.connectors.model import RoleScope
from enrolsync.sync.plan.fingerprint import state_digest
from enrolsync.sync.store.tables import Link, Pipeline, PipelineVersion, RunStatus
from tests.support.database import Database
from tests.support.factories import RULES, staff
from tests.support.harness import Engine, make_engine
from tests.support.harness import seed_staff as seed

pytestmark = pytest.mark.usefixtures("cleanup_datasets")

TODAY = date(2026, 3, 2)


def ops_of(ops: list[Any]) -> list[tuple[str, str, str | None]]:
    return sorted((op.kind, op.hr_id, op.op.get("course_id")) for op in ops)


async def _new_version(engine: Engine, spec: dict[str, Any]) -> None:
    async with engine.db.sessions() as session:
        pipeline = await session.get(Pipeline, engine.pipeline_id)
        assert pipeline is not None
        pipeline.version += 1
        pipeline.spec = spec
        session.add(pipeline)
        session.add(PipelineVersion(pipeline_id=pipeline.id, version=pipeline.version, spec=spec))
        await session.commit()


async def test_a_rerun_passes_over_everyone_and_each_link_keeps_its_fingerprints(engine: Engine) -> None:
    await engine.run()
    before = await engine.links()
    assert all(link.source_fp and link.desired_fp for link in before.values())

    again = await engine.run()

    assert again.status == RunStatus.SUCCEEDED and again.ops_planned == 0
    after = await engine.links()
    assert {h: (lk.source_fp, lk.desired_fp) for h, lk in after.items()} == {
        h: (lk.source_fp, lk.desired_fp) for h, lk in before.items()
    }


async def test_a_new_pipeline_version_is_planned_for_everyone(engine: Engine) -> None:
    await engine.run()
    rules = [*RULES["rules"], {"name": "all of us", "when": {"attr": "department", "op": "exists"}, "enrol": ["C3"]}]
    await _new_version(engine, {**RULES, "rules": rules})

    run = await engine.run()

    assert ops_of(await engine.ops(run.id)) == [("enrol", h, "C3") for h in ("2", "3", "4")]  # 1 leads: has C3


async def test_a_tenure_rule_stops_holding_on_the_day_it_ends(db: Database) -> None:
    joiners = {"name": "new joiners", "when": {"op": "hired_within_days", "days": 30}, "enrol": ["C2"]}
    spec = {**RULES, "rules": [joiners]}
    engine = await make_engine(db, spec=spec)
    engine.rt.today = lambda: TODAY
    engine.data.hris.put(staff("7", manager=None).model_copy(update={"hire_date": TODAY - timedelta(days=20)}))
    first = await engine.run()
    assert ("enrol", "7", "C2") in ops_of(await engine.ops(first.id))

    engine.rt.today = lambda: TODAY + timedelta(days=11)  # 31 days after the hire
    later = await engine.run()

    assert ops_of(await engine.ops(later.id)) == [("unenrol", "7", "C2")]


async def test_a_termination_date_reached_deactivates_on_a_full_run(engine: Engine) -> None:
    engine.rt.today = lambda: TODAY
    seed(engine)
    engine.data.hris.put(staff("4", department="Sales", termination_date=TODAY + timedelta(days=3)))
    await engine.run()

    engine.rt.today = lambda: TODAY + timedelta(days=3)
    run = await engine.run()

    kinds = ops_of(await engine.ops(run.id))
    assert ("deactivate_user", "4", None) in kinds
    assert ("revoke_role", "1", None) in kinds  # the leaver is nobody's report any more
    assert not [a for a in engine.data.lms.accounts.values() if a.fields.external_id == "4" and a.active]


async def test_an_unchanged_person_whose_account_was_changed_by_hand_is_repaired(engine: Engine) -> None:
    await engine.run()
    account_id = (await engine.link("2")).account_id
    assert account_id is not None
    engine.data.lms.enrolments.discard((account_id, "C2"))

    run = await engine.run()

    assert ops_of(await engine.ops(run.id)) == [("enrol", "2", "C2")]
    assert (account_id, "C2") in engine.data.lms.enrolments
    held = {r.scope_id for r in engine.data.lms.roles if r.scope is RoleScope.USER}
    assert account_id in held, "the manager's role over the report is untouched"


@pytest.fixture
async def engine(db: Database) -> Engine:
    made = await make_engine(db)
    seed(made)
    return made


async def test_a_person_whose_stored_record_changed_is_planned_afresh_and_only_they(engine: Engine) -> None:
    await engine.run()
    before = await engine.links()
    engine.data.hris.put(staff("3", department="Sales"))  # left Engineering: C2 goes

    run = await engine.run()

    # C2 goes with Engineering, and the profile's department changes.
    assert ops_of(await engine.ops(run.id)) == [("unenrol", "3", "C2"), ("update_user", "3", None)]
    after = await engine.links()
    changed = {
        h for h in after if (after[h].person_fp, after[h].source_fp) != (before[h].person_fp, before[h].source_fp)
    }
    assert changed == {"3"}, "only the changed record's digest and fingerprint move"


async def test_the_executor_stores_each_applied_states_digest_with_it(engine: Engine) -> None:
    await engine.run()

    linked = [link for link in (await engine.links()).values() if link.account_id is not None]

    assert linked and all(link.applied_fp == state_digest(link.applied) is not None for link in linked)


async def test_an_applied_state_changed_without_its_digest_is_never_taken_as_settled(engine: Engine) -> None:
    await engine.run()
    account_id = (await engine.link("2")).account_id
    async with engine.db.sessions() as session:
        link = await session.get(Link, (engine.pipeline_id, "2"))
        assert link is not None and link.applied_fp == link.desired_fp is not None
        # A writer that knows nothing of digests records that C2 is no longer held (and it is not).
        link.applied = {**link.applied, "enrolments": sorted(set(link.applied["enrolments"]) - {"C2"})}
        session.add(link)
        await session.commit()
    engine.data.lms.enrolments.discard((account_id, "C2"))
    assert (await engine.link("2")).applied_fp is None, "an ORM write of the state leaves its digest unknown"

    run = await engine.run()

    # Taken as settled on the stale digest, "2" would be planned against the changed state: nothing to do.
    assert ops_of(await engine.ops(run.id)) == [("enrol", "2", "C2")]
    after = await engine.link("2")
    assert after.applied_fp == state_digest(after.applied) == after.desired_fp
