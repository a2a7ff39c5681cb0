"""The executor: apply a run's planned ops through the target, record each outcome with its link update.

Ops are taken from the database in plan order and cut into batches of one kind (`plan.order.batches`, to the
target's batch limits), and consecutive batches of one kind go out together, up to the target's concurrency
(`plan.order.waves`): a real LMS has several workers, and one request at a time leaves them idle.
Each wave's outcomes and link updates are committed in one transaction (one read of the links and one statement each
for outcomes, links and the run's count per wave), so a crash repeats at most one wave of batches, and the targets'
idempotency turns those repeats into `already`.
Ops that come back `retry` are retried here (the one retry layer for writes) after re-reading the target, so a
create whose response was lost is not sent twice.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from enrolsync.connectors.base import TargetConnector
from enrolsync.connectors.errors import ConnectorError, PermanentError, TransientError
from enrolsync.connectors.model import ExternalRef, RoleScope
from enrolsync.connectors.ops import OP_ADAPTER, AssignRole, CreateUser, DeleteUser, Op, OpKind, OpResult, RevokeRole
from enrolsync.sync.plan.diff import record
from enrolsync.sync.plan.fingerprint import canonical, text_digest
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
    rewritten: bool = False  # completed here with an account id known only now: stored with its outcome


def _resolve(item: Pending, links: dict[str, AppliedLink]) -> str | None:
    """Fill account ids known only now; returns why the op cannot run, or None."""
    op = item.op
    update: dict[str, Any] = {}
    if op.account_id is None and not isinstance(op, CreateUser):
        link = links.get(op.hr_id)
        if link is None or link.account_id is None:
            return "the person's account was not created"
        update["account_id"] = link.account_id
    if (
        isinstance(op, AssignRole | RevokeRole)
        and op.scope is RoleScope.USER
        and op.scope_hr_id
        and op.scope_id is None
    ):
        report = links.get(op.scope_hr_id)
        if report is None or report.account_id is None:
            return "the report's account was not created"
        update["scope_id"] = report.account_id
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


class _States:
    """The applied states of one batch's links, each parsed once and stored once, however many of the batch's ops
    it records (a manager's role over each report goes out in one batch: parsing and storing the growing state per
    op would cost the square of their reports)."""

    def __init__(self) -> None:
        self._states: dict[str, DesiredState | None] = {}

    def get(self, link: AppliedLink) -> DesiredState | None:
        if link.hr_id not in self._states:
            stored = link.applied.strip()
            self._states[link.hr_id] = DesiredState.model_validate_json(stored) if stored not in ("", "{}") else None
        return self._states[link.hr_id]

    def set(self, link: AppliedLink, state: DesiredState | None) -> None:
        self._states[link.hr_id] = state

    def store(self, links: dict[str, AppliedLink]) -> None:
        """Write each state recorded here back into its link, as the JSON text the link stores, with its digest
        (`Link.applied_fp`, so planning tells a settled person without digesting it, `_settled`). The text stored
        is the one the digest hashes (`fingerprint.canonical`): the state is serialised once for both."""
        for hr_id, state in self._states.items():
            if (link := links.get(hr_id)) is None:
                continue
            if state is None:
                link.applied, link.applied_fp = "{}", None
            else:
                text = canonical(state.model_dump(mode="json"))
                link.applied, link.applied_fp = text, text_digest(text)


def _record(item: Pending, link: AppliedLink | None, states: _States, now: datetime) -> bool:
    """Record the op's outcome on its row and, when it succeeded, the state it applied; True for a success."""
    result = item.result or OpResult.failed("no result from the target")
    row = item.row
    row.updated_at = now
    if result.outcome in ("done", "already"):
        row.status = RunOpStatus.DONE if result.outcome == "done" else RunOpStatus.ALREADY
        row.ref = result.ref.id if result.ref else None
        row.last_error = None
        if link is not None:
            if isinstance(item.op, CreateUser) and result.ref is not None:
                link.account_id = result.ref.id
            if isinstance(item.op, DeleteUser):
                # Nothing is linked any more: a rehire is provisioned afresh, never matched to the old account.
                link.account_id = None
                states.set(link, None)
            else:
                states.set(link, record(states.get(link), item.op))
            link.updated_at = row.updated_at
        return True
    row.status = RunOpStatus.FAILED
    reason = result.error.reason if result.error else "failed"
    code = f" [{result.error.code}]" if result.error and result.error.code else ""
    status = f" (HTTP {result.error.status})" if result.error and result.error.status else ""
    row.last_error = f"{item.op.kind.value}: {reason}{code}{status}"
    if link is not None:
        link.last_error = row.last_error
        link.last_error_at = row.updated_at
    return False


