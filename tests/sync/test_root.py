"""The composition root: every process built from the same settings reaches the same database with the same keys,
as the worker and the API must (one encrypts a connection's secrets, the other decrypts them to run it)."""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr

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
    # No configured keys: the first process makes the key file in data_dir and the second reads it.
    settings = Settings(data_dir=tmp_path, database_url=db.url, worker_id="worker-7", run_lease_seconds=12)
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
