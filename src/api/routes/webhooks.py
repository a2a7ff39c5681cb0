"""`POST /webhooks/{connection_id}`: HR events, proven by their signature rather than a bearer token.

A call is verified by the source connector's own scheme over the raw bytes (BambooHR's HMAC, the generic
timestamped HMAC, ...). A bad signature is 401 and nothing is stored; a malformed body is 400; a verified call is
stored verbatim, de-duplicated by event id, and answered 202 before any sync work; its people are then handed
to runs (here at once, and by the worker's maintenance loop if that could not happen now).
"""

from __future__ import annotations

import structlog
from fastapi import APIRouter, Request
from pydantic import BaseModel

from enrolsync.api.deps import BoxDep, ClientsDep, ClockDep, QueueDep, RegistryDep, SessionDep
from enrolsync.api.problems import Problem, not_found, problem_responses, unauthorized
from enrolsync.connectors.base import Capability
from enrolsync.connectors.errors import AuthError, Invalid
from enrolsync.connectors.registry import UnknownConnector, WrongKind
from enrolsync.sync.jobs import events
from enrolsync.sync.store.connections import load_config
from enrolsync.sync.store.tables import Connection

log = structlog.get_logger("enrolsync.api")

MAX_BODY_BYTES = 1024 * 1024  # HR event payloads are small; a larger body is refused unread

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


@router.post("/{connection_id}", status_code=202, responses=problem_responses(400, 401, 404, 413))
async def receive(
    connection_id: str,
    request: Request,
    session: SessionDep,
    registry: RegistryDep,
    box: BoxDep,
    clients: ClientsDep,
    queue: QueueDep,
    now: ClockDep,
) -> WebhookAccepted:
    """Receive HR events for a source connection (BambooHR: configure this URL as the webhook's URL)."""
    connection = await session.get(Connection, connection_id)
    if connection is None:
        raise not_found("connection", connection_id)
    try:
        connector_cls = registry.source(connection.connector)
    except UnknownConnector:
        raise not_found("connection", connection_id) from None
    except WrongKind:  # a target connection receives no HR events
        raise not_found("webhook endpoint for connection", connection_id) from None
    if Capability.EVENTS not in connector_cls.info.capabilities:
        raise not_found("webhook endpoint for connection", connection_id)
    body = await _body(request)
    raw = events.raw_request(dict(request.headers), body, now())
    config = load_config(connector_cls.info.config_model, connection.config, connection.secrets, box)
    async with clients.connector(connector_cls, config) as source:
        try:
            parsed = source.parse_event(raw)
        except AuthError as error:
            log.warning("webhook.rejected", connection_id=connection_id, reason=error.reason)
            raise unauthorized(f"the call's signature does not verify: {error.reason}") from None
        except Invalid as error:
            raise Problem(400, f"the body is not a valid event: {error.reason}") from None
    received = await events.store(session, connection_id=connection_id, raw=raw, events=parsed)
    await session.commit()
    log.info("webhook.received", connection_id=connection_id, new=received.new, duplicates=received.duplicates)
    await events.dispatch(session, connection_id=connection_id, queue=queue)
    return WebhookAccepted(accepted=received.new, duplicates=received.duplicates)
