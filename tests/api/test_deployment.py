"""docker-compose.yml, Dockerfile and .dockerignore (Docker does not run here: the files are checked as data)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"


def compose() -> Any:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


def test_services_run_the_api_and_the_workers_against_postgres_after_migrating() -> None:
    services = compose()["services"]

    assert set(services) == {"postgres", "migrate", "api", "worker"}
    assert services["migrate"]["command"] == ["migrate"]  # the image's entrypoint is `enrolsync`
    assert services["migrate"]["restart"] == "no"
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["api"]["command"][:1] == ["serve"]
    assert services["worker"]["command"] == ["worker"]
    assert services["worker"]["deploy"]["replicas"] == 2
    for name in ("migrate", "api", "worker"):
        env = services[name]["environment"]
        assert env["DATABASE_URL"].startswith("postgresql://") and "@postgres:" in env["DATABASE_URL"]
        assert "ENROLSYNC_SECRET_KEYS" in env
    for name in ("api", "worker"):
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"


def test_postgres_is_not_published_and_the_api_only_on_loopback() -> None:
    services = compose()["services"]
    assert "ports" not in services["postgres"]
    assert all(port.startswith("127.0.0.1:") for port in services["api"]["ports"])


def test_secret_keys_and_the_first_token_are_documented() -> None:
    head = COMPOSE.read_text(encoding="utf-8").split("services:")[0]
    assert "ENROLSYNC_SECRET_KEYS" in head
    assert "enrolsync token create --role admin" in head


def test_the_image_is_slim_non_root_and_wheel_installed_without_dev_tools() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    stages = re.findall(r"^FROM (\S+)", text, re.MULTILINE)
    assert stages[-1] == "python:3.11-slim"
    runtime = text.split("\nFROM ")[-1]
    user = re.findall(r"^USER (\S+)", runtime, re.MULTILINE)
    assert user and user[-1].split(":")[0] not in ("root", "0")
    assert "--find-links /wheels enrolsync" in runtime  # the wheel built in the first stage, base install
    for tool in ("[dev]", "[testing]", "ruff", "mypy", "schemathesis", "gcc", "build-essential"):
        assert tool not in runtime, tool
    assert re.search(r'^ENTRYPOINT \["enrolsync"\]', runtime, re.MULTILINE)


def test_the_build_context_leaves_out_the_venv_and_data() -> None:
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    for path in (".venv/", ".git/", "data/", "tests/"):
        assert path in ignored
