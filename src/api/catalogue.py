"""A target connection's courses, for admins writing rules: each course's id and the keys a rule may name it by.

Built like a check (`checking.py`): the stored connection's connector, a short timeout and no retries, since an
admin waits for the answer. What goes wrong is a problem the admin can act on, never a 500.
"""

from __future__ import annotations

import httpx
import structlog

from enrolsync.api.checking import CHECK_RETRY, CHECK_TIMEOUT
from enrolsync.api.problems import Problem, conflict
from enrolsync.connectors.base import Capability, CourseCatalog
from enrolsync.connectors.errors import AuthError, ConnectorError
from enrolsync.connectors.kit.errors import UNREACHABLE
from enrolsync.connectors.model import Course
from enrolsync.connectors.registry import Registry, UnknownConnector
from enrolsync.sync.run.clients import ClientFactory
from enrolsync.sync.store.connections import load_config
from enrolsync.sync.store.crypto import SecretBox, SecretsUndecryptable
from enrolsync.sync.store.tables import Connection

log = structlog.get_logger("enrolsync.api")
UPSTREAM = "https://enrolsync.dev/problems/upstream"


def _upstream(detail: str) -> Problem:
    return Problem(502, detail, type_=UPSTREAM, title="The connected system did not answer as expected")


async def list_courses(
    connection: Connection, *, registry: Registry, box: SecretBox, clients: ClientFactory
) -> list[Course]:
    """Every course of the connection's system, sorted by id.

    Raises:
        Problem: 409 when the connector is not installed, cannot list courses or its stored secrets cannot be
            opened; 502 when the system refuses the credentials, cannot be reached or fails.
    """
    try:
        connector_cls = registry.get(connection.connector)
    except UnknownConnector:
        raise conflict(f"connector {connection.connector!r} is not installed") from None
    if Capability.COURSES not in connector_cls.info.capabilities:
        raise conflict(f"{connector_cls.info.title} connections cannot list their courses; rules name courses by id")
    try:
        config = load_config(connector_cls.info.config_model, connection.config, connection.secrets, box)
    except (ValueError, SecretsUndecryptable) as error:
        raise conflict(str(error)) from None
    try:
        async with clients.connector(connector_cls, config, http_timeout=CHECK_TIMEOUT, retry=CHECK_RETRY) as target:
            if not isinstance(target, CourseCatalog):
                raise conflict(f"{connector_cls.info.title} declares courses but cannot list them")
            courses = [course async for course in target.list_courses()]
    except AuthError as error:
        raise _upstream(f"credentials rejected: {error.reason}") from None
    except ConnectorError as error:
        raise _upstream(f"{type(error).__name__}: {error}") from None
    except httpx.HTTPError as error:
        log.info("connection.unreachable", connection_id=connection.id, kind=type(error).__name__)
        raise _upstream(f"cannot reach {config.base_url.host}: {UNREACHABLE}") from None
    return sorted(courses, key=lambda course: (len(course.course_id), course.course_id))
