"""Pipelines: one HR source feeding one learning platform, with the pipeline document, versioned on every change."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import structlog
from fastapi import APIRouter, Response
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from enrolsync.api import audit, queries
from enrolsync.api.auth import Admin, Principal, Viewer
from enrolsync.api.deps import AfterQuery, ClockDep, LimitQuery, RegistryDep, SessionDep
from enrolsync.api.problems import FieldProblem, conflict, invalid, not_found, problem_responses
from enrolsync.api.routes.quarantine import pipeline_quarantine
from enrolsync.api.schemas import Page, PipelineCreate, PipelinePublic, PipelineUpdate
from enrolsync.connectors.registry import Registry
from enrolsync.sync.rules.fit import misfits
from enrolsync.sync.rules.spec import PipelineSpec, SpecInvalid, parse_spec
from enrolsync.sync.store import repo
from enrolsync.sync.store.tables import Connection, Pipeline, PipelineVersion, utcnow

router = APIRouter(prefix="/pipelines", tags=["pipelines"])
log = structlog.get_logger("enrolsync.api")

# The connector kind each end of a pipeline needs, and how to name it in a message.
_ENDS = {"source_id": ("hris", "an HR system"), "target_id": ("lms", "a learning platform")}


def pipeline_public(pipeline: Pipeline) -> PipelinePublic:
    """The API view of a stored pipeline."""
    return PipelinePublic(
        id=pipeline.id,
        name=pipeline.name,
        source_id=pipeline.source_id,
        target_id=pipeline.target_id,
        spec=PipelineSpec.model_validate(pipeline.spec),
        version=pipeline.version,
        created_at=pipeline.created_at,
        updated_at=pipeline.updated_at,
    )


def _spec(data: Mapping[str, Any], problems: list[FieldProblem]) -> PipelineSpec | None:
    try:
        return parse_spec(data)
    except SpecInvalid as error:
        problems.extend(
            FieldProblem(path=f"spec.{issue.path}" if issue.path else "spec", message=issue.message)
            for issue in error.issues
        )
        return None


async def _check_end(
    session: SessionDep, registry: Registry, field: str, connection_id: str, problems: list[FieldProblem]
) -> None:
    kind, needed = _ENDS[field]
    connection = await session.get(Connection, connection_id)
    if connection is None:
        problems.append(FieldProblem(path=field, message=f"no connection with id {connection_id!r}", type="not_found"))
    elif connection.connector not in registry.classes:
        message = f"the connection's connector {connection.connector!r} is not installed"
        problems.append(FieldProblem(path=field, message=message, type="unknown_connector"))
    elif registry.info(connection.connector).kind != kind:
        message = f"must be a connection to {needed} (connector kind {kind!r}); {connection.connector!r} is not"
        problems.append(FieldProblem(path=field, message=message, type="wrong_kind"))


async def _check_fit(
    session: SessionDep, registry: Registry, target_id: str, spec: PipelineSpec, problems: list[FieldProblem]
) -> None:
    """Refuse what the target cannot do (groups on Moodle) now, naming the field, rather than at apply."""
    connection = await session.get(Connection, target_id)
    if connection is None or connection.connector not in registry.classes:
        return  # `_check_end` reported it
    info = registry.info(connection.connector)
    if info.kind == "lms":
        found = misfits(spec, info.capabilities, target=info.key)
        problems.extend(FieldProblem(path=f"spec.{m.path}", message=m.message, type="unsupported") for m in found)


def _audit(
    session: AsyncSession,
    principal: Principal,
    action: str,
    pipeline: Pipeline,
    now: Callable[[], datetime],
    **detail: object,
) -> None:
    # The spec itself is not copied: the version number finds it in the pipeline's version history.
    audit.record(
        session,
        principal,
        action=action,
        resource_type="pipeline",
        resource_id=pipeline.id,
        at=now(),
        detail={"name": pipeline.name, "version": pipeline.version, **detail},
    )


async def _load(session: SessionDep, pipeline_id: str) -> Pipeline:
    pipeline = await session.get(Pipeline, pipeline_id)
    if pipeline is None:
        raise not_found("pipeline", pipeline_id)
    return pipeline


@router.post("", status_code=201, responses=problem_responses(409, 422))
async def create_pipeline(
    body: PipelineCreate,
    principal: Admin,
    now: ClockDep,
    session: SessionDep,
    registry: RegistryDep,
    response: Response,
) -> PipelinePublic:
    """Create a pipeline at version 1. The source must be an HR connection and the target an LMS connection."""
    problems: list[FieldProblem] = []
    await _check_end(session, registry, "source_id", body.source_id, problems)
    await _check_end(session, registry, "target_id", body.target_id, problems)
    spec = _spec(body.spec, problems)
    if spec is not None:
        await _check_fit(session, registry, body.target_id, spec, problems)
    if problems or spec is None:
        raise invalid(problems, "the pipeline is invalid")
    pipeline = Pipeline(name=body.name, source_id=body.source_id, target_id=body.target_id, spec=spec.to_json())
    async with queries.conflicts(session, f"a pipeline named {body.name!r} exists"):
        session.add(pipeline)
        await session.flush()  # the version row refers to the pipeline row
        session.add(PipelineVersion(pipeline_id=pipeline.id, version=pipeline.version, spec=pipeline.spec))
        _audit(session, principal, "pipeline.create", pipeline, now, source_id=body.source_id, target_id=body.target_id)
        await session.commit()
    log.info("pipeline.created", pipeline_id=pipeline.id, version=pipeline.version, rules=len(spec.rules))
    response.headers["Location"] = f"/pipelines/{pipeline.id}"
    return pipeline_public(pipeline)


@router.get("", responses=problem_responses(400))
async def list_pipelines(
    _: Viewer, session: SessionDep, after: AfterQuery = None, limit: LimitQuery = queries.DEFAULT_LIMIT
) -> Page[PipelinePublic]:
    """Pipelines, oldest first."""
    items, following = await queries.page(session, select(Pipeline), queries.PIPELINES_ORDER, after=after, limit=limit)
    return Page(items=[pipeline_public(p) for p in items], next=following)


@router.get("/{pipeline_id}", responses=problem_responses(404))
async def get_pipeline(pipeline_id: str, _: Viewer, session: SessionDep) -> PipelinePublic:
    """One pipeline at its current version, with its quarantine state when its runs keep failing."""
    public = pipeline_public(await _load(session, pipeline_id))
    public.quarantine = await pipeline_quarantine(session, pipeline_id)
    return public


@router.patch("/{pipeline_id}", responses=problem_responses(404, 409, 422))
async def update_pipeline(
    pipeline_id: str,
    body: PipelineUpdate,
    principal: Admin,
    now: ClockDep,
    session: SessionDep,
    registry: RegistryDep,
) -> PipelinePublic:
    """Change a pipeline. A new spec or end adds one to its version (a rename does not); runs keep theirs."""
    pipeline = await _load(session, pipeline_id)
    problems: list[FieldProblem] = []
    for field in ("source_id", "target_id"):
        new = getattr(body, field)
        if new is not None and new != getattr(pipeline, field):
            await _check_end(session, registry, field, new, problems)
    spec = _spec(body.spec, problems) if body.spec is not None else None
    retargeted = body.target_id is not None and body.target_id != pipeline.target_id
    if not problems and (spec is not None or retargeted):
        checked = spec or PipelineSpec.model_validate(pipeline.spec)
        await _check_fit(session, registry, body.target_id or pipeline.target_id, checked, problems)
    if problems:
        raise invalid(problems, "the pipeline is invalid")
    changes: dict[str, Any] = {
        "name": body.name,
        "source_id": body.source_id,
        "target_id": body.target_id,
        "spec": spec.to_json() if spec is not None else None,
    }
    changes = {k: v for k, v in changes.items() if v is not None and v != getattr(pipeline, k)}
    if changes:
        for key, value in changes.items():
            setattr(pipeline, key, value)
        pipeline.updated_at = utcnow()
        # A rename changes nothing a run does; the rules and the two ends do, so they make a new version.
        if set(changes) - {"name"}:
            pipeline.version += 1
            session.add(PipelineVersion(pipeline_id=pipeline.id, version=pipeline.version, spec=pipeline.spec))
        session.add(pipeline)
        _audit(session, principal, "pipeline.update", pipeline, now, fields=sorted(changes))
        await queries.commit_or_conflict(
            session, f"a pipeline named {pipeline.name!r} exists, or the pipeline was changed at the same time"
        )
        log.info("pipeline.updated", pipeline_id=pipeline.id, version=pipeline.version, fields=sorted(changes))
    return pipeline_public(pipeline)


@router.delete("/{pipeline_id}", status_code=204, responses=problem_responses(404, 409))
async def delete_pipeline(pipeline_id: str, principal: Admin, now: ClockDep, session: SessionDep) -> None:
    """Delete a pipeline with its history (runs, operation logs, links, versions). Refused while a run is active."""
    pipeline = await _load(session, pipeline_id)
    try:
        await repo.delete_pipeline(session, pipeline_id=pipeline_id)
    except repo.InUseError:
        raise conflict("the pipeline has a queued or running run; wait for it to finish") from None
    _audit(session, principal, "pipeline.delete", pipeline, now)
    await queries.commit_or_conflict(session, "the pipeline changed while it was being deleted")
    log.info("pipeline.deleted", pipeline_id=pipeline_id)
