"""SCIM error answers (RFC 7644 section 3.12) in the connector error taxonomy.

A SCIM error is `{"schemas": [...Error], "status": "409", "scimType": "uniqueness", "detail": "..."}`; `status`
is a string. The `detail` is free text that servers may fill with the values they refused (a userName, an
email), so reasons are built from `scimType` and the status alone: no personal data reaches a run's record.
"""

from __future__ import annotations

from typing import Any

import httpx
from pydantic import ValidationError
from scim2_models import Error

from enrolsync.connectors.errors import ConnectorError, PermanentError, TransientError
from enrolsync.connectors.kit import errors as kit_errors
from enrolsync.connectors.ops import OpResult

SCIM_TYPES = {
    "uniqueness": "a unique attribute (userName or externalId) is already in use",
    "mutability": "an attribute the server does not let clients change",
    "invalidFilter": "the server refused the filter",
    "invalidPath": "the server refused the PATCH path",
    "invalidValue": "the server refused a value",
    "noTarget": "the PATCH path matched nothing",
    "invalidSyntax": "the server could not parse the request",
    "tooMany": "the server would return too many results",
    "invalidVers": "the server refused the SCIM version",
    "sensitive": "the request carried sensitive data in its URL",
    "tooLarge": "the request is larger than the server accepts",
}
STATUS_TEXT = {
    401: "the bearer token was refused",
    403: "the token may not do this",
    404: "no such resource",
    409: "conflict",
    412: "the resource changed since it was read (ETag mismatch)",
    413: "the request is larger than the server accepts",
    501: "the server does not implement this",
}


def parse_error(body: Any) -> Error | None:
    """The SCIM Error in a body, or None when the body is something else."""
    if not isinstance(body, dict) or "status" not in body:
        return None
    try:
        return Error.model_validate(body)
    except ValidationError:
        return None


def reason_for(status: int, error: Error | None) -> str:
    scim_type = error.scim_type if error is not None else None
    if scim_type:
        return f"[{scim_type}] {SCIM_TYPES.get(scim_type, 'refused')}"
    return STATUS_TEXT.get(status, "refused")


def classify(response: httpx.Response) -> ConnectorError | None:
    """The error a SCIM answer means, or None for success; 412 (stale If-Match) is transient: re-read, retry."""
    if response.status_code < 400:
        return None
    try:
        body = response.json()
    except ValueError:
        body = None
    reason = reason_for(response.status_code, parse_error(body))
    if response.status_code == 412:
        return TransientError(reason, status=412)
    if response.status_code == 501:  # a feature the server does not offer: asking again will not help
        return PermanentError(reason, status=501)
    return kit_errors.classify(response, reason)


def op_result(status: int, error: Error | None) -> OpResult:
    """The outcome of one refused operation (a Bulk item or a single request): 412, 429 and 5xx are `retry`."""
    reason = reason_for(status, error)
    if status in (412, 429) or (status >= 500 and status != 501):
        return OpResult.retry(reason, status=status)
    code = error.scim_type if error is not None else None
    return OpResult.failed(reason, status=status, code=code)
