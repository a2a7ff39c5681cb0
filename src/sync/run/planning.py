"""Step two of a run: desired state for each person in scope, first links, drift, and the diff stored as planned ops.

Works in chunks of people so memory stays flat; ops are numbered so that reading them back by `seq` gives the
plan order (`plan.order`: creates first, deactivations last) without holding the whole plan in memory.

A full run under `DriftPolicy.REPAIR` or `REPORT` first reads the target's actual state (`actual.snapshot`) and
plans against it (`drift.rebase`), so changes made by hand on the target are repaired (or only counted).
Unenrolments are planned only for enrolments the learner has not started. What planning found goes onto the run
(`PlanSummary.record`): the deletion guard's verdict to `run.guard`, the people left in conflict to
`run.conflicted`, counts (invalid people, conflicts, drift, people awaiting their start date) to `run.counters`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from enrolsync.connectors.base import Capability, CourseCatalog, PreflightTarget, TargetConnector
from enrolsync.connectors.model import PersonStatus
from enrolsync.connectors.ops import Op, OpKind, Unenrol
from enrolsync.sync.plan.courses import Catalogue, Unresolved, resolve_spec
from enrolsync.sync.plan.diff import LinkedState, diff, keep_started, observed
from enrolsync.sync.plan.drift import ManagedRoles, ObservedAccount, mark_drift, rebase, without_scope_over
from enrolsync.sync.plan.fingerprint import SpecPrint, state_digest
from enrolsync.sync.plan.guard import GuardVerdict, check_deactivations
from enrolsync.sync.plan.matching import match_people
from enrolsync.sync.plan.order import PlanOrder
from enrolsync.sync.rules.desired import DesiredState
from enrolsync.sync.rules.evaluate import Employment, InvalidPerson, desired_state, is_leaver, vanished
from enrolsync.sync.rules.policy import DriftPolicy, LeaverPolicy, Policies
from enrolsync.sync.run import actual, due_dates
from enrolsync.sync.run.context import RunContext, Runtime
from enrolsync.sync.run.org import Org, employment, known_person, read_org, waiting_to_start
from enrolsync.sync.run.org_scope import read_scope_org
from enrolsync.sync.run.reading import ReadResult
from enrolsync.sync.store import ledger, repo
from enrolsync.sync.store.tables import Link, Run, utcnow

LISTED = 200  # hr_ids a run lists at most (the count beside them is exact)


@dataclass
class PlanSummary:
    ops: int = 0
    invalid: int = 0
    rejected: int = 0
    awaiting_start: int = 0
    kept_started: int = 0
    drift: Counter[str] = field(default_factory=Counter)
    conflicted: list[str] = field(default_factory=list)
    deactivated: list[str] = field(default_factory=list)
    verdict: GuardVerdict = field(default_factory=lambda: GuardVerdict(blocked=False, deactivations=0, allowed=0))
    order: PlanOrder = field(default_factory=PlanOrder)
    courses: dict[str, str] = field(default_factory=dict)  # course name in a rule -> the id it resolved to
    unresolved: list[Unresolved] = field(default_factory=list)

    def counters(self) -> dict[str, Any]:
        """What planning puts in `run.counters`: counts only, each exact and each once.

        - `people`: `invalid` (skipped: their HR record does not map) and `conflicts` (skipped: matching was
          ambiguous); the reason is on each one's link.
        - `drift`: repairs planned (under `DriftPolicy.REPORT`: found) by op kind, and `account_missing`.
        - `awaiting_start`: future hires not yet within the lead time.
        - `kept_started`: unenrolments not planned because the learner had started the course.
        - `courses`, when rules name courses by a key: `resolved` (name -> course id) and `unresolved` (per rule,
          each name that is no course or several, left out of the plan).
        """
        counters: dict[str, Any] = {
            "people": {"invalid": self.invalid, "conflicts": len(self.conflicted), "rejected": self.rejected},
            "drift": dict(sorted(self.drift.items())),
            "awaiting_start": self.awaiting_start,
            "kept_started": self.kept_started,
        }
        if self.courses or self.unresolved:
            unresolved = [u.as_json() for u in self.unresolved]
            counters["courses"] = {"resolved": dict(sorted(self.courses.items())), "unresolved": unresolved}
        return counters

    def record(self, run: Run) -> None:
        """Write what planning found onto the run: counts, the guard's verdict, the people in conflict (both lists
        capped at `LISTED`; their counts are exact)."""
        verdict = self.verdict.model_copy(update={"hr_ids": self.verdict.hr_ids[:LISTED]})
        run.ops_planned = self.ops
        run.counters = self.counters()
        run.guard = verdict.model_dump(mode="json")
        run.conflicted = sorted(self.conflicted)[:LISTED]


def recorded_verdict(run: Run) -> GuardVerdict | None:
    """The deletion guard's verdict on the run's plan, as `PlanSummary.record` stored it; None before planning."""
    return None if run.guard is None else GuardVerdict.model_validate(run.guard)


@dataclass
class _Chunk:
    """Planning state of one chunk of people, all within one transaction."""

    rt: Runtime
    ctx: RunContext
    target: TargetConnector
    session: AsyncSession
    links: dict[str, Link]
    summary: PlanSummary
    seen: Mapping[str, ObservedAccount] | None
    prints: SpecPrint
    replaced: frozenset[str] = frozenset()  # people whose linked account the target no longer has
    matched: set[str] = field(default_factory=set)  # linked by this run: the snapshot predates them
    settled: set[str] = field(default_factory=set)  # unchanged people planned against the snapshot only

    def fail(self, link: Link, reason: str) -> None:
        link.last_error, link.last_error_at = reason, utcnow()
        self.session.add(link)


def _wanted(chunk: _Chunk, hr_ids: Iterable[str], gone: set[str], reports: Mapping[str, set[str]]) -> dict[str, Any]:
    """Each person's desired state (None: not managed). A person gone from the HR system is a leaver. A future hire
    before the lead time is left out, or held as last applied when they have an account (a rehire).

    Whether a person is settled is decided from their stored status and dates alone (`org.employment`); the
    whole record is validated only for someone to evaluate."""
    spec, today = chunk.ctx.spec, chunk.rt.today()
    wanted: dict[str, DesiredState | None] = {}
    for hr_id in hr_ids:
        link = chunk.links[hr_id]
        dates = employment(link)
        if dates is None:
            wanted[hr_id] = None
            continue
        if hr_id in gone:
            dates = replace(dates, status=PersonStatus.TERMINATED)
        elif waiting_to_start(link, dates, spec.policies, today):
            chunk.summary.awaiting_start += 1
            held = _held(link, dates, spec.policies, today)
            if held is not None:
                wanted[hr_id] = held
            continue
        direct = frozenset(reports.get(hr_id, ()))
        gone_now = hr_id in gone or link.gone_at is not None
        leaver = is_leaver(dates, today)
        fp = chunk.prints.source_fingerprint(
            person=link.person_fp or link.person, gone=gone_now, reports=direct, leaver=leaver, today=today
        )
        # Due dates pushed to the target also follow completions, which the source fingerprint does not see.
        if not due_dates.pushes_due_dates(chunk.ctx) and _settled(link, fp):
            # Nothing changed since the desired state was last computed, and it is what the account holds: no
            # op is due. Only a full reconcile looks further, at what the target really holds (drift).
            if chunk.seen is not None and not _holds(chunk, link):
                wanted[hr_id] = DesiredState.model_validate(link.applied)
                chunk.settled.add(hr_id)
            continue
        person = known_person(link)
        if person is None:
            wanted[hr_id] = None
            continue
        person = vanished(person) if hr_id in gone else person
        try:
            desired = desired_state(person, spec, direct_reports=direct, today=today)
        except InvalidPerson as error:
            chunk.summary.invalid += 1
            chunk.fail(link, str(error))
            link.source_fp = link.desired_fp = None
            continue
        wanted[hr_id] = desired
        link.source_fp = fp
        link.desired_fp = None if desired is None else state_digest(desired.model_dump(mode="json"))
    return wanted


def _settled(link: Link, fp: str) -> bool:
    """Whether the person's inputs are those their last desired state was computed from, and their account holds
    exactly that state (so `diff` would plan nothing). A person with an error on their link is planned afresh.

    The applied state's digest is the one stored with it (`Link.applied_fp`), when known."""
    if link.source_fp != fp or link.desired_fp is None or link.account_id is None or link.last_error is not None:
        return False
    applied_fp = link.applied_fp if link.applied_fp is not None else state_digest(link.applied)
    return applied_fp == link.desired_fp


