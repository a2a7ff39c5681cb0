"""Where outbound HTTP may go: public addresses, plus what an admin allow-listed.

An admin types a connection's base URL, and the service then sends credentials there and shows what came back;
without a policy that is a way into the service's own network (cloud metadata at 169.254.169.254, databases on
loopback, hosts on private ranges). So every address a name resolves to must be globally routable, for every
scheme, unless `ENROLSYNC_ALLOWED_PRIVATE_HOSTS` admits the name, the address or its network. The policy is
applied twice: when a base URL is saved (a clear 422), and again at connect time on the addresses actually
dialled, so a name that later resolves elsewhere (DNS rebinding) is still refused.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpcore
import structlog

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Awaitable[list[str]]]
"""Resolve a host name and port to IP address strings (`getaddrinfo`); tests inject their own."""

log = structlog.get_logger("enrolsync.http")


class EgressRefused(ValueError):
    """The host is, or resolves to, an address the policy does not allow."""


async def system_resolve(host: str, port: int) -> list[str]:
    """The addresses `host` resolves to, through the operating system's resolver."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def bare_host(host: str) -> str:
    """A host as written in a URL or a setting, comparable: `[::1]` -> `::1`, lower case, no trailing dot."""
    return host.strip().removeprefix("[").removesuffix("]").rstrip(".").lower()


def _address(text: str) -> Address | None:
    try:
        address = ipaddress.ip_address(bare_host(text).split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    return address


def _split_allowed(entries: Iterable[str]) -> tuple[frozenset[str], tuple[Network, ...]]:
    names: set[str] = set()
    networks: list[Network] = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(bare_host(entry), strict=False))
        except ValueError:
            names.add(bare_host(entry))
    return frozenset(names), tuple(networks)


@dataclass(frozen=True)
class EgressPolicy:
    """Public addresses only, plus the allow-list: host names, addresses or networks (`10.0.0.0/8`, `[::1]`)."""

    allowed: Sequence[str] = ()
    resolve: Resolver = system_resolve
    _names: frozenset[str] = field(init=False, repr=False)
    _networks: tuple[Network, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        names, networks = _split_allowed(self.allowed)
        object.__setattr__(self, "_names", names)
        object.__setattr__(self, "_networks", networks)

    def admits(self, address: Address) -> bool:
        """True for a globally routable address, or one the allow-list names."""
        return address.is_global or any(address in network for network in self._networks)

    async def addresses(self, host: str, port: int) -> list[str]:
        """The addresses to dial for `host`: checked, in resolver order. A name on the allow-list is dialled as is.

        Raises:
            EgressRefused: the host is, or resolves to, an address the policy refuses.
            OSError: the name does not resolve.
        """
        if bare_host(host) in self._names:
            return [host]
        literal = _address(host)
        resolved = (
            [literal] if literal is not None else [_address(a) for a in await self.resolve(bare_host(host), port)]
        )
        refused = [a for a in resolved if a is None or not self.admits(a)]
        if refused or not resolved:
            # Named without the address: which internal address a name has is itself worth hiding.
            raise EgressRefused(
                f"{bare_host(host)} is or resolves to a private, loopback, link-local or metadata address; "
                "an admin can allow it in ENROLSYNC_ALLOWED_PRIVATE_HOSTS"
            )
        return [str(a) for a in resolved if a is not None]

    async def check(self, host: str, port: int) -> None:
        """Refuse a base URL's host now (when it is saved). A name that does not resolve yet passes: nothing can
        be reached through it, and the connect-time check applies once it does.

        Raises:
            EgressRefused: as `addresses`.
        """
        try:
            await self.addresses(host, port)
        except OSError:
            log.info("egress.unresolved", host=bare_host(host))


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend, dialling only addresses the policy admits (the connect-time check)."""

    def __init__(self, policy: EgressPolicy, inner: httpcore.AsyncNetworkBackend | None = None) -> None:
        self._policy = policy
        self._inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's backend interface
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            async with asyncio.timeout(timeout):
                addresses = await self._policy.addresses(host, port)
        except (EgressRefused, OSError, TimeoutError) as error:
            raise httpcore.ConnectError(type(error).__name__) from error
        failure: Exception = httpcore.ConnectError("no address")
        for address in addresses:
            # The checked address is dialled, not the name again; TLS still verifies the URL's host name.
            try:
                return await self._inner.connect_tcp(address, port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as error:
                failure = error
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's backend interface
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("unix sockets are never dialled")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)
