"""Building connector instances for stored connections: one HTTP client and one rate limiter per connection.

Tests and the demo inject transports by host so that a connection's base URL reaches a fake instead of the
network; production uses the real transport.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TypeVar

import httpx

from enrolsync.connectors.base import Connector, ConnectorClass, ConnectorConfig, ConnectorInfo
from enrolsync.connectors.kit.client import build_client
from enrolsync.connectors.kit.clock import SYSTEM_CLOCK, Clock
from enrolsync.connectors.kit.ratelimit import RateLimiter
from enrolsync.connectors.kit.retry import ReadRetry

C = TypeVar("C", bound=Connector)


@dataclass
class ClientFactory:
    """Makes connectors. `transports` maps a host to the transport that serves it (fakes in tests and demo)."""

    transports: Mapping[str, httpx.AsyncBaseTransport] = field(default_factory=dict)
    clock: Clock = SYSTEM_CLOCK
    read_retry: ReadRetry | None = None

    def _transport(self, config: ConnectorConfig) -> httpx.AsyncBaseTransport | None:
        return self.transports.get(config.base_url.host or "")

    _limiters: dict[tuple[str, str], RateLimiter] = field(default_factory=dict, init=False, repr=False)

    def limiter(self, info: ConnectorInfo, config: ConnectorConfig) -> RateLimiter:
        """The one limiter of a remote endpoint in this process: every run and step talking to the same system
        with the same connector shares its budget and its Retry-After pauses."""
        key = (info.key, str(config.base_url))
        if key not in self._limiters:
            self._limiters[key] = RateLimiter(info.default_rate, max_concurrency=info.max_concurrency, clock=self.clock)
        return self._limiters[key]

    @asynccontextmanager
    async def connector(
        self, connector_cls: ConnectorClass[C], config: ConnectorConfig, *, limiter: RateLimiter | None = None
    ) -> AsyncIterator[C]:
        """A connector with its own client (a source for a `SourceClass`, a target for a `TargetClass`); the
        client closes when the block ends."""
        limiter = limiter or self.limiter(connector_cls.info, config)
        retry = self.read_retry or ReadRetry(clock=self.clock)
        async with build_client(config, transport=self._transport(config), limiter=limiter) as http:
            yield connector_cls(config, http, retry=retry)