def _holds(chunk: _Chunk, link: Link) -> bool:
    """Whether the target's snapshot shows a settled person's account holding exactly their applied state: then
    planning against it finds no drift and plans nothing, told without building their states (`Snapshot.holds`).
    Anything else is planned the long way (`_reconciled`), which repairs or reports what it finds."""
    seen = chunk.seen
    return isinstance(seen, actual.Snapshot) and seen.holds(link.hr_id, link.applied, chunk.replaced)


def _held(link: Link, person: Employment, policies: Policies, today: date) -> DesiredState | None:
    """What a linked account keeps while its person waits for a future start date: what was last applied, made
    inactive when they are between two employments (a rehire), so a hand-made change is still repaired."""
    if not link.account_id or not link.applied:
        return None
    applied = DesiredState.model_validate(link.applied)
    between = person.termination_date is not None and person.termination_date <= today
    if between and policies.leaver is not LeaverPolicy.IGNORE:
        return applied.model_copy(update={"active": False})
    return applied


def _to_match(chunk: _Chunk, desired: DesiredState | None, link: Link) -> bool:
    # Leavers too, on full runs: an account made before the first sync for someone who has since left must not
    # stay open for want of a link. Only full runs look them up, so each incremental run stays cheap; and a
    # leaver looked for and not found is looked for again on a later day (or at once when their HR record
    # changes: `ledger.upsert_persons` clears the mark), not on every full run of the same day. Such an account,
    # made by hand after the leaver left, is so found within a day, while a company's years of leavers do not
    # cost a search each on every run.
    if desired is None or link.account_id is not None:
        return False
    if desired.active:
        return True
    return chunk.ctx.scope == "full" and link.sought_on != chunk.rt.today()


