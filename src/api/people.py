"""Sync status of people and teams, read from the links: desired state now, what was applied, what is pending.

The desired state and the pending operations are computed with the engine's own pure functions
(`evaluate.desired_state`, `diff.diff`) over the persons as last read, with direct reports taken from the stored
snapshots the same way the planner takes them, so this view agrees with what the next run would plan (except
that a person without an account may still be matched to an existing one by that run). A person gone from the HR
system is a leaver here too (`org.known_person`): in nobody's team.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import date

from pydantic import ValidationError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from enrolsync.api.schemas_people import SyncState
from enrolsync.connectors.model import Person
from enrolsync.connectors.ops import Op
from enrolsync.sync.plan.courses import Catalogue, resolve_spec
from enrolsync.sync.plan.diff import LinkedState, diff
from enrolsync.sync.rules.desired import DesiredState
from enrolsync.sync.rules.evaluate import InvalidPerson, desired_state, manager_of
from enrolsync.sync.rules.policy import Policies
from enrolsync.sync.rules.spec import FieldMapping, PipelineSpec
from enrolsync.sync.run.org import covered, known_person, waiting_to_start
from enrolsync.sync.store.tables import Link, Run

_IN_CHUNK = 500


@dataclass(frozen=True)
class LinkStatus:
    """One person's sync status."""

    person: Person | None
    desired: DesiredState | None
    desired_error: str | None
    awaiting_start: bool
    applied: DesiredState | None
    pending: list[Op]
    state: SyncState


async def reports_of(
    session: AsyncSession,
    *,
    pipeline_id: str,
    manager_ids: Collection[str],
    policies: Policies,
    today: date,
    mapping: FieldMapping | None = None,
) -> dict[str, list[Link]]:
    """The links of the people reporting to each of `manager_ids`, as the planner counts reports. With `mapping`,
    only those a manager role can cover, as the planner grants it (`org.Org.note`): not an account-less person
    whose HR record cannot make an account."""
    found: dict[str, list[Link]] = defaultdict(list)
    wanted = sorted(set(manager_ids))
    manager = col(Link.person)["manager_hr_id"].as_string()
    for offset in range(0, len(wanted), _IN_CHUNK):
        stmt = (
            select(Link)
            .where(col(Link.pipeline_id) == pipeline_id, manager.in_(wanted[offset : offset + _IN_CHUNK]))
            .order_by(col(Link.hr_id))
        )
        for link in (await session.exec(stmt)).all():
            person = known_person(link)
            # The engine's definition (`evaluate.manager_of`), so a team is who its manager holds the role over.
            manager = manager_of(person, policies, today) if person is not None else None
            if manager is None or (mapping is not None and person is not None and not covered(link, person, mapping)):
                continue
            found[manager].append(link)
    return found


async def as_planned(session: AsyncSession, *, pipeline_id: str, spec: PipelineSpec) -> PipelineSpec:
    """`spec` with its rules' courses named as the latest planned run resolved them (`plan.courses`), so a rule
    naming a course by its shortname agrees with the course id that was applied. Before any run, as written."""
    if not any(rule.enrol for rule in spec.rules):
        return spec
    stmt = (
        select(Run.counters)
        .where(col(Run.pipeline_id) == pipeline_id, col(Run.planned))
        .order_by(col(Run.created_at).desc(), col(Run.id).desc())
        .limit(1)
    )
    counters = (await session.exec(stmt)).first() or {}
    resolved: dict[str, str] = (counters.get("courses") or {}).get("resolved") or {}
    if not resolved:
        return spec
    catalogue = Catalogue(ids=set(resolved.values()))
    for name, course_id in resolved.items():
        catalogue.by_key[name].add(course_id)
    planned, _ = resolve_spec(spec, catalogue)
    return planned


def _parse_applied(link: Link) -> DesiredState | None:
    try:
        return DesiredState.model_validate(link.applied) if link.applied else None
    except ValidationError:
        return None


def link_status(link: Link, spec: PipelineSpec, *, direct_reports: frozenset[str], today: date) -> LinkStatus:
    """Desired state now, applied state and pending operations of one linked person, as the planner sees them."""
    person = known_person(link)
    applied = _parse_applied(link) if link.account_id else None
    waiting = person is not None and waiting_to_start(link, person, spec.policies, today)
    desired: DesiredState | None = None
    problem: str | None = None
    if person is None:
        problem = "the stored HR record cannot be read; the next full run reads it again"
    elif not waiting:
        try:
            desired = desired_state(person, spec, direct_reports=direct_reports, today=today)
        except InvalidPerson as error:
            problem = str(error)
    pending: list[Op] = []
    if problem is None and not waiting:
        linked = LinkedState(account_id=link.account_id if applied else None, applied=applied)
        pending = diff(desired, linked, policy=spec.policies)
    state: SyncState = "error" if problem or link.last_error else "pending" if pending else "in_sync"
    return LinkStatus(
        person=person,
        desired=desired,
        desired_error=problem,
        awaiting_start=waiting,
        applied=applied,
        pending=pending,
        state=state,
    )


@dataclass
class Team:
    """A manager's subtree: members breadth first with their level, and everyone's direct reports."""

    members: list[tuple[Link, int]] = field(default_factory=list)
    reports: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    truncated: bool = False


async def load_team(
    session: AsyncSession,
    *,
    pipeline_id: str,
    manager_hr_id: str,
    depth: int,
    limit: int,
    policies: Policies,
    today: date,
) -> Team:
    """The people under `manager_hr_id` down to `depth` levels, at most `limit` of them.

    A cycle in the manager chain (bad HR data: A reports to B, B to A) is cut where it closes: each person is
    listed once, at the first level they are reached. One more level is read than listed, so the members of
    the last level know their own direct reports (for manager rules).
    """
    team = Team()
    seen = {manager_hr_id}
    frontier = [manager_hr_id]
    for level in range(1, depth + 2):
        if not frontier:
            break
        found = await reports_of(session, pipeline_id=pipeline_id, manager_ids=frontier, policies=policies, today=today)
        following: list[str] = []
        for manager in frontier:
            for link in found.get(manager, []):
                team.reports[manager].add(link.hr_id)
                if level > depth or link.hr_id in seen:
                    continue
                if len(team.members) >= limit:
                    team.truncated = True
                    continue
                seen.add(link.hr_id)
                team.members.append((link, level))
                following.append(link.hr_id)
        frontier = following
    return team
