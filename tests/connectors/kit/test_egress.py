"""Outbound HTTP reaches only public addresses and the allow-list: checked when dialling, whatever the URL said."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import httpx
import pytest

from enrolsync.api.checking import CHECK_TIMEOUT, check_connection
from enrolsync.connectors.bamboohr import BambooHRSource
from enrolsync.connectors.kit.client import build_client
from enrolsync.connectors.kit.egress import EgressPolicy, EgressRefused
from enrolsync.connectors.memory.config import MemoryConfig
from enrolsync.connectors.registry import Registry
from enrolsync.sync.run.clients import ClientFactory
from enrolsync.sync.store.crypto import SecretBox, generate_key
from enrolsync.sync.store.tables import Connection
from tests.support.dns import PUBLIC, FakeDns


@pytest.fixture
async def http_port() -> AsyncIterator[tuple[int, list[bytes]]]:
    """A loopback server answering every request `200 ok`; yields its port and the requests it saw."""
    seen: list[bytes] = []

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(await reader.readuntil(b"\r\n\r\n"))
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    async with server:
        yield server.sockets[0].getsockname()[1], seen


def _config(url: str) -> MemoryConfig:
    return MemoryConfig(base_url=url, dataset="egress")  # type: ignore[arg-type]


async def test_a_name_that_resolves_to_loopback_is_refused_at_connect_time(http_port: tuple[int, list[bytes]]) -> None:
    port, seen = http_port
    dns = FakeDns({"rebound.example.com": ["127.0.0.1"]})  # passed when saved, resolves to loopback now
    refused = build_client(_config(f"http://rebound.example.com:{port}/"), egress=EgressPolicy(resolve=dns))
    allowed = build_client(_config(f"http://rebound.example.com:{port}/"), egress=EgressPolicy(["127.0.0.1"], dns))

    async with refused, allowed:
        with pytest.raises(httpx.ConnectError):
            await refused.get("/")
        assert seen == []
        assert (await allowed.get("/")).text == "ok"  # the checked address is dialled; the Host header stays
    assert b"Host: rebound.example.com" in seen[0]


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:{port}/", "http://[::ffff:127.0.0.1]:{port}/", "http://localhost:{port}/"]
)
async def test_loopback_is_refused_for_every_spelling_by_default(http_port: tuple[int, list[bytes]], url: str) -> None:
    port, seen = http_port
    dns = FakeDns({"localhost": ["127.0.0.1"]})
    async with build_client(_config(url.format(port=port)), egress=EgressPolicy(resolve=dns)) as http:
        with pytest.raises(httpx.ConnectError):
            await http.get("/")
    assert seen == []


@pytest.mark.parametrize(
    ("allowed", "host", "admitted"),
    [
        (["[::1]"], "::1", True),  # the bracket form of the allow-list works
        (["::1"], "[::1]", True),
        (["10.0.0.0/8"], "10.4.5.6", True),
        (["10.0.0.0/8"], "169.254.169.254", False),
        ([], "169.254.169.254", False),
        ([], "100.100.100.200", False),  # shared address space (a cloud's metadata service)
        ([], "0.0.0.0", False),  # noqa: S104 - the unspecified address, refused
        ([], PUBLIC, True),
    ],
)
async def test_the_allow_list_admits_addresses_and_networks(allowed: list[str], host: str, admitted: bool) -> None:
    policy = EgressPolicy(allowed, FakeDns())
    if admitted:
        await policy.check(host, 443)
    else:
        with pytest.raises(EgressRefused):
            await policy.check(host, 443)


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
async def not_http_port() -> AsyncIterator[int]:
    """An open port that speaks no HTTP (a database, say): it drops whatever it is sent."""

    async def drop(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1)
        writer.close()

    server = await asyncio.start_server(drop, "127.0.0.1", 0)
    async with server:
        yield server.sockets[0].getsockname()[1]


async def test_a_check_does_not_tell_an_open_port_from_a_closed_one(not_http_port: int) -> None:
    box = SecretBox([generate_key()])
    registry = Registry.from_classes(BambooHRSource)
    clients = ClientFactory(egress=EgressPolicy(["127.0.0.1"]))
    details = []
    for port in (not_http_port, _closed_port()):
        config = {"company_domain": "acme", "base_url": f"http://127.0.0.1:{port}/"}
        connection = Connection(name="hr", connector="bamboohr", config=config, secrets=box.encrypt({"api_key": "k"}))
        result = await check_connection(connection, registry=registry, box=box, clients=clients)
        details.append(result.detail)
    assert details[0] == details[1]


async def test_a_check_is_one_attempt_with_a_short_connect_timeout() -> None:
    timeouts: list[dict[str, float]] = []

    def unreachable(request: httpx.Request) -> httpx.Response:
        timeouts.append(request.extensions["timeout"])
        raise httpx.ConnectTimeout("no answer", request=request)

    box = SecretBox([generate_key()])
    config = {"company_domain": "acme", "base_url": "https://hr.example.com/"}
    connection = Connection(name="hr", connector="bamboohr", config=config, secrets=box.encrypt({"api_key": "k"}))
    clients = ClientFactory(transports={"hr.example.com": httpx.MockTransport(unreachable)})

    result = await check_connection(
        connection, registry=Registry.from_classes(BambooHRSource), box=box, clients=clients
    )

    assert result.ok is False and "cannot reach" in result.detail or "no HTTP answer" in result.detail
    assert len(timeouts) == 1  # not retried: an admin is waiting
    assert timeouts[0]["connect"] == CHECK_TIMEOUT.connect <= 3.0