async def _match(chunk: _Chunk, wanted: dict[str, DesiredState | None]) -> None:
    """First links for people without one; conflicted people are dropped from `wanted`."""
    links = chunk.links
    unlinked = {h: d for h, d in wanted.items() if d is not None and _to_match(chunk, d, links[h])}
    ctx, session = chunk.ctx, chunk.session
    matches = await match_people(
        lambda field, values: chunk.target.find_accounts(field=field, values=values),
        lambda ids: ledger.account_owners(
            session,
            pipeline_id=ctx.pipeline_id,
            account_ids=ids,
            # Another pipeline's account on the same target is its own, unless the pipelines are set to share.
            target_id=None if ctx.spec.policies.share_accounts else ctx.target_connection_id,
        ),
        people=unlinked,
        keys=ctx.spec.match_keys,
    )
    for hr_id, account in matches.matched.items():
        chunk.matched.add(hr_id)
        links[hr_id].account_id = account.account_id
        links[hr_id].applied = observed(hr_id, account).model_dump(mode="json")
        chunk.session.add(links[hr_id])
    for hr_id, reason in matches.conflicts.items():
        chunk.summary.conflicted.append(hr_id)
        chunk.fail(links[hr_id], f"matching conflict: {reason}")
        wanted.pop(hr_id)
    today = chunk.rt.today()
    for hr_id, desired in unlinked.items():
        if not desired.active and hr_id not in matches.matched and hr_id not in matches.conflicts:
            links[hr_id].sought_on = today  # no account to close: looked for again on a later day (`_to_match`)
            chunk.session.add(links[hr_id])


def _reconciled(chunk: _Chunk, link: Link, desired: DesiredState | None, state: LinkedState) -> list[Op] | None:
    """Ops planned against the target's actual state, or None when there is no snapshot to plan against."""
    policies, summary = chunk.ctx.spec.policies, chunk.summary
    if chunk.seen is None or state.account_id is None or state.applied is None or link.hr_id in chunk.matched:
        return None
    # A settled person's desired state is their applied one (`_settled`): a link-only diff plans nothing.
    by_link = [] if link.hr_id in chunk.settled else diff(desired, state, policy=policies)
    seen = chunk.seen.get(link.hr_id)
    if seen is None:
        # Deleted by hand on the target: the link points at nothing, so the person is provisioned afresh.
        summary.drift["account_missing"] += 1
        if policies.drift is DriftPolicy.REPORT:
            return by_link
        link.account_id, link.applied = None, {}
        return [op.model_copy(update={"drift": True}) for op in diff(desired, None, policy=policies)]
    # A role held over someone whose account is gone went with that account: it is granted again over the new one.
    real = without_scope_over(rebase(state.applied, desired, seen, _managed_roles(chunk)), chunk.replaced)
    if real is state.applied or real == state.applied:
        return by_link  # the target holds what the link says: no drift, and the link-only plan is the plan
    marked = mark_drift(by_link, diff(desired, LinkedState(account_id=state.account_id, applied=real), policy=policies))
    summary.drift.update(op.kind.value for op in marked if op.drift)
    if policies.drift is DriftPolicy.REPORT:
        return by_link
    link.applied = real.model_dump(mode="json")
    return marked


