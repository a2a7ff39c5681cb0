"""The `enrolsync` command: user errors are one line on stderr with exit status 1; `check` reports its result."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr
from sqlmodel import col, select
from typer.testing import CliRunner

from enrolsync.api.app import create_app
from enrolsync.cli import app
from enrolsync.connectors.memory.config import MemoryConfig
from enrolsync.connectors.memory.state import Dataset
from enrolsync.settings import Settings
from enrolsync.sync.store.connections import split_config
from enrolsync.sync.store.crypto import SecretBox, generate_key
from enrolsync.sync.store.db import make_async_engine, session_factory
from enrolsync.sync.store.migrate import upgrade
from enrolsync.sync.store.tables import AuditEntry, Connection
from tests.support.harness import RecordingQueue

KEY = generate_key()


# Each command configures process-wide logging; put it back for the tests that follow.
pytestmark = pytest.mark.usefixtures("restore_logging")


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
    env = {
        "DATABASE_URL": f"sqlite:///{tmp_path}/s.sqlite",
        "ENROLSYNC_DATA_DIR": str(tmp_path),  # the job engine's file too: never data/ in the checkout
        "ENROLSYNC_SECRET_KEYS": '["not-a-key"]',
    }

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
    for command in ("serve", "worker", "migrate", "demo", "check", "token"):
        assert command in result.stdout


async def _status_with(url: str, tmp_path: Path, token: str) -> int:
    settings = Settings(data_dir=tmp_path, database_url=url, secret_keys=[SecretStr(KEY)])
    api = create_app(settings, queue=RecordingQueue())
    async with api.router.lifespan_context(api):
        transport = httpx.ASGITransport(app=api)
        async with httpx.AsyncClient(transport=transport, base_url="http://enrolsync.test") as client:
            response = await client.get("/pipelines", headers={"Authorization": f"Bearer {token}"})
            return response.status_code


async def _audit(url: str) -> list[tuple[str, str, str]]:
    engine = make_async_engine(url)
    try:
        async with session_factory(engine)() as session:
            rows = (await session.exec(select(AuditEntry).order_by(col(AuditEntry.id)))).all()
            return [(row.actor, row.action, row.resource_id) for row in rows]
    finally:
        await engine.dispose()


def test_token_create_list_revoke(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/tokens.sqlite"

    code, token, stderr = run("token", "create", "--role", "operator", "--name", "ci bot", "--expires-in-days", "30",
                              url=url, tmp_path=tmp_path)  # fmt: skip
    token = token.strip()
    assert code == 0 and token.startswith("esk_") and "\n" not in token
    assert "operator token" in stderr and token not in stderr
    assert asyncio.run(_status_with(url, tmp_path, token)) == 200

    code, listing, _ = run("token", "list", url=url, tmp_path=tmp_path)
    token_id = listing.splitlines()[1].split()[0]
    assert code == 0 and token not in listing
    assert listing.splitlines()[1].split()[1:3] == ["operator", "active"] and listing.rstrip().endswith("ci bot")

    code, stdout, _ = run("token", "revoke", token_id, url=url, tmp_path=tmp_path)
    assert code == 0 and token_id in stdout
    assert asyncio.run(_status_with(url, tmp_path, token)) == 401
    assert run("token", "list", url=url, tmp_path=tmp_path)[1].splitlines()[1].split()[2] == "revoked"
    assert asyncio.run(_audit(url)) == [("cli", "api_token.create", token_id), ("cli", "api_token.revoke", token_id)]


def test_a_manager_token_names_its_hr_id(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/tokens.sqlite"

    code, token, stderr = run("token", "create", "--role", "manager", "--name", "Maria", "--hr-id", "E42",
                              url=url, tmp_path=tmp_path)  # fmt: skip

    assert code == 0 and "manager token" in stderr and token.strip().startswith("esk_")
    assert run("token", "list", url=url, tmp_path=tmp_path)[1].splitlines()[1].split()[1] == "manager"


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("token", "revoke", "nope"), ("no token", "nope")),
        (("token", "create", "--role", "admin", "--name", " "), ("--name",)),
        (("token", "create", "--role", "manager", "--name", "boss"), ("--hr-id",)),
        (("token", "create", "--role", "viewer", "--name", "ops", "--hr-id", "M"), ("--hr-id",)),
    ],
)
def test_token_mistakes_are_one_line(args: tuple[str, ...], words: tuple[str, ...], tmp_path: Path) -> None:
    code, _, stderr = run(*args, url=f"sqlite:///{tmp_path}/t.sqlite", tmp_path=tmp_path)

    assert_one_line_error(code, stderr, *words)
