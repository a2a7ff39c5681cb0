"""The run engine on SQLite and PostgreSQL with memory connectors: what a first sync, a re-sync and HR changes do."""

from __future__ import annotations

from typing import Any

import pytest

from enrolsync.connectors.errors import TransientError
from enrolsync.connectors.model import AccountFields, PersonStatus, RoleAssignment, RoleScope
from enrolsync.sync.run.planning import recorded_verdict
from enrolsync.sync.store.tables import RunStatus
from tests.support.database import Database
from tests.support.factories import RULES, staff
from tests.support.harness import Engine, make_engine
from tests.support.harness import seed_staff as seed

pytestmark = pytest.mark.usefixtures("cleanup_datasets")


def enrolled(engine: Engine) -> dict[str, set[str]]:
    by_user: dict[str, set[str]] = {}
    accounts = engine.data.lms.accounts
    for account_id, course in engine.data.lms.enrolments:
        by_user.setdefault(accounts[account_id].fields.external_id or "", set()).add(course)
    return by_user


def summary(ops: list[Any]) -> list[tuple[str, str, str | None]]:
    return sorted((op.kind, op.hr_id, op.op.get("course_id")) for op in ops)


async def test_dry_run_plans_everything_and_writes_nothing(engine: Engine) -> None:
    run = await engine.run(mode="plan")

    assert run.status == RunStatus.SUCCEEDED
    assert run.people_read == 4 and run.ops_planned == len(await engine.ops(run.id))
    assert {op.status for op in await engine.ops(run.id)} == {"planned"}
    assert engine.data.lms.writes == 0 and engine.data.lms.accounts == {}


async def test_first_sync_provisions_everyone_and_a_resync_writes_nothing(engine: Engine) -> None:
    first = await engine.run()

    assert first.status == RunStatus.SUCCEEDED
    assert sorted(a.fields.external_id or "" for a in engine.data.lms.accounts.values()) == ["1", "2", "3", "4"]
    assert enrolled(engine) == {"1": {"C1", "C2", "C3"}, "2": {"C1", "C2"}, "3": {"C1", "C2"}, "4": {"C1"}}
    manager = (await engine.link("1")).account_id
    reports = {(await engine.link(h)).account_id for h in ("2", "3", "4")}
    held = {r.scope_id for r in engine.data.lms.roles if r.account_id == manager and r.scope is RoleScope.USER}
    assert held == reports
    writes = engine.data.lms.writes

    second = await engine.run()

    assert second.status == RunStatus.SUCCEEDED
    assert second.ops_planned == 0 and engine.data.lms.writes == writes


async def test_hire_move_and_termination_yield_exactly_their_operations(engine: Engine) -> None:
    await engine.run()
    engine.data.hris.put(staff("5", department="Sales"))
    engine.data.hris.put(staff("3", department="Sales"))
    engine.data.hris.put(staff("4", department="Sales", status=PersonStatus.TERMINATED))

    run = await engine.run(scope="incremental")

    assert run.status == RunStatus.SUCCEEDED
    assert summary(await engine.ops(run.id)) == [
        ("assign_role", "1", None),  # manager scope over the new hire
        ("create_user", "5", None),
        ("deactivate_user", "4", None),
        ("enrol", "5", "C1"),
        ("revoke_role", "1", None),  # the leaver is no longer a report
        ("unenrol", "3", "C2"),
        ("update_user", "3", None),
    ]
    accounts = {a.fields.external_id: a for a in engine.data.lms.accounts.values()}
    assert accounts["4"].active is False
    assert enrolled(engine)["4"] == {"C1"}, "a leaver keeps their training records"
    assert (await engine.run(scope="incremental")).ops_planned == 0


