"""Bob-Signature: HMAC-SHA512 of the raw body with the webhook secret, accepted in base64 and hex."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from enrolsync.connectors.errors import AuthError
from enrolsync.connectors.hibob import HiBobSource
from enrolsync.connectors.hibob.config import HiBobConfig
from enrolsync.connectors.hibob.fake.server import HiBobFake
from enrolsync.connectors.kit.client import build_client
from enrolsync.connectors.model import HrEventKind, RawRequest


def source_time() -> datetime:
    return datetime(2025, 6, 2, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize("encoding", ["base64", "hex"])
def test_a_signed_call_names_the_employee(source: HiBobSource, fake: HiBobFake, encoding: str) -> None:
    [event] = source.parse_event(fake.webhook_request("120", kind="employee.left", encoding=encoding))
    assert (event.hr_id, event.kind) == ("120", HrEventKind.UPDATED)


def test_the_header_name_is_case_insensitive(source: HiBobSource, fake: HiBobFake) -> None:
    call = fake.webhook_request("120")
    lowered = call.model_copy(update={"headers": {k.lower(): v for k, v in call.headers.items()}})
    assert [e.hr_id for e in source.parse_event(lowered)] == ["120"]


@pytest.mark.parametrize(
    "tamper",
    [
        lambda call: call.model_copy(update={"body": call.body.replace(b'"120"', b'"121"')}),
        lambda call: call.model_copy(update={"headers": {"Content-Type": "application/json"}}),
        lambda call: call.model_copy(update={"headers": {"Bob-Signature": "c2lnbmF0dXJl"}}),
    ],
    ids=["other-body", "no-signature", "wrong-signature"],
)
def test_a_call_that_does_not_verify_is_refused(
    source: HiBobSource, fake: HiBobFake, tamper: Callable[[RawRequest], RawRequest]
) -> None:
    with pytest.raises(AuthError):
        source.parse_event(tamper(fake.webhook_request("120")))


def test_another_secret_does_not_verify(source: HiBobSource, fake: HiBobFake) -> None:
    fake.webhook_secret = "someone-elses-secret"
    with pytest.raises(AuthError):
        source.parse_event(fake.webhook_request("120"))


@pytest.mark.parametrize("body", [b"Ping test", b'{"text": "Ping test"}'])
def test_bobs_ping_is_answered_with_no_event_signed_or_not(source: HiBobSource, fake: HiBobFake, body: bytes) -> None:
    signed = RawRequest(headers={"Bob-Signature": fake.sign(body)}, body=body, received_at=fake.now)
    unsigned = RawRequest(headers={}, body=body, received_at=fake.now)
    assert source.parse_event(signed) == [] and source.parse_event(unsigned) == []


def test_a_ping_lookalike_carrying_an_event_must_be_signed(source: HiBobSource) -> None:
    body = b'{"text": "Ping test", "type": "employee.deleted", "data": {"employeeId": "120"}}'
    with pytest.raises(AuthError):
        source.parse_event(RawRequest(headers={}, body=body, received_at=source_time()))


async def test_without_a_configured_secret_nothing_verifies(config: HiBobConfig, fake: HiBobFake) -> None:
    unset = config.model_copy(update={"webhook_secret": None})
    async with build_client(unset, transport=fake.transport()) as http:
        with pytest.raises(AuthError, match="no webhook secret"):
            HiBobSource(unset, http).parse_event(fake.webhook_request("120"))
