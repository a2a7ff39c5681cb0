"""The executor: apply a run's planned ops through the target, record each outcome with its link update.

Ops are taken from the database in plan order and cut into batches of one kind (`plan.order.batches`, to the
target's batch limits), and consecutive batches of one kind go out together, up to the target's concurrency
(`plan.order.waves`): a real LMS has several workers, and one request at a time leaves them idle.
Each batch's outcomes and link updates are committed in one transaction, so a crash repeats at most one wave of
batches, and the targets' idempotency turns those repeats into `already`.
Ops that come back `retry` are retried here (the one retry layer for writes) after re-reading the target, so a
create whose response was lost is not sent twice.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from enrolsync.connectors.base import TargetConnector
from enrolsync.connectors.errors import ConnectorError, PermanentError, TransientError
from enrolsync.connectors.model import ExternalRef, RoleScope
from enrolsync.connectors.ops import OP_ADAPTER, CreateUser, DeleteUser, Op, OpKind, OpResult
from enrolsync.sync.plan.diff import record
from enrolsync.sync.plan.order import batches, waves
from enrolsync.sync.rules.desired import DesiredState
from enrolsync.sync.run import gauges
from enrolsync.sync.run.context import RunContext, Runtime
from enrolsync.sync.store import ledger
from enrolsync.sync.store.ledger import AppliedLink, PlannedOp
from enrolsync.sync.store.tables import RunOpStatus, utcnow


class RunAborted(Exception):
    """The target refused the whole run (credentials revoked, permission missing): stop, report, keep the rest."""


@dataclass
class Pending:
    row: PlannedOp
    op: Op
    result: OpResult | None = None


def _resolve(item: Pending, links: dict[str, AppliedLink]) -> str | None:
    """Fill account ids known only now; returns why the op cannot run, or None."""
    op = item.op
    update: dict[str, Any] = {}
    if op.account_id is None and not isinstance(op, CreateUser):
        update["account_id"] = links[op.hr_id].account_id if op.hr_id in links else None
        if update["account_id"] is None:
            return "the person's account was not created"
    scope_hr_id = getattr(op, "scope_hr_id", None)
    if getattr(op, "scope", None) is RoleScope.USER and scope_hr_id and getattr(op, "scope_id", None) is None:
        update["scope_id"] = links[scope_hr_id].account_id if scope_hr_id in links else None
        if update["scope_id"] is None:
            return "the report's account was not created"
    if update:
        item.op = op.model_copy(update=update)
    return None


async def _call(target: TargetConnector, ops: Sequence[Op]) -> list[OpResult]:
    try:
        results = list(await target.apply(ops))
    except TransientError as error:
        return [OpResult.retry(error.reason, status=error.status, retry_after=error.retry_after) for _ in ops]
    except PermanentError as error:
        raise RunAborted(f"the target refused the batch: {error}") from error
    if len(results) != len(ops):
        raise RunAborted(f"the target answered {len(results)} results for {len(ops)} ops")
    return results


async def _reread(target: TargetConnector, item: Pending) -> OpResult | None:
    """Before re-sending a create whose answer was lost, look for the account it may have made."""
    if not isinstance(item.op, CreateUser) or not item.op.fields.external_id:
        return None
    try:
        found = await target.find_accounts(field="external_id", values=[item.op.fields.external_id])
    except ConnectorError:
        return None
    if len(found) == 1:
        return OpResult.already(ExternalRef(kind="account", id=found[0].account_id))
    return None


async def _apply_with_retries(rt: Runtime, ctx: RunContext, target: TargetConnector, items: list[Pending]) -> None:
    todo = items
    for attempt in range(1, rt.max_attempts + 1):
        if attempt > 1:
            label = gauges.connection_label(ctx.target.connection_id, ctx.target.config.base_url.host)
            gauges.count_retries(label, ctx.target.cls.info.key, "write", len(todo))
        results = await _call(target, [i.op for i in todo])
        for item, result in zip(todo, results, strict=True):
            item.row.attempts += 1
            item.result = result
        todo = [i for i in todo if i.result is not None and i.result.outcome == "retry"]
        if not todo:
            return
        waits = [i.result.error.retry_after for i in todo if i.result and i.result.error and i.result.error.retry_after]
        await rt.clock.sleep(max(waits) if waits else 2.0**attempt)
        still: list[Pending] = []
        for item in todo:
            # After the last attempt too: a create whose answer was lost may have made the account, and an
            # account nobody links is never updated or deactivated.
            found = await _reread(target, item)
            if found is not None:
                item.result = found
            else:
                still.append(item)
        todo = still
        if not todo or attempt == rt.max_attempts:
            return


def _record(item: Pending, link: AppliedLink | None) -> None:
    result = item.result or OpResult.failed("no result from the target")
    row = item.row
    row.updated_at = utcnow()
    if result.outcome in ("done", "already"):
        row.status = RunOpStatus.DONE if result.outcome == "done" else RunOpStatus.ALREADY
        row.ref = result.ref.id if result.ref else None
        row.last_error = None
        if link is not None:
            if isinstance(item.op, CreateUser) and result.ref is not None:
                link.account_id = result.ref.id
            if isinstance(item.op, DeleteUser):
                # Nothing is linked any more: a rehire is provisioned afresh, never matched to the old account.
                link.account_id, link.applied = None, {}
            else:
                applied = DesiredState.model_validate(link.applied) if link.applied else None
                link.applied = record(applied, item.op).model_dump(mode="json")
            link.updated_at = row.updated_at
        return
    row.status = RunOpStatus.FAILED
    reason = result.error.reason if result.error else "failed"
    code = f" [{result.error.code}]" if result.error and result.error.code else ""
    status = f" (HTTP {result.error.status})" if result.error and result.error.status else ""
    row.last_error = f"{item.op.kind.value}: {reason}{code}{status}"
    if link is not None:
        link.last_error = row.last_error
        link.last_error_at = row.updated_at


async def _apply_batch(
    rt: Runtime, ctx: RunContext, target: TargetConnector, rows: list[PlannedOp], claimed: dict[str, str]
) -> None:
    items = [Pending(row=row, op=OP_ADAPTER.validate_python(row.op)) for row in rows]
    async with rt.sessions() as session:
        wanted = {i.op.hr_id for i in items} | {h for i in items if (h := getattr(i.op, "scope_hr_id", None))}
        links = await ledger.applied_links(session, pipeline_id=ctx.pipeline_id, hr_ids=wanted)
        changed: dict[str, AppliedLink] = {}  # links to write back, by hr_id
        resolved: list[int] = []  # rows whose op was completed here (an account id known only now)
        ready: list[Pending] = []
        for item in items:
            before = item.op
            reason = _resolve(item, links)
            if item.op is not before:
                resolved.append(item.row.id)
            if reason is None:
                ready.append(item)
                continue
            item.row.status, item.row.last_error = RunOpStatus.NOT_ATTEMPTED, f"{item.op.kind.value}: {reason}"
            item.row.updated_at = utcnow()
            if (link := links.get(item.op.hr_id)) is not None and link.last_error is None:
                # The person shows why too, unless an earlier failure (the cause, e.g. their create) already does.
                link.last_error, link.last_error_at = item.row.last_error, item.row.updated_at
                changed[link.hr_id] = link
        if ready:
            await _apply_with_retries(rt, ctx, target, ready)
            await _refuse_shared_accounts(session, ctx.pipeline_id, ready, claimed)
        for item in ready:
            link = links.get(item.op.hr_id)
            _record(item, link)
            if link is not None:
                changed[link.hr_id] = link
        for item in items:
            item.row.op = item.op.model_dump(mode="json") if item.row.id in resolved else item.row.op
        # One statement each for the ops' outcomes and the links: they commit together, as one transaction.
        await ledger.save_outcomes(session, rows=[item.row for item in items], with_op=resolved)
        await ledger.save_links(session, pipeline_id=ctx.pipeline_id, links=changed.values())
        applied = sum(1 for i in ready if i.row.status in (RunOpStatus.DONE, RunOpStatus.ALREADY))
        if applied:
            # Added in SQL: the other batches of the wave add theirs at the same time.
            await ledger.count_applied(session, run_id=ctx.run_id, applied=applied)
        await session.commit()
    gauges.count_outcomes(Counter((item.row.kind, str(item.row.status)) for item in items))


async def _refuse_shared_accounts(
    session: Any, pipeline_id: str, items: list[Pending], claimed: dict[str, str]
) -> None:
    """A create answered with an account another person is linked to (two people with one username or email:
    the target took the second create for the first's) fails instead of linking both to one account. `claimed`
    holds the accounts the wave's other batches have taken but not yet committed."""
    created = [i for i in items if isinstance(i.op, CreateUser) and i.result and i.result.ref is not None]
    if not created:
        return
    refs = sorted({i.result.ref.id for i in created if i.result and i.result.ref})
    owners = await ledger.account_owners(session, pipeline_id=pipeline_id, account_ids=refs)
    # No await from here on: checking and claiming cannot interleave with another batch of the wave.
    owners = claimed | owners
    for item in created:
        assert item.result is not None and item.result.ref is not None  # noqa: S101 - filtered above
        account_id = item.result.ref.id
        owner = owners.setdefault(account_id, item.op.hr_id)
        claimed.setdefault(account_id, owner)
        if owner != item.op.hr_id:
            item.result = OpResult.failed(
                f"the target answered with account {account_id}, which is linked to person {owner}: "
                "two people share a username, email or external id"
            )


async def _send_wave(rt: Runtime, ctx: RunContext, target: TargetConnector, wave: list[list[PlannedOp]]) -> None:
    """Apply a wave's batches at once. The first failure (e.g. `RunAborted`) stops the others and is raised as
    itself, not as an exception group, so callers handle it as they would from one batch."""
    claimed: dict[str, str] = {}
    if len(wave) == 1:
        await _apply_batch(rt, ctx, target, wave[0], claimed)
        return
    try:
        async with asyncio.TaskGroup() as group:
            for batch in wave:
                group.create_task(_apply_batch(rt, ctx, target, batch, claimed))
    except* Exception as failed:
        raise failed.exceptions[0] from None


async def apply_run(rt: Runtime, ctx: RunContext, *, still_ours: Callable[[], Awaitable[bool]]) -> bool:
    """Apply every planned op of the run, in plan order; returns False when interrupted between batches.

    Before each batch `still_ours` renews the run's lease (a run cancelled or taken over stops there), and a
    worker shutting down stops there too, its progress recorded. Raises `RunAborted` when the target refuses a
    whole batch.
    """
    info = ctx.target.cls.info
    async with rt.clients.connector(ctx.target.cls, ctx.target.config, connection=ctx.target.connection_id) as target:
        after: int | None = None
        while True:
            async with rt.sessions() as session:
                rows = await ledger.next_planned(session, run_id=ctx.run_id, limit=rt.chunk, after=after)
            if not rows:
                return True
            after = rows[-1].seq
            cut = batches(rows, info.batch_limits, kind=lambda row: OpKind(row.kind))
            width = min(info.max_concurrency, rt.batches_in_flight)
            for wave in waves(cut, width=width, kind=lambda row: OpKind(row.kind), person=lambda row: row.hr_id):
                if rt.stopping.is_set() or not await still_ours():
                    return False
                await _send_wave(rt, ctx, target, wave)
