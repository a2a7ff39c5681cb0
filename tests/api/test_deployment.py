"""docker-compose.yml (Docker does not run here: the file is checked as data)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

COMPOSE = Path(__file__).resolve().parents[2] / "docker-compose.yml"


def compose() -> Any:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


def test_services_run_the_api_and_the_worker_against_postgres() -> None:
    services = compose()["services"]

    assert set(services) == {"postgres", "api", "worker"}
    assert services["api"]["command"][:2] == ["enrolsync", "serve"]
    assert services["worker"]["command"] == ["enrolsync", "worker"]
    for name in ("api", "worker"):
        env = services[name]["environment"]
        assert env["DATABASE_URL"].startswith("postgresql://") and "@postgres:" in env["DATABASE_URL"]
        assert "ENROLSYNC_SECRET_KEYS" in env
        assert services[name]["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_secret_keys_are_documented() -> None:
    assert "ENROLSYNC_SECRET_KEYS" in COMPOSE.read_text(encoding="utf-8").split("services:")[0]
