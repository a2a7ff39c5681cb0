"""Remote error texts are scrubbed of what the request that provoked them carried, where the error is made.

A remote system (or whatever answers at a base URL an admin typed) may echo our request back in its error: the
request line with its query (`wstoken=...`), the `Authorization` header, the form body. Such text reaches run
errors, quarantine reasons and check answers that viewers read. Rather than hunting for words like "token",
the redaction knows the request by type: every credential-bearing part of it (header values other than the
descriptive ones we set, user info, query and form values, and the decoded parts of HTTP Basic) is removed from
the text in every encoding it is likely to come back in.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Iterator
from urllib.parse import parse_qsl, quote, quote_plus

import httpx

REDACTED = "[redacted]"
# Headers that describe the request rather than authorise it; every other header value is treated as secret.
DESCRIPTIVE_HEADERS = frozenset(
    {"host", "user-agent", "accept", "accept-encoding", "connection", "content-type", "content-length"}
)
# Values this short (a page number, `x`, `json`) carry no secret and would only shred the text.
_MIN_SECRET_LENGTH = 4


def _basic_parts(value: str) -> Iterator[str]:
    scheme, _, credentials = value.partition(" ")
    if scheme.lower() != "basic" or not credentials:
        return
    try:
        decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return
    yield decoded
    yield from decoded.split(":", 1)


def _header_secrets(request: httpx.Request) -> Iterator[str]:
    for name, value in request.headers.items():
        if name.lower() in DESCRIPTIVE_HEADERS:
            continue
        yield value
        _, _, credentials = value.partition(" ")
        yield credentials
        yield from _basic_parts(value)


def _body_secrets(request: httpx.Request) -> Iterator[str]:
    if "application/x-www-form-urlencoded" not in request.headers.get("content-type", ""):
        return
    try:
        content = request.content
    except httpx.RequestNotRead:
        return
    for _, value in parse_qsl(content.decode("utf-8", "replace"), keep_blank_values=False):
        yield value


def request_secrets(request: httpx.Request) -> set[str]:
    """Every value of `request` an answer must not repeat, in the forms a server would echo it."""
    url = request.url
    raw: list[str] = [url.username, url.password, url.query.decode("ascii", "replace")]
    raw += [value for _, value in url.params.multi_items()]
    raw += _header_secrets(request)
    raw += _body_secrets(request)
    found: set[str] = set()
    for value in raw:
        value = value.strip()
        if len(value) >= _MIN_SECRET_LENGTH:
            found.update({value, quote(value, safe=""), quote_plus(value)})
    return found


def scrub(text: str, secrets: Iterable[str]) -> str:
    """`text` with each of `secrets` replaced by `[redacted]`, longest first so no fragment of one survives."""
    for secret in sorted(set(secrets), key=len, reverse=True):
        if secret:
            text = text.replace(secret, REDACTED)
    return text


def remote_text(text: str, request: httpx.Request | None) -> str:
    """Text a remote system wrote about `request` (an error message), safe to store and show."""
    return text if request is None else scrub(text, request_secrets(request))
