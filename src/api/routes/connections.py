"""Connections: configured connector instances. Secrets go in and never come out."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

import structlog
from fastapi import APIRouter, Response
from pydantic import ValidationError
from sqlmodel import col, select

from enrolsync.api import audit, queries
from enrolsync.api.auth import Admin, Principal, Viewer
from enrolsync.api.catalogue import list_courses
from enrolsync.api.checking import check_connection
from enrolsync.api.deps import (
    AfterQuery,
    BoxDep,
    ClientsDep,
    ClockDep,
    LimitQuery,
    RegistryDep,
    SessionDep,
    SettingsDep,
)
from enrolsync.api.problems import (
    FieldProblem,
    conflict,
    field_problems,
    invalid,
    invalid_field,
    not_found,
    problem_responses,
)
from enrolsync.api.schemas import (
    CheckPublic,
    ConnectionCreate,
    ConnectionPublic,
    ConnectionUpdate,
    CoursePublic,
    CoursesPublic,
    Page,
)
from enrolsync.connectors.base import ConnectorConfig
from enrolsync.connectors.kit.egress import EgressRefused
from enrolsync.connectors.registry import Registry, UnknownConnector
from enrolsync.sync.run.clients import ClientFactory
from enrolsync.sync.store import uploads
from enrolsync.sync.store.connections import (
    SecretsRequired,
    UnsafeBaseUrl,
    location_fields,
    merge_update,
    split_config,
)
from enrolsync.sync.store.crypto import SecretBox, SecretsUndecryptable
from enrolsync.sync.store.tables import Connection, Event, ScimResource, ScimToken, utcnow

router = APIRouter(prefix="/connections", tags=["connections"])
log = structlog.get_logger("enrolsync.api")
Verb = Literal["create", "update", "delete"]


def connection_public(connection: Connection, *, registry: Registry, box: SecretBox) -> ConnectionPublic:
    """The API view of a connection: its options and which secrets are set, never their values."""
    kind = registry.info(connection.connector).kind if connection.connector in registry.classes else None
    return ConnectionPublic(
        id=connection.id,
        name=connection.name,
        connector=connection.connector,
        kind=kind,
        config=connection.config,
        secrets_set=sorted(name for name, value in _secrets(connection, box).items() if value),
        created_at=connection.created_at,
        updated_at=connection.updated_at,
    )


def _secrets(connection: Connection, box: SecretBox) -> dict[str, str]:
    try:
        return box.decrypt(connection.secrets)
    except SecretsUndecryptable:
        # Reads go on; the check endpoint and runs report the problem where it matters.
        log.warning("connection.secrets_undecryptable", connection_id=connection.id)
        return {}


def _config_model(registry: Registry, key: str) -> type[ConnectorConfig]:
    try:
        return registry.info(key).config_model
    except UnknownConnector:
        raise invalid_field("connector", f"no installed connector {key!r}; see GET /connectors", "unknown") from None


@contextmanager
def _config_problems() -> Iterator[None]:
    try:
        yield
    except (UnsafeBaseUrl, EgressRefused) as error:
        raise invalid_field("config.base_url", str(error), "unsafe_base_url") from None
    except SecretsRequired as error:
        problems = [
            FieldProblem(path=f"config.{name}", message="send this secret again with the new address", type="required")
            for name in error.names
        ]
        raise invalid(problems, str(error)) from None
    except ValidationError as error:
        raise invalid(field_problems(error, prefix=("config",)), "the connection config is invalid") from None


async def _check_egress(clients: ClientFactory, model: type[ConnectorConfig], public: dict[str, Any]) -> None:
    """Every address the config points at (base URL, token URLs) must pass the egress policy now."""
    for name in sorted(location_fields(model)):
        if public.get(name):
            await clients.check_egress(str(public[name]))


async def _load(session: SessionDep, connection_id: str) -> Connection:
    connection = await session.get(Connection, connection_id)
    if connection is None:
        raise not_found("connection", connection_id)
    return connection


def _audit(
    session: SessionDep, principal: Principal, now: ClockDep, connection: Connection, verb: Verb, detail: dict[str, Any]
) -> None:
    audit.record(
        session,
        principal,
        action=f"connection.{verb}",
        resource_type="connection",
        resource_id=connection.id,
        at=now(),
        detail=detail,
    )


async def _save(
    session: SessionDep,
    principal: Principal,
    now: ClockDep,
    connection: Connection,
    verb: Literal["create", "update"],
    detail: dict[str, Any],
) -> None:
    """Write a created or changed connection and its audit entry in one commit; a taken name is a conflict."""
    session.add(connection)
    _audit(session, principal, now, connection, verb, detail)
    await queries.commit_or_conflict(session, f"a connection named {connection.name!r} exists")
    log.info(f"connection.{verb}d", connection_id=connection.id, connector=connection.connector)


@router.post("", status_code=201, responses=problem_responses(409, 422))
async def create_connection(
    body: ConnectionCreate,
    principal: Admin,
    now: ClockDep,
    session: SessionDep,
    registry: RegistryDep,
    box: BoxDep,
    settings: SettingsDep,
    clients: ClientsDep,
    response: Response,
) -> ConnectionPublic:
    """Create a connection. The config is validated against the connector's model; secrets are encrypted."""
    model = _config_model(registry, body.connector)
    with _config_problems():
        public, secrets = split_config(model, body.config, allowed_http_hosts=settings.allowed_http_hosts)
        await _check_egress(clients, model, public)
    connection = Connection(
        name=body.name, connector=body.connector, config=public, secrets=box.encrypt(secrets) if secrets else ""
    )
    await _save(
        session, principal, now, connection, "create", {"connector": body.connector, "secrets_set": sorted(secrets)}
    )
    response.headers["Location"] = f"/connections/{connection.id}"
    return connection_public(connection, registry=registry, box=box)


