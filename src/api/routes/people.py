"""People and teams: "why isn't Jane enrolled in Safety 101?" and "is my team set up?" in one call each."""

from __future__ import annotations

from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Query
from sqlmodel import col, select

from enrolsync.api.auth import require
from enrolsync.api.deps import ClockDep, SessionDep
from enrolsync.api.people import LinkStatus, as_planned, link_status, load_team, reports_of
from enrolsync.api.problems import not_found, problem_responses
from enrolsync.api.schemas_people import (
    EnrolmentStatus,
    PeopleFoundPublic,
    PersonFoundPublic,
    PersonOpPublic,
    PersonStatusPublic,
    TeamMemberPublic,
    TeamPublic,
)
from enrolsync.api.situations import situation
from enrolsync.sync.rules.explain import explain
from enrolsync.sync.rules.spec import PipelineSpec
from enrolsync.sync.store.tables import ApiRole, Link, Pipeline, Run, RunOp

router = APIRouter(prefix="/pipelines/{pipeline_id}", tags=["people"], dependencies=[Depends(require(ApiRole.VIEWER))])

RECENT_OPS = 50
MAX_DEPTH = 10
MAX_MEMBERS = 1000
MAX_FOUND = 50  # people sharing one work email: bad HR data, but listed rather than hidden


async def _pipeline(session: SessionDep, pipeline_id: str) -> tuple[Pipeline, PipelineSpec]:
    """The pipeline and its spec with courses as the last plan resolved them (what the status compares)."""
    pipeline = await session.get(Pipeline, pipeline_id)
    if pipeline is None:
        raise not_found("pipeline", pipeline_id)
    spec = PipelineSpec.model_validate(pipeline.spec)
    return pipeline, await as_planned(session, pipeline_id=pipeline_id, spec=spec)


async def _link(session: SessionDep, pipeline_id: str, hr_id: str) -> Link:
    link = await session.get(Link, (pipeline_id, hr_id))
    if link is None:
        raise not_found("person in this pipeline", hr_id)
    return link


async def _recent_ops(session: SessionDep, pipeline_id: str, hr_id: str) -> list[PersonOpPublic]:
    stmt = (
        select(RunOp, Run)
        .join(Run, col(Run.id) == col(RunOp.run_id))
        .where(col(Run.pipeline_id) == pipeline_id, col(RunOp.hr_id) == hr_id)
        .order_by(col(Run.created_at).desc(), col(Run.id).desc(), col(RunOp.seq))
        .limit(RECENT_OPS)
    )
    return [
        PersonOpPublic(
            run_id=run.id,
            run_mode=run.mode,
            run_status=run.status,
            run_created_at=run.created_at,
            seq=op.seq,
            kind=op.kind,
            status=op.status,
            op=op.op,
            last_error=op.last_error,
            updated_at=op.updated_at,
        )
        for op, run in (await session.exec(stmt)).all()
    ]


@router.get("/people/{hr_id}", responses=problem_responses(404))
async def get_person(pipeline_id: str, hr_id: str, session: SessionDep, now: ClockDep) -> PersonStatusPublic:
    """One person: as last read from HR, desired state under the current rules, what was applied, what is
    pending, the last error, recent operations, and every rule evaluated with why it matched or not."""
    pipeline, spec = await _pipeline(session, pipeline_id)
    link = await _link(session, pipeline_id, hr_id)
    today = now().date()
    reports = await reports_of(
        session, pipeline_id=pipeline_id, manager_ids=[hr_id], policies=spec.policies, today=today, mapping=spec.mapping
    )
    direct = frozenset(report.hr_id for report in reports.get(hr_id, []))
    status = link_status(link, spec, direct_reports=direct, today=today)
    code, words = situation(link, status, spec.policies, today)
    # The rules as the admin wrote them (course names, not the ids they resolved to).
    written = PipelineSpec.model_validate(pipeline.spec)
    verdicts = explain(status.person, written, direct_reports=direct, today=today) if status.person else []
    return PersonStatusPublic(
        pipeline_id=pipeline_id,
        pipeline_version=pipeline.version,
        hr_id=hr_id,
        person=link.person,
        gone_from_hr_at=link.gone_at,
        account_id=link.account_id,
        situation=code,
        situation_detail=words,
        desired=status.desired,
        desired_error=status.desired_error,
        awaiting_start=status.awaiting_start,
        applied=status.applied,
        sync_state=status.state,
        pending=[op.model_dump(mode="json") for op in status.pending],
        last_error=link.last_error,
        last_error_at=link.last_error_at,
        direct_reports=sorted(direct),
        explanation=verdicts,
        operations=await _recent_ops(session, pipeline_id, hr_id),
    )


