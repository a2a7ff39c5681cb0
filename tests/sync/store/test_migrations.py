"""The shipped migrations build exactly the schema the models declare, on both databases, idempotently."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlmodel import SQLModel

from enrolsync.sync.store.db import make_sync_engine
from enrolsync.sync.store.migrate import alembic_config, current_revision, head_revision, upgrade
from tests.support.database import Database


def _schema_diff(url: str) -> list[Any]:
    engine = make_sync_engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True})
            return list(compare_metadata(context, SQLModel.metadata))
    finally:
        engine.dispose()


def test_migrated_schema_equals_the_models(db_url: str) -> None:
    assert _schema_diff(db_url) == []
    assert current_revision(db_url) == head_revision()


def test_the_comparison_notices_a_missing_schema(tmp_path: Path) -> None:
    # Guards the test above against comparing nothing with nothing.
    diff = _schema_diff(f"sqlite:///{tmp_path / 'empty.sqlite'}")
    assert {table.name for kind, table in diff if kind == "add_table"} >= {"run", "link", "connection"}


@pytest.mark.parametrize(
    "name, status", [("uq_run_queued_per_pipeline", "queued"), ("uq_run_running_per_pipeline", "running")]
)
def test_one_queued_and_one_running_run_per_pipeline(db_url: str, name: str, status: str) -> None:
    engine = make_sync_engine(db_url)
    try:
        indexes = {index["name"]: index for index in sa.inspect(engine).get_indexes("run")}
    finally:
        engine.dispose()
    index = indexes[name]
    assert index["unique"]
    assert index["column_names"] == ["pipeline_id"]
    where = str(next(value for key, value in index.get("dialect_options", {}).items() if key.endswith("_where")))
    assert status in where and {"queued", "running"} - {status} - set(where.split("'"))


def test_upgrade_again_changes_nothing(db: Database) -> None:
    upgrade(db.url)
    assert _schema_diff(db.url) == []


def test_processes_starting_together_migrate_once(tmp_path: Path) -> None:
    # Threads stand in for the API and the worker starting at once; the migration lock serialises them.
    url = f"sqlite:///{tmp_path / 'fresh.sqlite'}"
    errors: list[BaseException] = []

    def start() -> None:
        try:
            upgrade(url)
        except BaseException as error:  # noqa: BLE001  (collected and asserted below)
            errors.append(error)

    threads = [threading.Thread(target=start) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert current_revision(url) == head_revision()
    assert _schema_diff(url) == []


def test_downgrade_to_nothing_and_back(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'roundtrip.sqlite'}"
    upgrade(url)
    engine = make_sync_engine(url)
    try:
        with engine.begin() as conn:
            command.downgrade(alembic_config(conn), "base")
        assert set(sa.inspect(engine).get_table_names()) <= {"alembic_version"}
    finally:
        engine.dispose()
    upgrade(url)
    assert _schema_diff(url) == []
