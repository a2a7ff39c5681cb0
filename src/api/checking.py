"""Checking a stored connection: build its connector and ask it to reach the system and prove its credentials.

Shared by `POST /connections/{id}/check` and `enrolsync check`. Every failure the admin can act on (wrong
credentials, unreachable host, a connector no longer installed, secrets the keys cannot open) is a failed
result with a short reason, never an exception.
"""

from __future__ import annotations

import httpx
import structlog

from enrolsync.connectors.errors import ConnectorError
from enrolsync.connectors.kit.errors import UNREACHABLE
from enrolsync.connectors.kit.retry import ReadRetry
from enrolsync.connectors.model import CheckResult
from enrolsync.connectors.registry import Registry, UnknownConnector
from enrolsync.sync.run.clients import ClientFactory
from enrolsync.sync.store.connections import load_config
from enrolsync.sync.store.crypto import SecretBox, SecretsUndecryptable
from enrolsync.sync.store.tables import Connection

log = structlog.get_logger("enrolsync.api")
# An admin waits for the answer: an unreachable host is reported in seconds, and a check is not retried.
CHECK_TIMEOUT = httpx.Timeout(10.0, connect=3.0)
CHECK_RETRY = ReadRetry(attempts=1)


async def check_connection(
    connection: Connection, *, registry: Registry, box: SecretBox, clients: ClientFactory
) -> CheckResult:
    """Run the connector's `check` for a stored connection.

    Args:
        connection: the stored connection (config and encrypted secrets).
        registry: the installed connectors.
        box: opens the stored secrets.
        clients: builds the connector with its HTTP client (and, in tests, the fake's transport).

    Returns:
        The connector's result; `ok=False` with a reason when the check could not even be made.
    """
    try:
        connector_cls = registry.get(connection.connector)
    except UnknownConnector:
        return CheckResult(ok=False, detail=f"connector {connection.connector!r} is not installed")
    try:
        config = load_config(connector_cls.info.config_model, connection.config, connection.secrets, box)
    except (ValueError, SecretsUndecryptable) as error:
        return CheckResult(ok=False, detail=str(error))
    try:
        async with clients.connector(
            connector_cls, config, http_timeout=CHECK_TIMEOUT, retry=CHECK_RETRY, connection=connection.id
        ) as connector:
            result: CheckResult = await connector.check()
    except ConnectorError as error:
        result = CheckResult(ok=False, detail=f"{type(error).__name__}: {error}")
    except httpx.HTTPError as error:
        # The exception text can hold the full URL, and its kind would tell an open port from a closed one.
        log.info("connection.unreachable", connection_id=connection.id, kind=type(error).__name__)
        result = CheckResult(ok=False, detail=f"cannot reach {config.base_url.host}: {UNREACHABLE}")
    log.info("connection.checked", connection_id=connection.id, connector=connection.connector, ok=result.ok)
    return result
