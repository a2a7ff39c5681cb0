"""`POST /webhooks/{connection_id}`: HR events, proven by their signature rather than a bearer token.

A call is verified by the source connector's own scheme over the raw bytes (BambooHR's HMAC, the generic
timestamped HMAC, ...). The endpoint is public, so it tells a caller nothing it could not sign for: an unknown
connection, one that takes no events or has no webhook key, and a bad signature all answer the same 401 (the
reason is logged). A verified call that is not a valid event is 400; more events than `MAX_EVENTS_PER_CALL` is
413; an event id reused for a different event is 409; in each case nothing of the call is stored. A valid call
is stored (each event once, de-duplicated by event id) and answered 202 before any sync work; its people are
then handed to runs before the answer (in a dispatch round shared with the calls in flight beside it), and by
the worker's maintenance loop if that could not happen then.
"""

from __future__ import annotations

import structlog
from fastapi import APIRouter, Request
from pydantic import BaseModel

from enrolsync.api.deps import BoxDep, ClientsDep, ClockDep, DispatchesDep, QueueDep, RegistryDep, SessionDep
from enrolsync.api.inputs import storable
from enrolsync.api.problems import BAD_REQUEST, Problem, conflict, problem_responses, unauthorized
from enrolsync.connectors.base import Capability, SourceClass, SourceConnector
from enrolsync.connectors.errors import AuthError, Invalid
from enrolsync.connectors.model import HrEvent, RawRequest
from enrolsync.connectors.registry import UnknownConnector, WrongKind
from enrolsync.sync.jobs import events
from enrolsync.sync.run import gauges
from enrolsync.sync.store.connections import load_config
from enrolsync.sync.store.tables import Connection

log = structlog.get_logger("enrolsync.api")

MAX_BODY_BYTES = 1024 * 1024  # HR event payloads are small; a larger body is refused unread
MAX_EVENTS_PER_CALL = 500  # a bulk change in HR beyond this is caught by the next scheduled run instead
MAX_ID_LENGTH = 200  # the event id and person id columns (`Event.event_id`, `Link.hr_id`)
NOT_VERIFIED = "the call's signature does not verify"

router = APIRouter(prefix="/webhooks", tags=["webhooks"])


class WebhookAccepted(BaseModel):
    accepted: int
    duplicates: int


async def _body(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise Problem(413, f"the body is larger than {MAX_BODY_BYTES} bytes")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise Problem(413, f"the body is larger than {MAX_BODY_BYTES} bytes")
    return body


def _not_verified(connection_id: str, reason: str) -> Problem:
    # One line, no traceback: a refused call is the sender's problem (or an attacker's), not the service's.
    log.warning("webhook.rejected", connection_id=connection_id if storable(connection_id) else None, reason=reason)
    return unauthorized(NOT_VERIFIED)


async def _source(session: SessionDep, registry: RegistryDep, connection_id: str) -> tuple[Connection, SourceClass]:
    """The connection and its source connector class; raises the same 401 as a bad signature when there is none."""
    connection = await session.get(Connection, connection_id) if storable(connection_id) else None
    if connection is None:
        raise _not_verified(connection_id, "no such connection")
    try:
        connector_cls = registry.source(connection.connector)
    except (UnknownConnector, WrongKind):
        raise _not_verified(connection_id, "not a source connection") from None
    if Capability.EVENTS not in connector_cls.info.capabilities:
        raise _not_verified(connection_id, "its connector takes no events")
    return connection, connector_cls


def _parse(source: SourceConnector, raw: RawRequest, connection_id: str) -> list[HrEvent]:
    try:
        return source.parse_event(raw)
    except AuthError as error:
        raise _not_verified(connection_id, error.reason) from None
    except Invalid as error:
        raise Problem(400, f"the body is not a valid event: {error.reason}", type_=BAD_REQUEST) from None
    except (ValueError, RecursionError, UnicodeError) as error:
        # Any connector's parser, ours or a plugin's, meeting signed but hostile input (JSON nested thousands
        # deep, undecodable text): the sender's mistake, answered as such.
        log.warning("webhook.unparsable", connection_id=connection_id, error=type(error).__name__)
        raise Problem(400, "the body is not a valid event", type_=BAD_REQUEST) from None


def _check(parsed: list[HrEvent]) -> None:
    """Refuse, before anything is stored, what the database could not hold or a call should not carry."""
    if len(parsed) > MAX_EVENTS_PER_CALL:
        raise Problem(
            413, f"the call carries {len(parsed)} events; at most {MAX_EVENTS_PER_CALL} are accepted per call"
        )
    for n, event in enumerate(parsed):
        for name, value in (("event id", event.event_id), ("person id", event.hr_id)):
            if not value or len(value) > MAX_ID_LENGTH or not storable(value):
                detail = f"event {n}: the {name} must be 1 to {MAX_ID_LENGTH} characters without NUL or lone surrogates"
                raise Problem(400, detail, type_=BAD_REQUEST)


@router.post("/{connection_id}", status_code=202, responses=problem_responses(400, 401, 409, 413))
async def receive(
    connection_id: str,
    request: Request,
    session: SessionDep,
    registry: RegistryDep,
    box: BoxDep,
    clients: ClientsDep,
    queue: QueueDep,
    now: ClockDep,
    dispatches: DispatchesDep,
) -> WebhookAccepted:
    """Receive HR events for a source connection (BambooHR: configure this URL as the webhook's URL)."""
    try:
        answer = await _receive(connection_id, request, session, registry, box, clients, now)
    except Problem:
        gauges.WEBHOOK_EVENTS.labels(outcome="refused").inc()
        raise
    gauges.WEBHOOK_EVENTS.labels(outcome="accepted").inc(answer.accepted)
    gauges.WEBHOOK_EVENTS.labels(outcome="duplicate").inc(answer.duplicates)
    # Stored (committed) first: the call's people are then handed to runs in a round shared with the calls
    # in flight beside it (`events.Rounds`), and by the worker's maintenance loop if that fails now.
    await dispatches.after_commit(
        connection_id, lambda: events.dispatch(session, connection_id=connection_id, queue=queue)
    )
    return answer


async def _receive(
    connection_id: str,
    request: Request,
    session: SessionDep,
    registry: RegistryDep,
    box: BoxDep,
    clients: ClientsDep,
    now: ClockDep,
) -> WebhookAccepted:
    body = await _body(request)
    connection, connector_cls = await _source(session, registry, connection_id)
    raw = events.raw_request(dict(request.headers), body, now())
    config = load_config(connector_cls.info.config_model, connection.config, connection.secrets, box)
    async with clients.connector(connector_cls, config, connection=connection.id) as source:
        parsed = _parse(source, raw, connection_id)
    _check(parsed)
    try:
        received = await events.store(session, connection_id=connection_id, raw=raw, events=parsed)
    except events.ReusedEventId as error:
        await session.rollback()
        raise conflict(f"{error}; send a new id for a new event") from None
    await session.commit()
    log.info("webhook.received", connection_id=connection_id, new=received.new, duplicates=received.duplicates)
    return WebhookAccepted(accepted=received.new, duplicates=received.duplicates)
