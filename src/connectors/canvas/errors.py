"""Canvas answers -> the connector error taxonomy, in one function.

Canvas quirks: throttling is `403 Forbidden (Rate Limit Exceeded)` in plain text, without `Retry-After`
(https://canvas.instructure.com/doc/api/file.throttling.html), so it is transient, unlike other 403s, which mean
the token's user lacks a permission. Error bodies come in three shapes (`{"errors": [{"message"}]}`,
`{"errors": {object: {attribute: [{"type", "message"}]}}}`, `{"message"}`), read into one short reason.
"""

from __future__ import annotations

from typing import Any

import httpx

from enrolsync.connectors.canvas.budget import is_throttled
from enrolsync.connectors.errors import ConnectorError, TransientError
from enrolsync.connectors.kit.errors import classify as kit_classify

RATE_LIMITED = "Canvas rate limit exceeded"


def classify(response: httpx.Response) -> ConnectorError | None:
    """The error `response` means, or None for success."""
    if is_throttled(response):
        return TransientError(RATE_LIMITED, status=403)
    if response.status_code < 400:
        return None
    return kit_classify(response, reason(response))


def reason(response: httpx.Response) -> str | None:
    """Canvas's own words for an error, flattened: `attribute: message` for validation errors."""
    try:
        body = response.json()
    except ValueError:
        return None
    return _messages(body) or None


def _messages(body: Any) -> str:
    if not isinstance(body, dict):
        return ""
    errors = body.get("errors")
    if isinstance(errors, list):
        return "; ".join(str(e.get("message", "")) for e in errors if isinstance(e, dict))
    if isinstance(errors, dict):
        found: list[str] = []
        for obj, attributes in errors.items():
            if not isinstance(attributes, dict):
                found += [f"{obj}: {e.get('message', '')}" for e in attributes if isinstance(e, dict)]
                continue
            for attribute, items in attributes.items():
                found += [
                    f"{obj}.{attribute}: {i.get('message', i.get('type', ''))}" for i in items if isinstance(i, dict)
                ]
        return "; ".join(found)
    message = body.get("message") or body.get("error")
    return str(message) if message else ""