@router.get("/people", responses=problem_responses(404, 422))
async def find_people(
    pipeline_id: str,
    session: SessionDep,
    now: ClockDep,
    email: Annotated[str, Query(min_length=3, max_length=320, description="A work email, in any case.")],
) -> PeopleFoundPublic:
    """The people of this pipeline with this work email (as last read from HR), compared case-insensitively and
    ignoring surrounding spaces: "why isn't jane.doe@example.com enrolled?" without knowing her HR id."""
    _, spec = await _pipeline(session, pipeline_id)
    stored = sa.func.lower(sa.func.trim(col(Link.person)["work_email"].as_string()))
    stmt = (
        select(Link)
        .where(col(Link.pipeline_id) == pipeline_id, stored == email.strip().lower())
        .order_by(col(Link.hr_id))
        .limit(MAX_FOUND)
    )
    today = now().date()
    items = []
    for link in (await session.exec(stmt)).all():
        reports = await reports_of(
            session,
            pipeline_id=pipeline_id,
            manager_ids=[link.hr_id],
            policies=spec.policies,
            today=today,
            mapping=spec.mapping,
        )
        direct = frozenset(report.hr_id for report in reports.get(link.hr_id, []))
        status = link_status(link, spec, direct_reports=direct, today=today)
        person = link.person or {}
        items.append(
            PersonFoundPublic(
                hr_id=link.hr_id,
                name=_name(person),
                work_email=person.get("work_email"),
                account_id=link.account_id,
                sync_state=status.state,
                gone_from_hr_at=link.gone_at,
            )
        )
    return PeopleFoundPublic(items=items)


def _name(person: dict[str, Any]) -> str:
    return " ".join(part for part in (person.get("given_name"), person.get("family_name")) if part)


@router.get("/teams/{manager_hr_id}", responses=problem_responses(404))
async def get_team(
    pipeline_id: str,
    manager_hr_id: str,
    session: SessionDep,
    now: ClockDep,
    depth: Annotated[int, Query(ge=1, le=MAX_DEPTH, description="1: direct reports; more: the subtree.")] = 1,
) -> TeamPublic:
    """A manager's team with each member's enrolments (desired vs applied) and sync state."""
    _, spec = await _pipeline(session, pipeline_id)
    await _link(session, pipeline_id, manager_hr_id)
    today = now().date()
    team = await load_team(
        session,
        pipeline_id=pipeline_id,
        manager_hr_id=manager_hr_id,
        depth=depth,
        limit=MAX_MEMBERS,
        policies=spec.policies,
        today=today,
    )
    members = []
    for link, level in team.members:
        status = link_status(link, spec, direct_reports=frozenset(team.reports.get(link.hr_id, ())), today=today)
        members.append(_member(link, level, status))
    return TeamPublic(
        pipeline_id=pipeline_id, manager_hr_id=manager_hr_id, depth=depth, members=members, truncated=team.truncated
    )


def _member(link: Link, level: int, status: LinkStatus) -> TeamMemberPublic:
    person = link.person or {}
    wanted = set(status.desired.enrolments) if status.desired else set()
    held = set(status.applied.enrolments) if status.applied else set()
    name = _name(person)
    return TeamMemberPublic(
        hr_id=link.hr_id,
        manager_hr_id=person.get("manager_hr_id"),
        level=level,
        name=name,
        job_title=person.get("job_title"),
        status=str(person.get("status", "")),
        account_id=link.account_id,
        sync_state=status.state,
        enrolments=[
            EnrolmentStatus(course=course, desired=course in wanted, applied=course in held)
            for course in sorted(wanted | held)
        ],
        last_error=link.last_error,
        last_error_at=link.last_error_at,
    )
