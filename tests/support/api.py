"""Driving the API as a client does: the app the API fixtures build (settings, a connector with required fields,
a settable clock), bearer tokens, and pipelines and runs created over HTTP and executed in-process."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

import httpx
from fastapi import FastAPI
from pydantic import SecretStr

from enrolsync.api.deps import Services
from enrolsync.api.tokens import mint_token
from enrolsync.connectors.base import Capability, ConnectorConfig, ConnectorInfo
from enrolsync.connectors.memory import MemorySource, MemoryTarget
from enrolsync.settings import Settings
from enrolsync.sync.store.crypto import generate_key
from enrolsync.sync.store.tables import ApiRole, utcnow
from tests.support.database import Database
from tests.support.factories import RULES
from tests.support.leaks import LeakGuard

# Builds a client on the app: with `Authorization: Bearer <token>`, or with no token for None.
MakeClient = Callable[[str | None], httpx.AsyncClient]
# Executes a queued run to its end, as a worker would; returns how it ended.
Execute = Callable[[str], Awaitable[str]]


class StrictConfig(ConnectorConfig):
    """A config with required fields, as real connectors have (the memory config has defaults for everything)."""

    subdomain: str
    api_key: SecretStr


class StrictSource(MemorySource):
    info: ClassVar[ConnectorInfo] = ConnectorInfo(
        key="strict-source",
        kind="hris",
        title="HR system with required settings",
        config_model=StrictConfig,
        capabilities=frozenset({Capability.PERSONS_FULL}),
    )


class KeepingTarget(MemoryTarget):
    """The memory LMS as a target that cannot delete accounts (most LMSs' APIs only suspend)."""

    info: ClassVar[ConnectorInfo] = replace(
        MemoryTarget.info,
        key="keeping-target",
        title="LMS that cannot delete accounts",
        capabilities=MemoryTarget.info.capabilities - {Capability.HARD_DELETE},
    )


class Clock:
    """The app's wall clock, set by the test (token expiry, dry-run age, "today" in people views)."""

    def __init__(self) -> None:
        self.moment: datetime | None = None

    def __call__(self) -> datetime:
        return self.moment or utcnow()


def app_settings(db: Database, data_dir: Path, **options: Any) -> Settings:
    """The API tests' settings on `db`: a fresh secret key, plain HTTP allowed to loopback and the memory systems,
    and loopback admitted by the egress policy (explicitly: the default admits public addresses only)."""
    return Settings(
        data_dir=data_dir,
        database_url=db.url,
        secret_keys=[SecretStr(generate_key())],
        allowed_http_hosts=["127.0.0.1", "localhost", "[::1]", "memory.invalid"],
        # The memory connectors are what these tests configure, so GET /connectors lists them (issue 17).
        **{"allowed_private_hosts": ["127.0.0.1", "localhost", "[::1]"], "show_test_connectors": True, **options},
    )


async def token_for(app: FastAPI, role: ApiRole, leak_guard: LeakGuard, **kwargs: object) -> str:
    """Mint a token of `role` on the app's database; the guard watches for it."""
    services: Services = app.state.services
    secret = await mint_token(services.sessions, name=f"test {role.value}", role=role, **kwargs)  # type: ignore[arg-type]
    leak_guard.watch(secret)
    return secret


async def create_pipeline(
    client: httpx.AsyncClient, ends: tuple[str, str], spec: dict[str, Any] | None = None, name: str = "training"
) -> str:
    """Create a pipeline between the `ends` connections (default rules: `RULES`); returns its id."""
    body = {"name": name, "source_id": ends[0], "target_id": ends[1], "spec": spec or RULES}
    response = await client.post("/pipelines", json=body)
    assert response.status_code == 201, response.text
    ident: str = response.json()["id"]
    return ident


async def run(
    client: httpx.AsyncClient, execute: Execute, pipeline_id: str, mode: str = "apply", scope: str = "full"
) -> dict[str, Any]:
    """Start a run over the API, execute it as a worker would, and read it back."""
    started = await client.post(f"/pipelines/{pipeline_id}/runs", json={"mode": mode, "scope": scope})
    assert started.status_code == 202, started.text
    await execute(started.json()["id"])
    body: dict[str, Any] = (await client.get(f"/runs/{started.json()['id']}")).json()
    return body