@router.get("", responses=problem_responses(400))
async def list_connections(
    _: Viewer,
    session: SessionDep,
    registry: RegistryDep,
    box: BoxDep,
    after: AfterQuery = None,
    limit: LimitQuery = queries.DEFAULT_LIMIT,
) -> Page[ConnectionPublic]:
    """Connections, oldest first."""
    items, following = await queries.page(
        session, select(Connection), queries.CONNECTIONS_ORDER, after=after, limit=limit
    )
    return Page(items=[connection_public(c, registry=registry, box=box) for c in items], next=following)


@router.get("/{connection_id}", responses=problem_responses(404))
async def get_connection(
    connection_id: str, _: Viewer, session: SessionDep, registry: RegistryDep, box: BoxDep
) -> ConnectionPublic:
    """One connection."""
    return connection_public(await _load(session, connection_id), registry=registry, box=box)


@router.patch("/{connection_id}", responses=problem_responses(404, 409, 422))
async def update_connection(
    connection_id: str,
    body: ConnectionUpdate,
    principal: Admin,
    now: ClockDep,
    session: SessionDep,
    registry: RegistryDep,
    box: BoxDep,
    settings: SettingsDep,
    clients: ClientsDep,
) -> ConnectionPublic:
    """Rename a connection or change its config; secret fields left out of `config` keep their value, except
    when the change moves the connection (its `base_url`): then every stored secret must be sent again."""
    connection = await _load(session, connection_id)
    if body.config is not None:
        model = _config_model(registry, connection.connector)
        with _config_problems():
            public, secrets = merge_update(
                model,
                connection.config,
                _secrets(connection, box),
                body.config,
                allowed_http_hosts=settings.allowed_http_hosts,
            )
            await _check_egress(clients, model, public)
        connection.config, connection.secrets = public, box.encrypt(secrets) if secrets else ""
    if body.name is not None:
        connection.name = body.name
    connection.updated_at = utcnow()
    # Field names only: values may be secrets.
    changed = {"name": body.name is not None, "config_fields": sorted(body.config or {})}
    await _save(session, principal, now, connection, "update", changed)
    return connection_public(connection, registry=registry, box=box)


@router.delete("/{connection_id}", status_code=204, responses=problem_responses(404, 409))
async def delete_connection(connection_id: str, principal: Admin, now: ClockDep, session: SessionDep) -> None:
    """Delete a connection that no pipeline uses (its stored webhook events and uploaded files go with it)."""
    connection = await _load(session, connection_id)
    used = await queries.pipelines_using(session, connection_id=connection_id)
    if used:
        raise conflict(f"the connection is used by {used} pipeline(s); delete or repoint them first")
    await queries.delete_where(session, Event, col(Event.connection_id) == connection_id)
    await queries.delete_where(session, ScimResource, col(ScimResource.connection_id) == connection_id)
    await queries.delete_where(session, ScimToken, col(ScimToken.connection_id) == connection_id)
    await uploads.delete_all(session, connection_id=connection_id)
    await session.delete(connection)
    _audit(session, principal, now, connection, "delete", {"connector": connection.connector})
    await queries.commit_or_conflict(session, "the connection is in use")
    log.info("connection.deleted", connection_id=connection_id)


@router.post("/{connection_id}/check", responses=problem_responses(404))
async def check(
    connection_id: str, _: Admin, session: SessionDep, registry: RegistryDep, box: BoxDep, clients: ClientsDep
) -> CheckPublic:
    """Reach the connection's system and prove its credentials; a failure is `ok: false` with the reason."""
    connection = await _load(session, connection_id)
    result = await check_connection(connection, registry=registry, box=box, clients=clients)
    return CheckPublic(ok=result.ok, detail=result.detail, facts=dict(result.facts))


@router.get("/{connection_id}/courses", responses=problem_responses(404, 409, 502))
async def courses(
    connection_id: str, _: Admin, session: SessionDep, registry: RegistryDep, box: BoxDep, clients: ClientsDep
) -> CoursesPublic:
    """The target's courses with the keys a rule's `enrol` may name them by (for LMSs that can list them)."""
    connection = await _load(session, connection_id)
    found = await list_courses(connection, registry=registry, box=box, clients=clients)
    return CoursesPublic(items=[CoursePublic(course_id=c.course_id, name=c.name, keys=dict(c.keys)) for c in found])
