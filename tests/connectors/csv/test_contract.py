"""The shared source contract for the csv connector, its connector built over a real SFTP server on loopback.

The contract's HTTP fault tests (429 with Retry-After, 5xx, timeouts through a fake's transport) have no SFTP
counterpart: an SFTP server answers no statuses. They are replaced by what SFTP can do: an unreachable server is
transient and retried through the injected clock.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from enrolsync.connectors.base import SourceConnector
from enrolsync.connectors.csv import CsvSource
from enrolsync.connectors.csv.config import CsvConfig
from enrolsync.connectors.csv.fake import SftpExportServer
from enrolsync.connectors.errors import TransientError
from enrolsync.connectors.kit.retry import ReadRetry
from enrolsync.connectors.testing.contract import SourceContract
from enrolsync.connectors.testing.fakes import FakeClock
from tests.support.csv_exports import export

IDS = [f"E{n:03d}" for n in range(1, 12)]


class TestCsvContract(SourceContract):
    @pytest.fixture
    def connector_cls(self) -> type[CsvSource]:
        return CsvSource

    @pytest.fixture
    def fake(self, server: SftpExportServer) -> SftpExportServer:
        server.write("exports/people.csv", export(IDS))
        return server

    @pytest.fixture
    def bad_config(self, make_config: Callable[..., CsvConfig]) -> CsvConfig:
        return make_config(username="hr-pw", private_key=None, password="wrong-password-3f9a")

    @pytest.fixture
    def expected_hr_ids(self) -> set[str]:
        return set(IDS)

    @pytest.fixture
    def mutate(self) -> Callable[[SftpExportServer], str]:
        """Not used: without PERSONS_INCREMENTAL the contract skips the checkpoint test (a file has no changes)."""

        def drop_last(server: SftpExportServer) -> str:
            server.write("exports/people.csv", export(IDS[:-1]))
            return IDS[-1]

        return drop_last

    @pytest.fixture
    async def connector(
        self, config: CsvConfig, fake: SftpExportServer, clock: FakeClock
    ) -> AsyncIterator[SourceConnector]:
        async with httpx.AsyncClient() as http:
            yield CsvSource(config, http, retry=ReadRetry(attempts=4, clock=clock))

    @pytest.fixture
    async def bad_connector(self, bad_config: CsvConfig, fake: SftpExportServer) -> AsyncIterator[SourceConnector]:
        async with httpx.AsyncClient() as http:
            yield CsvSource(bad_config, http, retry=ReadRetry(attempts=2, clock=FakeClock()))

    async def test_throttle_is_honoured(self) -> None:  # type: ignore[override]
        pytest.skip("SFTP has no throttling answer (no 429 / Retry-After)")

    async def test_server_errors_are_retried(self) -> None:  # type: ignore[override]
        pytest.skip("SFTP has no 5xx; an unreachable server is retried (test_timeouts_are_transient)")

    async def test_timeouts_are_transient(  # type: ignore[override]
        self, make_config: Callable[..., CsvConfig], clock: FakeClock
    ) -> None:
        config = make_config(url="sftp://127.0.0.1:9/exports/people.csv")
        async with httpx.AsyncClient() as http:
            source = CsvSource(config, http, retry=ReadRetry(attempts=3, clock=clock))
            with pytest.raises(TransientError):
                await self.read_all(source)
        assert len(clock.sleeps) == 2