def _managed_roles(chunk: _Chunk) -> ManagedRoles:
    policies = chunk.ctx.spec.policies
    system = {role for rule in chunk.ctx.spec.rules for role in rule.roles}
    system |= {policies.base_role} if policies.base_role is not None else set()
    return ManagedRoles(system=frozenset(system), manager_role=policies.manager_role)


def _person_ops(chunk: _Chunk, link: Link, desired: DesiredState | None) -> list[Op]:
    if link.last_error is not None:
        link.last_error = None  # planned afresh: this run's outcome is what counts now
    if link.hr_id in chunk.settled:
        applied = desired  # validated from `link.applied` a moment ago (`_wanted`)
    else:
        applied = DesiredState.model_validate(link.applied) if link.account_id and link.applied else None
    state = LinkedState(account_id=link.account_id if applied else None, applied=applied)
    ops = _reconciled(chunk, link, desired, state)  # the link is the session's own (`get_links`): changes flush
    return ops if ops is not None else diff(desired, state, policy=chunk.ctx.spec.policies)


async def _keep_started(chunk: _Chunk, planned: dict[str, list[Op]]) -> None:
    """Drop unenrolments of courses the learner has started; those enrolments stop being managed."""
    pairs = {(op.account_id or "", op.course_id) for ops in planned.values() for op in ops if isinstance(op, Unenrol)}
    if not pairs:
        return
    if chunk.seen is not None:
        owner = {op.account_id: op.hr_id for ops in planned.values() for op in ops if isinstance(op, Unenrol)}
        started = {(a, c) for a, c in pairs if (s := chunk.seen.get(owner[a])) is not None and s.started(c)}
    else:
        started = await actual.started_enrolments(chunk.target, pairs)
    for hr_id, ops in planned.items():
        planned[hr_id], kept = keep_started(ops, started)
        if kept:
            link = chunk.links[hr_id]
            applied = DesiredState.model_validate(link.applied)
            link.applied = applied.model_copy(
                update={"enrolments": applied.enrolments - {op.course_id for op in kept}}
            ).model_dump(mode="json")
            chunk.session.add(link)
            chunk.summary.kept_started += len(kept)


async def _preflight(chunk: _Chunk, planned: dict[str, list[Op]]) -> None:
    """People with an op the target would refuse outright (`PreflightTarget`: an auth plugin the LMS lacks) are
    left out of the plan as invalid, the target's reason on their link: a dry run names it, and nothing of theirs
    is written while everyone else's ops go ahead."""
    target = chunk.target
    flat = [op for ops in planned.values() for op in ops]
    if not flat or not isinstance(target, PreflightTarget):
        return
    refused: dict[str, str] = {}
    for op, reason in zip(flat, await target.preflight(flat), strict=True):
        if reason is not None:
            refused.setdefault(op.hr_id, reason)
    for hr_id, reason in refused.items():
        planned[hr_id] = []
        chunk.summary.invalid += 1
        chunk.fail(chunk.links[hr_id], reason)


def _remember_gone(chunk: _Chunk, gone: set[str]) -> None:
    """Mark who this run found gone from the HR system; the mark stays until the source returns them.

    Marked even when the whole answer was empty (an outage looks the same): the deletion guard stops every run
    that would deactivate them, this one and the next, until an admin approves or a full read shows them again.
    """
    for hr_id, link in chunk.links.items():
        if hr_id in gone and link.gone_at is None:
            link.gone_at = utcnow()
            chunk.session.add(link)


