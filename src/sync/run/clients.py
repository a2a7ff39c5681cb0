"""Building connector instances for stored connections: one HTTP client and one rate limiter per connection.

Tests and the demo inject transports by host so that a connection's base URL reaches a fake instead of the
network; production uses the real transport.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from typing import TypeVar

import httpx

from enrolsync.connectors.base import Connector, ConnectorClass, ConnectorConfig, ConnectorInfo
from enrolsync.connectors.kit.client import DEFAULT_TIMEOUT, build_client, guarded_transport
from enrolsync.connectors.kit.clock import SYSTEM_CLOCK, Clock
from enrolsync.connectors.kit.egress import EgressPolicy
from enrolsync.connectors.kit.ratelimit import RateLimiter
from enrolsync.connectors.kit.retry import ReadRetry
from enrolsync.sync.run.gauges import MeteredTransport, connection_label, count_retries

C = TypeVar("C", bound=Connector)


@dataclass
class ClientFactory:
    """Makes connectors. `transports` maps a host to the transport that serves it (fakes in tests and demo)."""

    transports: Mapping[str, httpx.AsyncBaseTransport] = field(default_factory=dict)
    clock: Clock = SYSTEM_CLOCK
    read_retry: ReadRetry | None = None
    egress: EgressPolicy = field(default_factory=EgressPolicy)
    # Sources whose people enrolsync itself stores (`scim-inbound`: what an identity provider pushed), by connector
    # key: the transport serving a connection's stored state, given its id (set up by `jobs.root`).
    stored: dict[str, Callable[[str], httpx.AsyncBaseTransport]] = field(default_factory=dict)

    def _transport(self, config: ConnectorConfig) -> httpx.AsyncBaseTransport | None:
        return self.transports.get(config.base_url.host or "")

    async def check_egress(self, url: str) -> None:
        """Refuse a base URL whose host the egress policy refuses (when a connection is saved). A host served by
        an injected transport (a fake) never reaches the network, so it passes.

        Raises:
            EgressRefused: the host is, or resolves to, a refused address.
        """
        parsed = httpx.URL(url)
        if parsed.host not in self.transports:
            await self.egress.check(parsed.host, parsed.port or (443 if parsed.scheme == "https" else 80))

    _limiters: dict[tuple[str, str], RateLimiter] = field(default_factory=dict, init=False, repr=False)

    def limiter(self, info: ConnectorInfo, config: ConnectorConfig) -> RateLimiter:
        """The one limiter of a remote endpoint in this process: every run and step talking to the same system
        with the same connector shares its budget and its Retry-After pauses."""
        key = (info.key, str(config.base_url))
        if key not in self._limiters:
            self._limiters[key] = RateLimiter(
                info.default_rate,
                max_concurrency=info.max_concurrency,
                clock=self.clock,
                windows=info.rate_windows,
                pace_on_throttle=info.pace_on_throttle,
            )
        return self._limiters[key]

    @asynccontextmanager
    async def connector(
        self,
        connector_cls: ConnectorClass[C],
        config: ConnectorConfig,
        *,
        limiter: RateLimiter | None = None,
        http_timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        retry: ReadRetry | None = None,
        connection: str | None = None,
    ) -> AsyncIterator[C]:
        """A connector with its own client (a source for a `SourceClass`, a target for a `TargetClass`); the
        client closes when the block ends. `http_timeout` and `retry` override the run defaults (a check is quick).
        `connection` (the stored connection's id) labels its gauges: latency, 429s, read retries; it also lets a
        source whose state enrolsync stores (`stored`) read that state instead of the network."""
        limiter = limiter or self.limiter(connector_cls.info, config)
        label = connection_label(connection, config.base_url.host)
        key = connector_cls.info.key
        retry = replace(
            retry or self.read_retry or ReadRetry(clock=self.clock),
            on_retry=lambda: count_retries(label, key, "read"),
        )
        make = self.stored.get(key) if connection else None
        local = make(connection) if make is not None and connection else None
        inner = local or self._transport(config) or guarded_transport(self.egress)
        metered = MeteredTransport(inner, connection=label, connector=key)
        async with build_client(config, transport=metered, limiter=limiter, timeout=http_timeout) as http:
            yield connector_cls(config, http, retry=retry)
