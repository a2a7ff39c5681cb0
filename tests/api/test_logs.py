"""Logging: one redacting chain for structlog and standard-library records."""

from __future__ import annotations

import io
import json
import logging

import pytest
import sqlalchemy as sa
import structlog

from enrolsync.logs import REDACTED, configure_logging, is_secret_key
from enrolsync.sync.store.db import make_async_engine
from tests.support.database import Database


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


@pytest.mark.usefixtures("restore_logging")
def test_the_access_log_never_writes_query_strings() -> None:
    stream = io.StringIO()
    configure_logging("INFO", stream=stream)

    # uvicorn's own call (protocols/http/h11_impl.py): client, method, path with query, HTTP version, status.
    logging.getLogger("uvicorn.access").info(
        '%s - "%s %s HTTP/%s" %d', "10.0.0.1:5123", "GET", "/runs?access_token=s3cret-Value-4711&limit=5", "1.1", 200
    )

    written = stream.getvalue()
    assert '"GET /runs HTTP/1.1" 200' in written
    assert "s3cret" not in written and "access_token" not in written


@pytest.mark.usefixtures("restore_logging")
async def test_debug_logs_never_carry_sql_parameters(db: Database) -> None:
    stream = io.StringIO()
    configure_logging("DEBUG", stream=stream)
    engine = make_async_engine(db.url)
    try:
        async with engine.connect() as connection:
            value = await connection.execute(sa.text("SELECT :v").bindparams(v="kate.s3cret-Value-4711@acme.example"))
            assert value.scalar_one().startswith("kate.")  # the statement ran, with its parameter
    finally:
        await engine.dispose()

    assert "kate.s3cret" not in stream.getvalue()