async def _plan_chunk(chunk: _Chunk, hr_ids: list[str], gone: set[str], reports: Mapping[str, set[str]]) -> None:
    summary = chunk.summary
    _remember_gone(chunk, gone)
    wanted = _wanted(chunk, hr_ids, gone, reports)
    await due_dates.add_due_dates(
        chunk.session, chunk.ctx, today=chunk.rt.today(), links=chunk.links, wanted=wanted, reports=reports
    )
    await _match(chunk, wanted)
    planned = {hr_id: _person_ops(chunk, chunk.links[hr_id], desired) for hr_id, desired in wanted.items()}
    await _keep_started(chunk, planned)
    await _preflight(chunk, planned)
    rows: list[tuple[int, str, str, dict[str, Any]]] = []
    for seq, op in summary.order.number(op for ops in planned.values() for op in ops):
        rows.append((seq, op.hr_id, op.kind.value, op.model_dump(mode="json")))
        if op.kind in (OpKind.DEACTIVATE_USER, OpKind.DELETE_USER):
            summary.deactivated.append(op.hr_id)
    summary.ops += len(rows)
    await ledger.add_ops(chunk.session, run_id=chunk.ctx.run_id, ops=rows)


def _in_scope(read: ReadResult, org: Org, gone: set[str]) -> list[str]:
    if read.full:
        return sorted(org.everyone)
    # The manager of someone who just vanished loses the role over them in this run, not at the next full one.
    managers = {org.managers[hr_id] for hr_id in gone if hr_id in org.managers}
    return sorted((read.seen | read.removed | read.managers | managers | org.due) & org.everyone)


def _chunks(items: list[str], size: int) -> Iterable[list[str]]:
    return (items[i : i + size] for i in range(0, len(items), size))


async def _snapshot(
    ctx: RunContext, target: TargetConnector, read: ReadResult, org: Org
) -> Mapping[str, ObservedAccount] | None:
    if not read.full or ctx.spec.policies.drift is DriftPolicy.IGNORE:
        return None
    courses = org.courses | {course for rule in ctx.spec.rules for course in rule.enrol}
    return await actual.snapshot(target, owners=org.owners, courses=courses)


async def _resolve_courses(ctx: RunContext, target: TargetConnector, summary: PlanSummary) -> RunContext:
    """The run's context with its rules' courses as course ids, read from the target's catalogue once per run.

    A target that cannot list courses takes the names as ids, as written. A failure to read the catalogue fails
    the run: planning without it would unenrol everyone from every course a rule names by key.
    """
    named = {name for rule in ctx.spec.rules for name in rule.enrol}
    if not named or Capability.COURSES not in ctx.target.cls.info.capabilities:
        return ctx
    if not isinstance(target, CourseCatalog):  # declared but not implemented: the contract suite catches it
        return ctx
    catalogue = Catalogue.of([course async for course in target.list_courses()])
    spec, summary.unresolved = resolve_spec(ctx.spec, catalogue)
    summary.courses = {name: found for name in named if isinstance(found := catalogue.resolve(name), str)}
    return replace(ctx, spec=spec)


async def plan_run(rt: Runtime, ctx: RunContext, read: ReadResult) -> PlanSummary:
    """Compute and store the run's ops. People missing from a full read count as gone (the guard watches), and are
    remembered as gone until the source returns them (`Link.gone_at`).

    A full run reads the target's actual state first unless the pipeline's drift policy is `ignore`. The caller
    records the summary on the run (`PlanSummary.record`) in the commit that marks the plan complete.
    """
    # An incremental run reads only the links around its people (`org_scope`); a full run plans everyone.
    org = await read_org(rt, ctx) if read.full else await read_scope_org(rt, ctx, read)
    gone = set(read.removed) | ((org.everyone - read.seen - read.kept) if read.full else set())
    reports = org.reports(gone)
    summary = PlanSummary(rejected=read.rejected_count)
    async with rt.clients.connector(ctx.target.cls, ctx.target.config, connection=ctx.target.connection_id) as target:
        ctx = await _resolve_courses(ctx, target, summary)
        seen = await _snapshot(ctx, target, read, org)
        replaced = frozenset() if seen is None else frozenset(set(org.owners.values()) - set(seen))
        prints = SpecPrint(ctx.spec)
        for hr_ids in _chunks(_in_scope(read, org, gone), rt.chunk):
            async with rt.sessions() as session:
                links = await repo.get_links(session, pipeline_id=ctx.pipeline_id, hr_ids=hr_ids)
                chunk = _Chunk(rt, ctx, target, session, links, summary, seen, prints, replaced)
                await _plan_chunk(chunk, hr_ids, gone, reports)
                await session.commit()
    summary.verdict = check_deactivations(
        summary.deactivated,
        linked_accounts=org.linked_accounts,
        active_accounts=org.active_accounts,
        guard=ctx.spec.policies.deactivation_guard,
        source_empty=read.full and not read.seen,
    )
    return summary
