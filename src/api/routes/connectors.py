"""The installed connectors: what each is, what it can do, and the JSON Schema of its connection config.

The in-memory test connectors (`memory-source`, `memory-target`, and connectors built on them) are installed with
every copy, for tests and third-party connector authors; they are listed only when `ENROLSYNC_SHOW_TEST_CONNECTORS`
is on, so an admin choosing a connector sees only real systems.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends

from enrolsync.api.auth import require
from enrolsync.api.deps import RegistryDep, SettingsDep
from enrolsync.api.problems import not_found, problem_responses
from enrolsync.api.schemas import ConnectorList, ConnectorLoadError, ConnectorPublic
from enrolsync.connectors.base import ConnectorInfo
from enrolsync.connectors.memory import MemorySource, MemoryTarget
from enrolsync.connectors.registry import UnknownConnector
from enrolsync.sync.store.tables import ApiRole

router = APIRouter(prefix="/connectors", tags=["connectors"], dependencies=[Depends(require(ApiRole.VIEWER))])


def connector_public(info: ConnectorInfo) -> ConnectorPublic:
    """The API view of a connector's declared info."""
    return ConnectorPublic(
        key=info.key,
        kind=info.kind,
        title=info.title,
        capabilities=sorted(info.capabilities),
        config_schema=info.config_model.model_json_schema(),
    )


def is_test_connector(registry: RegistryDep, key: str) -> bool:
    """True for the in-memory stand-ins (and connectors derived from them)."""
    try:
        cls = registry.get(key)
    except UnknownConnector:
        return False
    return isinstance(cls, type) and issubclass(cls, MemorySource | MemoryTarget)


@router.get("")
async def list_connectors(registry: RegistryDep, settings: SettingsDep) -> ConnectorList:
    """Every installed connector, and the plugins that failed to load (with the reason)."""
    errors = [ConnectorLoadError(key=key, error=error) for key, error in sorted(registry.errors.items())]
    shown = [info for info in registry if settings.show_test_connectors or not is_test_connector(registry, info.key)]
    return ConnectorList(items=[connector_public(info) for info in shown], errors=errors)


@router.get("/{key}", responses=problem_responses(404))
async def get_connector(key: str, registry: RegistryDep, settings: SettingsDep) -> ConnectorPublic:
    """One connector by key."""
    if not settings.show_test_connectors and is_test_connector(registry, key):
        raise not_found("connector", key)
    try:
        return connector_public(registry.info(key))
    except UnknownConnector:
        raise not_found("connector", key) from None
