"""Finding secrets where they must never be: the whole session's sweep and the API tests' per-test guard.

The sweep (issue 7) searches every standard-library log record and structlog event the suite produces, whatever
the level and whoever configured logging, and every test's captured output, for the secrets the tests use
(`SECRETS`, plus any a test adds with `watch_secret`); the root conftest installs it and fails the test a find
happened in. `LeakGuard` does the same per API test for response bodies and the bearer tokens the fixtures mint.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import httpx
import structlog
from structlog.testing import LogCapture

# API tests put this in every secret value they make up (as `s3cret-Value-4711` does).
LEAK_MARKER = "s3cret"

SECRETS: list[str] = [
    LEAK_MARKER,
    "fake-api-key",
    "fake-moodle-token",
    "fake-webhook-private-key",
    "e2e-bamboohr-key",
    "e2e-moodle-token",
    "demo-moodle-token",
    "crash-token",
    "scenario-bamboohr-key",
    "scenario-moodle-token",
    "hr-webhook-secret-8812",
]


class SecretSweep:
    """Finds watched secrets (case-insensitively) in text and remembers where each was seen."""

    def __init__(self, secrets: list[str]) -> None:
        self.secrets = secrets
        self.found: list[str] = []
        self._pattern: re.Pattern[str] | None = None
        self._compiled_for: tuple[str, ...] = ()

    def watch(self, secret: str) -> None:
        if len(secret) >= 6 and secret not in self.secrets:  # shorter strings match by chance, not by leaking
            self.secrets.append(secret)

    def scan(self, text: str, where: str) -> None:
        if tuple(self.secrets) != self._compiled_for:
            self._compiled_for = tuple(self.secrets)
            self._pattern = re.compile("|".join(re.escape(s) for s in self.secrets), re.IGNORECASE)
        assert self._pattern is not None  # noqa: S101 - compiled just above
        match = self._pattern.search(text)
        if match is not None:
            start = max(match.start() - 60, 0)
            self.found.append(f"{match.group(0)!r} in {where}: ...{text[start : match.end() + 60]!r}...")

    def take(self) -> list[str]:
        found, self.found = self.found, []
        return found


SWEEP = SecretSweep(SECRETS)


def watch_secret(secret: str) -> None:
    """Add a secret a test uses to the session's sweep."""
    SWEEP.watch(secret)


class _SweepHandler(logging.Handler):
    """On the root logger: sees every standard-library record that reaches it, at any level."""

    def emit(self, record: logging.LogRecord) -> None:
        text = f"{record.getMessage()} {record.__dict__.get('args')!r} {record.exc_text or ''}"
        SWEEP.scan(text, f"log record {record.name}")


class _SweptLogger:
    """Wraps whatever logger structlog's factory makes: each call's arguments are searched, then passed on."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._inner, name)
        if not callable(method):
            return method

        def call(*args: Any, **kwargs: Any) -> Any:
            SWEEP.scan(f"{args!r} {kwargs!r}", f"structlog event ({name})")
            return method(*args, **kwargs)

        return call


class _SweptFactory:
    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __call__(self, *args: Any) -> _SweptLogger:
        return _SweptLogger(self.inner(*args))


_HANDLER = _SweepHandler(level=logging.NOTSET)


def keep_sweep_installed() -> None:
    """Put the sweep (back) into both logging paths: a test may have reconfigured logging since the last one."""
    root = logging.getLogger()
    if _HANDLER not in root.handlers:
        root.addHandler(_HANDLER)
    factory = structlog.get_config()["logger_factory"]
    if not isinstance(factory, _SweptFactory):
        structlog.configure(logger_factory=_SweptFactory(factory))


class LeakGuard:
    """Collects response bodies and log records of one test and finds secrets in them."""

    def __init__(self) -> None:
        self.watched: list[str] = [LEAK_MARKER]
        self.bodies: list[str] = []
        self.structlog = LogCapture()

    def watch(self, secret: str) -> None:
        if len(secret) >= 8:  # shorter strings match by chance, not by leaking
            self.watched.append(secret)

    async def on_response(self, response: httpx.Response) -> None:
        await response.aread()
        self.bodies.append(response.text)

    def leaks(self, records: list[logging.LogRecord]) -> list[str]:
        texts = [*self.bodies, *(repr(entry) for entry in self.structlog.entries)]
        texts += [record.getMessage() + repr(record.__dict__.get("args")) for record in records]
        return [secret for secret in self.watched for text in texts if secret.lower() in text.lower()]


def sweep_report(sections: list[tuple[str, str]], guard: LeakGuard | None) -> list[str]:
    """Scan a test report's captured sections, and a `LeakGuard`'s kept events and bodies for every secret of the
    sweep (the guard itself knows only its own); return and forget everything found since the last call."""
    for title, text in sections:
        SWEEP.scan(text, title)
    if guard is not None:
        # API tests send structlog events to their LeakGuard instead of the logger.
        for entry in guard.structlog.entries:
            SWEEP.scan(repr(entry), "structlog event (LeakGuard)")
        for body in guard.bodies:
            SWEEP.scan(body, "response body (LeakGuard)")
    return SWEEP.take()
