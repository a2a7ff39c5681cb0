"""The only place HTTP clients are made: timeouts, user agent, the connection's limiter, redacted logging."""

from __future__ import annotations

import functools
import ssl
import time

import certifi
import httpcore
import httpx
import structlog

from enrolsync import __version__
from enrolsync.connectors.base import ConnectorConfig
from enrolsync.connectors.kit.egress import EgressPolicy, GuardedBackend
from enrolsync.connectors.kit.ratelimit import LimitedTransport, RateLimiter

USER_AGENT = f"enrolsync/{__version__} (+https://github.com/enrolsync/enrolsync)"
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=10.0)

log = structlog.get_logger("enrolsync.http")


async def _stamp(request: httpx.Request) -> None:
    request.extensions["enrolsync_started"] = time.perf_counter()


async def _log_response(response: httpx.Response) -> None:
    # Method, host, path and status only: query strings can carry tokens (Moodle's wstoken) and bodies carry
    # personal data, so neither is ever logged; headers are not logged at all.
    request = response.request
    started = request.extensions.get("enrolsync_started")
    latency_ms = round((time.perf_counter() - started) * 1000, 1) if started else None
    log.debug(
        "http",
        method=request.method,
        host=request.url.host,
        path=request.url.path,
        status=response.status_code,
        latency_ms=latency_ms,
    )


@functools.cache
def _tls() -> ssl.SSLContext:
    # Loading the CA bundle costs ~25 ms; one context per process serves every connection's client.
    return ssl.create_default_context(cafile=certifi.where())


def guarded_transport(egress: EgressPolicy) -> httpx.AsyncHTTPTransport:
    """The real network transport, dialling only addresses `egress` admits, checked at connect time."""
    transport = httpx.AsyncHTTPTransport(retries=0, verify=_tls())
    # httpx takes no network backend, so its pool is rebuilt with the same options around the guarded one.
    limits = httpx.Limits()
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=_tls(),
        max_connections=limits.max_connections,
        max_keepalive_connections=limits.max_keepalive_connections,
        keepalive_expiry=limits.keepalive_expiry,
        retries=0,
        network_backend=GuardedBackend(egress),
    )
    return transport


def build_client(
    config: ConnectorConfig,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    auth: httpx.Auth | None = None,
    limiter: RateLimiter | None = None,
    timeout: httpx.Timeout = DEFAULT_TIMEOUT,
    egress: EgressPolicy | None = None,
) -> httpx.AsyncClient:
    """A client for one connection. Pass `transport` to reach a fake (tests, demo) instead of the network;
    otherwise the network is reached only at addresses `egress` admits (default: public addresses only)."""
    inner = transport or guarded_transport(egress or EgressPolicy())
    if limiter is not None:
        inner = LimitedTransport(inner, limiter)
    return httpx.AsyncClient(
        base_url=str(config.base_url),
        transport=inner,
        auth=auth,
        timeout=timeout,
        headers={"User-Agent": USER_AGENT},
        follow_redirects=False,
        event_hooks={"request": [_stamp], "response": [_log_response]},
    )