def _prepare(items: list[Pending], links: dict[str, AppliedLink], changed: dict[str, AppliedLink]) -> list[Pending]:
    """Complete the batch's ops with the account ids known now; returns the ops that can go out. The others are
    recorded `not_attempted` here, with why on their row and their person's link."""
    ready: list[Pending] = []
    for item in items:
        before = item.op
        reason = _resolve(item, links)
        item.rewritten = item.op is not before
        if reason is None:
            ready.append(item)
            continue
        item.row.status, item.row.last_error = RunOpStatus.NOT_ATTEMPTED, f"{item.op.kind.value}: {reason}"
        item.row.updated_at = utcnow()
        if (link := links.get(item.op.hr_id)) is not None and link.last_error is None:
            # The person shows why too, unless an earlier failure (the cause, e.g. their create) already does.
            link.last_error, link.last_error_at = item.row.last_error, item.row.updated_at
            changed[link.hr_id] = link
    return ready


async def _send(
    rt: Runtime, ctx: RunContext, target: TargetConnector, batches: list[list[Pending]]
) -> tuple[list[list[Pending]], BaseException | None]:
    """Send the batches at once; returns those that got their answers, and the first failure (e.g. `RunAborted`),
    which stops the others: their ops stay planned."""
    if not batches:
        return [], None
    tasks = [asyncio.ensure_future(_apply_with_retries(rt, ctx, target, batch)) for batch in batches]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    finally:
        for task in tasks:
            task.cancel()  # only those still running: a batch that failed, or this wave being cancelled
        await asyncio.gather(*tasks, return_exceptions=True)
    answered = [batch for batch, task in zip(batches, tasks, strict=True) if _finished(task)]
    failures = [task.exception() for task in tasks if not task.cancelled() and task.exception() is not None]
    return answered, failures[0] if failures else None


def _finished(task: asyncio.Future[None]) -> bool:
    return not task.cancelled() and task.exception() is None


async def _send_wave(rt: Runtime, ctx: RunContext, target: TargetConnector, wave: list[list[PlannedOp]]) -> None:
    """Apply a wave's batches at once, then record every outcome and link update of the wave in one transaction:
    one read of the links, one statement each for outcomes, links and the run's count, and one commit for the
    wave instead of one per batch. A crash repeats at most this wave, and the targets' idempotency turns the
    repeats into `already`. The first failure (e.g. `RunAborted`) stops the other batches and is raised as itself
    once the batches answered before it are recorded."""
    batched = [[Pending(row=row, op=OP_ADAPTER.validate_json(row.op)) for row in batch] for batch in wave]
    async with rt.sessions() as session:
        ops = [item.op for batch in batched for item in batch]
        wanted = {op.hr_id for op in ops} | {h for op in ops if (h := getattr(op, "scope_hr_id", None))}
        links = await ledger.applied_links(session, pipeline_id=ctx.pipeline_id, hr_ids=wanted)
        changed: dict[str, AppliedLink] = {}  # links to write back, by hr_id
        ready = [_prepare(batch, links, changed) for batch in batched]
        answered, failure = await _send(rt, ctx, target, [batch for batch in ready if batch])
        sent = [item for batch in answered for item in batch]
        await _refuse_shared_accounts(session, ctx.pipeline_id, sent)
        states, now = _States(), utcnow()
        applied = 0
        for item in sent:
            link = links.get(item.op.hr_id)
            applied += _record(item, link, states, now)
            if link is not None:
                changed[link.hr_id] = link
        states.store(changed)
        # Ops of a batch stopped by another's failure were not answered: they stay planned, untouched.
        unsent = {id(item) for batch in ready for item in batch} - {id(item) for item in sent}
        done = [item for batch in batched for item in batch if id(item) not in unsent]
        for item in done:
            if item.rewritten:
                item.row.op = item.op.model_dump_json()
        # One statement each for the ops' outcomes and the links: they commit together, as one transaction.
        rewritten = [item.row.id for item in done if item.rewritten]
        await ledger.save_outcomes(session, rows=[item.row for item in done], with_op=rewritten)
        await ledger.save_links(session, pipeline_id=ctx.pipeline_id, links=changed.values())
        if applied:
            await ledger.count_applied(session, run_id=ctx.run_id, applied=applied)
        await session.commit()
    gauges.count_outcomes(Counter((item.row.kind, str(item.row.status)) for item in done))
    if failure is not None:
        raise failure


