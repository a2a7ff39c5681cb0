"""The composition root: every process built from the same settings reaches the same database with the same keys,
as the worker and the API must (one encrypts a connection's secrets, the other decrypts them to run it)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from pydantic import SecretStr
from structlog.testing import capture_logs

from enrolsync.connectors.memory import MemorySource
from enrolsync.connectors.registry import Registry
from enrolsync.settings import Settings
from enrolsync.sync.jobs.root import open_root
from enrolsync.sync.run.clients import ClientFactory
from enrolsync.sync.store import repo_config
from enrolsync.sync.store.crypto import generate_key
from enrolsync.sync.store.migrate import current_revision, head_revision
from enrolsync.sync.store.tables import Connection
from tests.support.database import Database


async def test_two_processes_share_the_database_and_the_generated_key(db: Database, tmp_path: Path) -> None:
    # No configured keys: the first process makes the key file in data_dir and the second reads it. On SQLite
    # only: on PostgreSQL (shared by processes on several machines) keys must be configured.
    keys = [SecretStr(generate_key())] if db.kind == "postgresql" else []
    settings = Settings(
        data_dir=tmp_path, database_url=db.url, worker_id="worker-7", run_lease_seconds=12, secret_keys=keys
    )
    async with await open_root(settings) as api, await open_root(settings) as worker:
        async with api.runtime.sessions() as session:
            made = await repo_config.create_connection(
                session, name="hr", connector="memory-source", config={}, secrets=api.runtime.box.encrypt({"k": "v"})
            )
            await session.commit()
        async with worker.runtime.sessions() as session:
            found = await session.get(Connection, made.id)
        assert found is not None
        assert worker.runtime.box.decrypt(found.secrets) == {"k": "v"}
        # Runs a worker holds carry its configured name and lease.
        assert (worker.runtime.owner, worker.runtime.lease_seconds) == ("worker-7", 12)


async def test_postgresql_refuses_to_start_without_configured_keys(db: Database, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, database_url=db.url)
    if db.kind == "sqlite":
        async with await open_root(settings):
            assert (tmp_path / "secret.key").exists()  # the embedded default needs no set-up
        return
    with pytest.raises(ValueError, match="ENROLSYNC_SECRET_KEYS must be set"):
        await open_root(settings)
    assert not (tmp_path / "secret.key").exists()


async def test_keys_that_cannot_open_the_stored_secrets_are_reported_at_start(db: Database, tmp_path: Path) -> None:
    # The newcomer's case: a worker started elsewhere with another key (here: another configured key).
    first = Settings(data_dir=tmp_path, database_url=db.url, secret_keys=[SecretStr(generate_key())])
    async with await open_root(first) as root, root.runtime.sessions() as session:
        secrets = root.runtime.box.encrypt({"token": "t"})
        await repo_config.create_connection(session, name="hr", connector="memory-source", config={}, secrets=secrets)
        await session.commit()
    other = first.model_copy(update={"secret_keys": [SecretStr(generate_key())]})

    with capture_logs() as same_logs:
        async with await open_root(first):
            pass
    with capture_logs() as other_logs:
        async with await open_root(other):
            pass

    assert [e for e in same_logs if e["log_level"] == "error"] == []
    errors = [e["event"] for e in other_logs if e["log_level"] == "error"]
    assert len(errors) == 1 and "ENROLSYNC_SECRET_KEYS" in errors[0] and "1 of 1 connection" in errors[0]
    assert "\n" not in errors[0]


async def test_injected_parts_replace_the_defaults(tmp_path: Path) -> None:
    registry, clients = Registry.from_classes(MemorySource), ClientFactory()
    settings = Settings(data_dir=tmp_path, secret_keys=[SecretStr(generate_key())])
    async with await open_root(settings, registry=registry, clients=clients) as root:
        assert root.runtime.registry is registry
        assert root.runtime.clients is clients


async def test_a_read_only_open_leaves_the_schema_alone(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.sqlite'}"
    settings = Settings(data_dir=tmp_path, database_url=url, secret_keys=[SecretStr(generate_key())])
    async with await open_root(settings, migrate=False):
        assert current_revision(url) is None
    async with await open_root(settings):
        assert current_revision(url) == head_revision()


async def test_the_embedded_database_and_key_are_readable_by_their_owner_only(tmp_path: Path) -> None:
    # SQLite only: PostgreSQL keeps its files itself. The data folder is new, as on a first start.
    data = tmp_path / "data"
    settings = Settings(data_dir=data)
    registry = Registry.from_classes(MemorySource)
    async with await open_root(settings, registry=registry) as root, root.runtime.sessions() as session:
        await repo_config.create_connection(session, name="hr", connector="memory-source", config={}, secrets="")
        await session.commit()
        files = sorted(path.name for path in data.iterdir())
        modes = {path.name: stat.S_IMODE(path.stat().st_mode) for path in data.iterdir()}

    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    assert {"enrolsync.sqlite", "enrolsync.sqlite-wal", "enrolsync-jobs.sqlite", "secret.key"} <= set(files)
    assert modes == dict.fromkeys(files, 0o600)
