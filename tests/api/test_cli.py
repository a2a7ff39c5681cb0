"""The `enrolsync` command: user errors are one line on stderr with exit status 1; `check` reports its result."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from typer.testing import CliRunner

from enrolsync.cli import app
from enrolsync.connectors.memory.config import MemoryConfig
from enrolsync.connectors.memory.state import Dataset
from enrolsync.sync.connections import split_config
from enrolsync.sync.store.crypto import SecretBox, generate_key
from enrolsync.sync.store.db import make_async_engine, session_factory
from enrolsync.sync.store.migrate import upgrade
from enrolsync.sync.store.tables import Connection

KEY = generate_key()


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """Each command configures process-wide logging; put it back for the tests that follow."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers, root.level = handlers, level
    structlog.reset_defaults()


def run(*args: str, url: str, tmp_path: Path) -> tuple[int, str, str]:
    env = {"DATABASE_URL": url, "ENROLSYNC_DATA_DIR": str(tmp_path), "ENROLSYNC_SECRET_KEYS": f'["{KEY}"]'}
    result = CliRunner().invoke(app, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


def assert_one_line_error(code: int, stderr: str, *words: str) -> None:
    assert code == 1
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("enrolsync: error: ")
    for word in words:
        assert word in lines[0]


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("mysql://db/x", ("unsupported database",)),
        ("not a url", ("DATABASE_URL",)),
        ("postgresql://postgres@127.0.0.1:1/none", ("database error",)),
    ],
)
def test_database_problems_are_one_line(url: str, words: tuple[str, ...], tmp_path: Path) -> None:
    code, _, stderr = run("migrate", url=url, tmp_path=tmp_path)

    assert_one_line_error(code, stderr, *words)


def test_migrate_then_unknown_connection(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/cli.sqlite"

    code, stdout, _ = run("migrate", url=url, tmp_path=tmp_path)
    assert code == 0
    assert "database at revision" in stdout

    code, _, stderr = run("check", "nope", url=url, tmp_path=tmp_path)
    assert_one_line_error(code, stderr, "no connection", "nope")


def test_serve_refuses_a_bad_secret_key_before_listening(tmp_path: Path) -> None:
    env = {"DATABASE_URL": f"sqlite:///{tmp_path}/s.sqlite", "ENROLSYNC_SECRET_KEYS": '["not-a-key"]'}

    result = CliRunner().invoke(app, ["serve", "--port", "1"], env=env)

    assert_one_line_error(result.exit_code, result.stderr, "secret key #1")
    assert "not-a-key" not in result.stderr


async def _store_connection(url: str, dataset: str, token: str) -> str:
    public, secrets = split_config(
        MemoryConfig, {"dataset": dataset, "token": token}, allowed_http_hosts=["memory.invalid"]
    )
    engine = make_async_engine(url)
    try:
        async with session_factory(engine)() as session:
            connection = Connection(
                name="hr", connector="memory-source", config=public, secrets=SecretBox([KEY]).encrypt(secrets)
            )
            session.add(connection)
            await session.commit()
            return connection.id
    finally:
        await engine.dispose()


@pytest.mark.parametrize(("token", "code", "verdict"), [("right", 0, "ok: "), ("wrong", 1, "failed: credentials")])
def test_check_reports_the_connectors_answer(
    token: str, code: int, verdict: str, tmp_path: Path, memory: tuple[str, Dataset]
) -> None:
    name, data = memory
    data.hris.token = "right"
    url = f"sqlite:///{tmp_path}/check.sqlite"
    upgrade(url)
    ident = asyncio.run(_store_connection(url, name, token))

    exit_code, stdout, _ = run("check", ident, url=url, tmp_path=tmp_path)

    assert exit_code == code
    assert stdout.startswith(verdict)
    assert token not in stdout


def test_python_dash_m_runs_the_cli() -> None:
    result = subprocess.run(  # noqa: S603 - a fixed command line
        [sys.executable, "-m", "enrolsync", "--help"], capture_output=True, text=True, timeout=60, check=False
    )

    assert result.returncode == 0
    for command in ("serve", "worker", "migrate", "demo", "check"):
        assert command in result.stdout
