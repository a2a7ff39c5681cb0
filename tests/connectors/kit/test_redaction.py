"""Remote error texts never repeat what the request carried: the review's echoing server, by type of part."""

from __future__ import annotations

import base64
import json

import httpx
from pydantic import SecretStr

from enrolsync.api.checking import check_connection
from enrolsync.connectors.bamboohr import BambooHRSource
from enrolsync.connectors.errors import ConnectorError
from enrolsync.connectors.kit.auth import ApiKeyBasic
from enrolsync.connectors.kit.errors import classify
from enrolsync.connectors.registry import Registry
from enrolsync.sync.run.clients import ClientFactory
from enrolsync.sync.store.crypto import SecretBox, generate_key
from enrolsync.sync.store.tables import Connection

KEY = "s3cret-Value-4711-key"
TOKEN = "s3cret-Value-4711-wstoken"


def echo(request: httpx.Request) -> httpx.Response:
    """An error page that repeats the whole request, as the review's server did, in every likely form."""
    lines = [f"{request.method} {request.url}", *(f"{k}: {v}" for k, v in request.headers.items())]
    lines.append(request.content.decode())
    text = "\n".join(lines)
    return httpx.Response(
        400, json={"detail": text}, headers={"x-bamboohr-error-message": text.replace("\n", " | ")[:180]}
    )


def _request() -> httpx.Request:
    return httpx.Request(
        "POST",
        f"https://lms.example.com/webservice/rest/server.php?wstoken={TOKEN}&wsfunction=core_user_get_users",
        headers={
            "Authorization": f"Bearer {TOKEN}-bearer",
            "X-Api-Key": f"{KEY}-header",
            "Content-Type": "application/x-www-form-urlencoded",
        },
        content=f"wstoken={TOKEN}-form&users%5B0%5D%5Bemail%5D=kate%40example.com".encode(),
    )


def test_an_error_made_from_remote_text_carries_no_part_of_the_request() -> None:
    request = _request()
    quoted = "wstoken=" + TOKEN.replace("-", "%2D")  # also percent-encoded, as servers log it
    reason = f"refused {request.url} {dict(request.headers)} {request.content.decode()} {quoted}"

    error = classify(httpx.Response(400, request=request), reason)

    assert isinstance(error, ConnectorError)
    text = str(error)
    for secret in (TOKEN, f"{TOKEN}-bearer", f"{KEY}-header", f"{TOKEN}-form", "kate%40example.com"):
        assert secret not in text
    assert "[redacted]" in text and "(HTTP 400)" in text  # what the admin needs stays


async def test_a_check_against_an_echoing_host_shows_no_credential() -> None:
    box = SecretBox([generate_key()])
    connection = Connection(
        name="hr",
        connector="bamboohr",
        config={"company_domain": "acme", "base_url": "https://evil.test/"},
        secrets=box.encrypt({"api_key": KEY}),
    )
    clients = ClientFactory(transports={"evil.test": httpx.MockTransport(echo)})

    result = await check_connection(
        connection, registry=Registry.from_classes(BambooHRSource), box=box, clients=clients
    )

    basic = base64.b64encode(f"{KEY}:x".encode()).decode()
    assert result.ok is False
    assert "[redacted]" in result.detail  # the echo reached the reason, scrubbed
    for secret in (KEY, basic):
        assert secret not in result.detail
        assert secret not in json.dumps(dict(result.facts))


async def test_basic_credentials_are_redacted_in_their_decoded_form_too() -> None:
    auth = ApiKeyBasic(SecretStr(KEY))
    request = next(auth.auth_flow(httpx.Request("GET", "https://hr.example.com/v1/employees/changed")))

    error = classify(httpx.Response(401, request=request), f"user {KEY} with password x refused; sent {KEY}:x")

    assert error is not None and KEY not in str(error)
