"""The managers' weekly digest (issue 16), received by a real SMTP server in process on loopback (aiosmtpd): one
message per manager per period even with two workers at once, listing only their own people's new enrolments,
completions and overdue training, with their LMS link."""

from __future__ import annotations

import asyncio
import copy
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from email import message_from_bytes
from email.message import Message
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller

from enrolsync.connectors.memory.state import Dataset
from enrolsync.connectors.model import Progress, ProgressState
from enrolsync.sync.jobs import digest
from enrolsync.sync.run.context import Runtime
from enrolsync.sync.run.mail import SmtpMailer
from tests.support.api import Execute, create_pipeline, run
from tests.support.factories import RULES, team

MONDAY = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)  # the tick is Monday 07:00; the pipelines are made before it
NEXT_MONDAY = datetime(2026, 12, 14, 8, 0, tzinfo=UTC)
LMS = "https://lms.example.test/my/"


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], Message]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's hook
        self.messages.append((list(envelope.rcpt_tos), message_from_bytes(envelope.content)))
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[str]:
        return [str(m.get_payload()) for rcpts, m in self.messages if rcpts == [address]]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def inbox() -> Iterator[tuple[Inbox, int]]:
    box, port = Inbox(), _free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield box, port
    finally:
        controller.stop()


@pytest.fixture
async def synced(
    client: httpx.AsyncClient,
    ends: tuple[str, str],
    memory: tuple[str, Dataset],
    execute: Execute,
    runtime: Runtime,
    inbox: tuple[Inbox, int],
) -> str:
    """M leads A and B, A leads C; a weekly digest; C1 due 5 December; A completed C1 after a second full run."""
    team(memory[1])
    spec = copy.deepcopy(RULES)
    spec["rules"][0]["due"] = {"on": "2026-12-05"}
    spec["digest"] = {"schedule": "0 7 * * 1", "lms_url": LMS}
    pid = await create_pipeline(client, ends, spec)
    await run(client, execute, pid)
    a = (await client.get(f"/pipelines/{pid}/people/A")).json()["account_id"]
    done = datetime(2026, 12, 3, 10, tzinfo=UTC)
    memory[1].lms.progress[(a, "C1")] = Progress(
        account_id=a, course_id="C1", state=ProgressState.COMPLETED, completed_at=done
    )
    await run(client, execute, pid)
    runtime.mailer = SmtpMailer(host="127.0.0.1", port=inbox[1], sender="learning@example.com", starttls=False)
    return pid


async def test_one_digest_per_manager_per_period_with_two_workers(
    synced: str, runtime: Runtime, inbox: tuple[Inbox, int]
) -> None:
    box = inbox[0]

    sent = await asyncio.gather(digest.send_due(runtime, now=MONDAY), digest.send_due(runtime, now=MONDAY))
    again = await digest.send_due(runtime, now=MONDAY)

    assert (sum(sent), again) == (2, 0)
    assert sorted(rcpts[0] for rcpts, _ in box.messages) == ["a@example.com", "m@example.com"]
    m_body, a_body = box.to("m@example.com")[0], box.to("a@example.com")[0]
    # M's people are A, B and C (through A); M is not in their own digest, nor anyone outside the team.
    assert "GivenA Example: C1, completed 2026-12-03" in m_body
    assert "GivenB Example: C1, due 2026-12-05" in m_body and "GivenC Example: C1, due 2026-12-05" in m_body
    assert m_body.startswith("Hello GivenM,")
    assert "GivenM Example" not in m_body and "GivenT" not in m_body
    assert f"Open the learning platform: {LMS}" in m_body
    # A's digest names C only.
    assert "GivenC Example: C1, due 2026-12-05" in a_body
    assert "GivenA Example" not in a_body and "GivenB" not in a_body
    subject = box.messages[0][1]["Subject"]
    assert subject == "Your team's learning, week to 2026-12-07"

    await digest.send_due(runtime, now=NEXT_MONDAY)
    assert len(box.messages) == 4  # one more each for the next period
    assert "New enrolments (0)" in box.to("m@example.com")[1]


async def test_without_an_smtp_server_nothing_is_sent(synced: str, runtime: Runtime) -> None:
    runtime.mailer = None
    assert await digest.send_due(runtime, now=MONDAY) == 0


async def test_a_refused_digest_is_sent_by_a_later_pass(
    synced: str, runtime: Runtime, inbox: tuple[Inbox, int]
) -> None:
    runtime.mailer = SmtpMailer(host="127.0.0.1", port=_free_port(), sender="learning@example.com", starttls=False)
    assert await digest.send_due(runtime, now=MONDAY) == 0  # nobody listening there

    runtime.mailer = SmtpMailer(host="127.0.0.1", port=inbox[1], sender="learning@example.com", starttls=False)
    assert await digest.send_due(runtime, now=MONDAY) == 2
    assert len(inbox[0].messages) == 2
