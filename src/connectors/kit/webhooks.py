"""Webhook authenticity checks, over the raw body bytes, with constant-time comparison.

- `timestamped_hmac`: the generic scheme any HR system (or script) can sign with, after Stripe's:
  header `Enrolsync-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>`; several `v1` are
  accepted so a secret can be rotated. The timestamp must be within the tolerance (replays of old calls fail;
  the event id de-duplicates replays within it).
- `hibob_signature`: HiBob's `Bob-Signature`, HMAC-SHA512 of the body with the webhook secret; HiBob's docs do
  not pin the encoding (https://apidocs.hibob.com/docs/working-with-webhooks), so base64 and hex both verify.
- `static_token`: Personio sends the token you configured verbatim in `Authorization` (no HMAC;
  https://developer.personio.de/docs/webhooks).
BambooHR's own scheme lives in its connector folder.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime

from enrolsync.connectors.errors import AuthError

GENERIC_HEADER = "enrolsync-signature"


def _same(expected: str, given: str) -> bool:
    """Constant-time equality of a computed signature and a received one. Compared as UTF-8 bytes because
    `hmac.compare_digest` refuses `str` with non-ASCII characters (a TypeError, which a header full of them
    would otherwise turn into a 500); an undecodable character simply makes the value differ."""
    return hmac.compare_digest(expected.encode(), given.encode("utf-8", "replace"))


def sign_timestamped(secret: str, body: bytes, timestamp: int) -> str:
    """The header value a sender computes (tests and the documentation use it too)."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def timestamped_hmac(*, secret: str, body: bytes, header: str | None, now: datetime, tolerance_seconds: float) -> int:
    """Verify the generic signature header; returns its timestamp. Raises `AuthError` with the reason."""
    if not header:
        raise AuthError(f"missing {GENERIC_HEADER} header", status=401)
    parts: dict[str, list[str]] = {}
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        parts.setdefault(key, []).append(value)
    try:
        timestamp = int(parts["t"][0])
    except (KeyError, ValueError):
        raise AuthError("signature header has no valid timestamp", status=401) from None
    if abs(now.timestamp() - timestamp) > tolerance_seconds:
        raise AuthError("signature timestamp is outside the tolerance", status=401)
    expected = sign_timestamped(secret, body, timestamp).split("v1=", 1)[1]
    if not any(_same(expected, given) for given in parts.get("v1", [])):
        raise AuthError("signature does not match", status=401)
    return timestamp


def hibob_signature(*, secret: str, body: bytes, header: str | None) -> None:
    """Verify HiBob's `Bob-Signature` (HMAC-SHA512 of the body). Raises `AuthError`."""
    if not header:
        raise AuthError("missing Bob-Signature header", status=401)
    digest = hmac.new(secret.encode(), body, hashlib.sha512).digest()
    given = header.strip()
    as_hex = _same(digest.hex(), given.lower())
    as_base64 = _same(base64.b64encode(digest).decode(), given)
    if not (as_hex or as_base64):
        raise AuthError("signature does not match", status=401)


def static_token(*, expected: str, header: str | None) -> None:
    """Verify a configured token sent verbatim in a header (Personio's `Authorization`). Raises `AuthError`."""
    if not header or not _same(expected, header.strip()):
        raise AuthError("token does not match", status=401)