async def test_a_rejected_person_fails_alone_and_the_run_says_so(db: Database) -> None:
    engine = await make_engine(db, spec={**RULES, "match_keys": ["external_id"]})
    seed(engine)
    # Someone else already holds person 2's email in the LMS: the target refuses that one create.
    engine.data.lms.new_account(
        AccountFields(username="other", given_name="O", family_name="Ther", email="person2@example.com")
    )

    run = await engine.run()

    assert run.status == RunStatus.PARTIALLY_FAILED
    failed = [op for op in await engine.ops(run.id) if op.status == "failed"]
    assert [(op.kind, op.hr_id) for op in failed] == [("create_user", "2")]
    assert "email" in (failed[0].last_error or "")
    skipped = [op for op in await engine.ops(run.id) if op.status == "not_attempted"]
    # Person 2's enrolments, and manager 1's role over person 2, wait for an account that does not exist.
    assert sorted((op.kind, op.hr_id) for op in skipped) == [("assign_role", "1"), ("enrol", "2"), ("enrol", "2")]
    assert [op.op["scope_hr_id"] for op in skipped if op.kind == "assign_role"] == ["2"]
    assert (await engine.link("2")).last_error
    assert sorted(e for e in enrolled(engine)) == ["1", "3", "4"]


async def test_a_503_then_success_is_retried_after_the_servers_delay(engine: Engine) -> None:
    engine.data.lms.fail_next.append(TransientError("busy", status=503, retry_after=9))

    run = await engine.run()

    assert run.status == RunStatus.SUCCEEDED
    assert 9 in engine.clock.sleeps
    assert len(engine.data.lms.accounts) == 4, "the retried creates made no duplicates"


async def test_an_empty_hr_answer_is_blocked_not_applied(db: Database) -> None:
    spec = {**RULES, "policies": {"deactivation_guard": {"percent": 10, "min_count": 2}}}
    engine = await make_engine(db, spec=spec)
    seed(engine)
    await engine.run()
    for hr_id in ("1", "2", "3", "4"):
        engine.data.hris.remove(hr_id)

    run = await engine.run()

    assert run.status == RunStatus.BLOCKED
    verdict = recorded_verdict(run)
    assert verdict is not None and (verdict.deactivations, verdict.allowed) == (4, 2)
    assert verdict.hr_ids == ("1", "2", "3", "4"), "the blocked run names the people"
    assert all(a.active for a in engine.data.lms.accounts.values())


async def test_a_crash_mid_apply_resumes_without_repeating_effects(engine: Engine) -> None:
    from enrolsync.sync.run import steps

    calls = 0
    original = engine.data.lms

    class Crash(Exception):
        pass

    async def crash_after_first_batch(run_id: str) -> None:
        nonlocal calls
        from enrolsync.sync.run.apply import _send_wave

        real = _send_wave

        async def once(*args: Any) -> None:
            nonlocal calls
            calls += 1
            if calls == 3:
                raise Crash
            await real(*args)

        import enrolsync.sync.run.apply as apply_module

        apply_module._send_wave = once  # type: ignore[assignment]
        try:
            await steps.apply(engine.rt, run_id)
        finally:
            apply_module._send_wave = real

    async with engine.db.sessions() as session:
        from enrolsync.sync.jobs import run_requests

        run, _ = await run_requests.request_run(
            session, pipeline_id=engine.pipeline_id, mode="apply", scope="full", queue=engine.queue
        )
    assert await steps.begin(engine.rt, run.id)
    await steps.plan(engine.rt, run.id)
    assert await steps.guard(engine.rt, run.id)
    with pytest.raises(Crash):
        await crash_after_first_batch(run.id)
    partial = original.writes
    assert partial > 0

    # The worker restarts: every step runs again from the top, as the durable engine replays it.
    assert await steps.begin(engine.rt, run.id)
    await steps.plan(engine.rt, run.id)
    assert await steps.guard(engine.rt, run.id)
    await steps.apply(engine.rt, run.id)
    assert await steps.finish(engine.rt, run.id) == "succeeded"

    assert len(original.accounts) == 4
    ops = await engine.ops(run.id)
    assert {op.status for op in ops} <= {"done", "already"}
    assert original.writes == len(ops), "each effect was made exactly once"


async def test_a_full_run_repairs_group_and_enrolment_drift_on_a_target_with_groups(db: Database) -> None:
    spec = {
        **RULES,
        "rules": [*RULES["rules"], {"name": "all", "when": {"op": "exists", "attr": "hr_id"}, "groups": ["g"]}],
    }
    engine = await make_engine(db, spec=spec)
    seed(engine)
    await engine.run()
    lms = engine.data.lms
    two, three = (await engine.link("2")).account_id or "", (await engine.link("3")).account_id or ""
    lms.groups.discard((two, "g"))
    lms.enrolments.discard((three, "C2"))

    run = await engine.run()

    assert [(op.kind, op.hr_id, op.op["drift"]) for op in await engine.ops(run.id)] == [
        ("add_to_group", "2", True),
        ("enrol", "3", True),
    ]
    assert run.counters["drift"] == {"add_to_group": 1, "enrol": 1}
    assert (two, "g") in lms.groups and (three, "C2") in lms.enrolments