async def _refuse_shared_accounts(session: Any, pipeline_id: str, items: list[Pending]) -> None:
    """A create answered with an account another person is linked to (two people with one username or email:
    the target took the second create for the first's) fails instead of linking both to one account; so does
    the second of two creates of one wave answered with the same account."""
    created = [i for i in items if isinstance(i.op, CreateUser) and i.result and i.result.ref is not None]
    if not created:
        return
    refs = sorted({i.result.ref.id for i in created if i.result and i.result.ref})
    owners = await ledger.account_owners(session, pipeline_id=pipeline_id, account_ids=refs)
    for item in created:
        assert item.result is not None and item.result.ref is not None  # noqa: S101 - filtered above
        account_id = item.result.ref.id
        owner = owners.setdefault(account_id, item.op.hr_id)
        if owner != item.op.hr_id:
            item.result = OpResult.failed(
                f"the target answered with account {account_id}, which is linked to person {owner}: "
                "two people share a username, email or external id"
            )


# How often within one lease the executor renews it between waves (every second of a 30-second lease): a cancel
# or a takeover is noticed within that, and the run's row is not written before every wave of a fast target.
RENEWALS_PER_LEASE = 30


async def apply_run(rt: Runtime, ctx: RunContext, *, still_ours: Callable[[], Awaitable[bool]]) -> bool:
    """Apply every planned op of the run, in plan order; returns False when interrupted between batches.

    Before the first wave, and before any wave once `lease_seconds / RENEWALS_PER_LEASE` passed on the runtime's
    clock since the last time, `still_ours` renews the run's lease (a run cancelled or taken over stops there). A
    worker shutting down stops before the next wave, its progress recorded. Raises `RunAborted` when the target
    refuses a whole batch.
    """
    info = ctx.target.cls.info
    every = rt.lease_seconds / RENEWALS_PER_LEASE
    async with rt.clients.connector(ctx.target.cls, ctx.target.config, connection=ctx.target.connection_id) as target:
        after: int | None = None
        renewed: float | None = None
        while True:
            async with rt.sessions() as session:
                rows = await ledger.next_planned(session, run_id=ctx.run_id, limit=rt.chunk, after=after)
            if not rows:
                return True
            after = rows[-1].seq
            cut = batches(rows, info.batch_limits, kind=lambda row: OpKind(row.kind))
            width = min(info.max_concurrency, rt.batches_in_flight)
            for wave in waves(cut, width=width, kind=lambda row: OpKind(row.kind), person=lambda row: row.hr_id):
                if rt.stopping.is_set():
                    return False
                now = rt.clock.monotonic()
                if renewed is None or now - renewed >= every:
                    if not await still_ours():
                        return False
                    renewed = now
                await _send_wave(rt, ctx, target, wave)
