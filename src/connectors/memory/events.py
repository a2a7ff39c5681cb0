"""Webhooks of the memory HR system, signed with the kit's generic timestamped HMAC.

Body: `{"events": [{"id": "...", "type": "created|updated|deleted", "hr_id": "..."}]}`: the shape any HR system
or script can send to enrolsync when it has no webhook scheme of its own.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from pydantic import BaseModel, ValidationError

from enrolsync.connectors.errors import AuthError, Invalid
from enrolsync.connectors.kit.webhooks import GENERIC_HEADER, timestamped_hmac
from enrolsync.connectors.memory.config import MemoryConfig
from enrolsync.connectors.model import HrEvent, HrEventKind, RawRequest


class _Item(BaseModel):
    id: str
    type: HrEventKind
    hr_id: str


class _Body(BaseModel):
    events: list[_Item]


def parse(config: MemoryConfig, request: RawRequest) -> list[HrEvent]:
    if config.webhook_secret is None:
        raise AuthError("this connection has no webhook secret", status=401)
    headers = {k.lower(): v for k, v in request.headers.items()}
    timestamp = timestamped_hmac(
        secret=config.webhook_secret.get_secret_value(),
        body=request.body,
        header=headers.get(GENERIC_HEADER),
        now=request.received_at,
        tolerance_seconds=config.webhook_tolerance_seconds,
    )
    try:
        body = _Body.model_validate(json.loads(request.body))
    except (ValueError, ValidationError) as error:
        reason = "not JSON" if isinstance(error, ValueError) and not isinstance(error, ValidationError) else "bad shape"
        raise Invalid(f'body is {reason}: expected {{"events": [{{id, type, hr_id}}]}}') from None
    at = datetime.fromtimestamp(timestamp, UTC)
    return [HrEvent(event_id=i.id, kind=i.type, hr_id=i.hr_id, occurred_at=at) for i in body.events]
