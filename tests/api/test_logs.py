"""Logging: one redacting chain for structlog and standard-library records."""

from __future__ import annotations

import io
import json
import logging

import pytest
import structlog

from enrolsync.logs import REDACTED, configure_logging, is_secret_key


@pytest.mark.parametrize(
    ("key", "secret"),
    [
        ("token", True),
        ("api_key", True),
        ("Authorization", True),
        ("clientSecret", True),
        ("password", True),
        ("key", True),
        ("hr_id", False),
        ("connector", False),
        ("monkey", False),
        ("run_id", False),
        ("count", False),
    ],
)
def test_secret_looking_keys(key: str, secret: bool) -> None:
    assert is_secret_key(key) is secret


@pytest.mark.usefixtures("restore_logging")
def test_json_logs_redact_secrets_at_any_depth() -> None:
    stream = io.StringIO()
    configure_logging("INFO", json=True, stream=stream)

    structlog.get_logger("test").info(
        "op.applied", run_id="r1", hr_id="E1", token="tok-123", request={"headers": [{"Authorization": "Bearer x9"}]}
    )
    logging.getLogger("uvicorn.error").info("started on port %d", 8000)

    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert "tok-123" not in stream.getvalue() and "x9" not in stream.getvalue()
    first = lines[0]
    assert (first["event"], first["run_id"], first["hr_id"], first["token"]) == ("op.applied", "r1", "E1", REDACTED)
    assert first["request"]["headers"][0]["Authorization"] == REDACTED
    assert lines[1]["event"] == "started on port 8000"
    assert lines[1]["level"] == "info"


@pytest.mark.usefixtures("restore_logging")
def test_level_filters() -> None:
    stream = io.StringIO()
    configure_logging("WARNING", json=False, stream=stream)

    structlog.get_logger("test").info("quiet")
    structlog.get_logger("test").warning("loud", count=2)

    assert "quiet" not in stream.getvalue()
    assert "loud" in stream.getvalue() and "count=2" in stream.getvalue()
