"""LearnUpon's answers mapped onto the error taxonomy, in one place.

LearnUpon answers errors with a 4xx/5xx status and a JSON body `{"message": "..."}` (docs.learnupon.com/api,
"Response codes"). A 429 carries `X-LU-Rate-Limit-Remaining-Minute` / `-Week`; LearnUpon publishes no
`Retry-After`, so a spent minute budget waits for the next minute and a spent week budget is reported as such.
"""

from __future__ import annotations

import json

import httpx

from enrolsync.connectors.errors import ConnectorError, TransientError
from enrolsync.connectors.kit.errors import classify as classify_http
from enrolsync.connectors.kit.errors import parse_retry_after
from enrolsync.connectors.ops import OpResult

MINUTE = 60.0
_ALREADY = ("already enrolled", "already a member", "already exists", "already been taken", "already in use")


def message(response: httpx.Response) -> str | None:
    """LearnUpon's `message`, if the body has one."""
    try:
        body = json.loads(response.content)
    except ValueError:
        return None
    text = body.get("message") if isinstance(body, dict) else None
    return str(text) if text else None


def throttle_wait(response: httpx.Response) -> float:
    """Seconds to wait after a 429: `Retry-After` if sent, else until the spent budget renews."""
    told = parse_retry_after(response.headers.get("Retry-After"))
    if told is not None:
        return told
    return MINUTE


def classify(response: httpx.Response) -> ConnectorError | None:
    """The error an answer means, or None for success. 429 without Retry-After waits out the minute."""
    if response.status_code == 429:
        week = response.headers.get("X-LU-Rate-Limit-Remaining-Week")
        reason = "LearnUpon's weekly request budget is spent" if week == "0" else "LearnUpon rate limit reached"
        return TransientError(reason, status=429, retry_after=throttle_wait(response))
    return classify_http(response, message(response))


def is_already(error: ConnectorError) -> bool:
    """Whether LearnUpon refused a write because its effect is already there (a duplicate)."""
    return error.status == 422 and any(phrase in error.reason.lower() for phrase in _ALREADY)


def op_failure(error: ConnectorError) -> OpResult:
    """A per-op outcome: transient errors are `retry`, the rest `failed` with LearnUpon's status."""
    if isinstance(error, TransientError):
        return OpResult.retry(error.reason, status=error.status, retry_after=error.retry_after)
    return OpResult.failed(error.reason, status=error.status)
