"""The installed connectors: what each is, what it can do, and the JSON Schema of its connection config."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from enrolsync.api.auth import require
from enrolsync.api.deps import RegistryDep
from enrolsync.api.problems import not_found, problem_responses
from enrolsync.api.schemas import ConnectorList, ConnectorLoadError, ConnectorPublic
from enrolsync.connectors.base import ConnectorInfo
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


@router.get("")
async def list_connectors(registry: RegistryDep) -> ConnectorList:
    """Every installed connector, and the plugins that failed to load (with the reason)."""
    errors = [ConnectorLoadError(key=key, error=error) for key, error in sorted(registry.errors.items())]
    return ConnectorList(items=[connector_public(info) for info in registry], errors=errors)


@router.get("/{key}", responses=problem_responses(404))
async def get_connector(key: str, registry: RegistryDep) -> ConnectorPublic:
    """One connector by key."""
    try:
        return connector_public(registry.info(key))
    except UnknownConnector:
        raise not_found("connector", key) from None