async def test_a_full_run_repairs_role_drift_on_the_memory_target(engine: Engine) -> None:
    await engine.run()
    lms = engine.data.lms
    one, two, three, four = [(await engine.link(h)).account_id or "" for h in ("1", "2", "3", "4")]
    # By hand: 1 loses the manager role over 2; 2 (who manages nobody) gets it over 3; 3 gets an admin role no
    # rule gives; 4's account is deleted (and with it 1's role over it).
    lms.roles.discard(RoleAssignment(account_id=one, role="manager", scope=RoleScope.USER, scope_id=two))
    lms.roles.add(RoleAssignment(account_id=two, role="manager", scope=RoleScope.USER, scope_id=three))
    admin = RoleAssignment(account_id=three, role="admin")
    lms.roles.add(admin)
    del lms.accounts[four]
    lms.roles = {r for r in lms.roles if four not in (r.account_id, r.scope_id)}
    assert (await engine.run(scope="incremental")).ops_planned == 0, "an incremental run trusts the links"

    run = await engine.run()

    roles = [(op.kind, op.hr_id, op.op.get("scope_hr_id"), op.op["drift"]) for op in await engine.ops(run.id)]
    assert [r for r in roles if r[0].endswith("_role")] == [
        ("assign_role", "1", "2", True),
        ("assign_role", "1", "4", True),
        ("revoke_role", "2", "3", True),
    ]
    new_four = (await engine.link("4")).account_id or ""
    held = {(r.account_id, r.scope_id) for r in lms.roles if r.role == "manager"}
    assert held == {(one, two), (one, three), (one, new_four)}
    assert admin in lms.roles, "a role no rule gives is left alone"
    assert (await engine.run()).ops_planned == 0, "repaired: the next reconcile finds nothing"


async def test_a_started_enrolment_survives_a_move_on_the_memory_target(engine: Engine) -> None:
    await engine.run()
    three = (await engine.link("3")).account_id or ""
    engine.data.lms.started.add((three, "C2"))
    engine.data.hris.put(staff("3", department="Sales"))

    run = await engine.run(scope="incremental")

    assert summary(await engine.ops(run.id)) == [("update_user", "3", None)]
    assert run.counters["kept_started"] == 1
    assert (three, "C2") in engine.data.lms.enrolments


def test_runs_and_steps_against_one_system_share_its_request_budget() -> None:
    from enrolsync.connectors.memory import MemoryTarget
    from enrolsync.connectors.memory.config import MemoryConfig
    from enrolsync.sync.run.clients import ClientFactory

    factory = ClientFactory()
    info = MemoryTarget.info
    same = factory.limiter(info, MemoryConfig(dataset="a")), factory.limiter(info, MemoryConfig(dataset="b"))
    other = factory.limiter(info, MemoryConfig(dataset="a", base_url="http://other.invalid/"))  # type: ignore[arg-type]
    assert same[0] is same[1], "one endpoint, one budget (its Retry-After pauses every caller)"
    assert other is not same[0]


async def test_a_person_gone_from_hr_stays_a_leaver_until_hr_shows_them_again(engine: Engine) -> None:
    await engine.run()
    person = engine.data.hris.persons["2"]
    engine.data.hris.remove("2")

    gone = await engine.run(scope="incremental")

    assert {(op.kind, op.hr_id) for op in await engine.ops(gone.id)} == {
        ("deactivate_user", "2"),
        ("revoke_role", "1"),
    }
    assert (await engine.run(scope="incremental")).ops_planned == 0
    assert (await engine.run()).ops_planned == 0
    engine.data.hris.put(person)  # HR shows them again

    back = await engine.run(scope="incremental")

    assert {(op.kind, op.hr_id) for op in await engine.ops(back.id)} == {
        ("reactivate_user", "2"),
        ("assign_role", "1"),
    }
    assert (await engine.link("2")).gone_at is None
    assert (await engine.run()).ops_planned == 0
