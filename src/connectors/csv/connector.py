"""A delimited HR export, read from an SFTP server or from the files uploaded to the API, as an HR source: each file
is one full snapshot of the company."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import AsyncIterator, Iterator, Sequence
from datetime import UTC, date, datetime
from itertools import islice
from pathlib import Path
from typing import ClassVar

import httpx

from enrolsync.connectors.base import Capability, ConnectorInfo, Cursor, ReadRetryPolicy, SourceClass
from enrolsync.connectors.csv import sftp, uploads
from enrolsync.connectors.csv.config import CsvConfig
from enrolsync.connectors.csv.mapping import Layout, to_person
from enrolsync.connectors.csv.parse import SAMPLE_BYTES, Shape, header_of, inspect, records
from enrolsync.connectors.csv.snapshot import Baseline, baseline_of, decode, refusal
from enrolsync.connectors.errors import AuthError, ConnectorError, Invalid
from enrolsync.connectors.kit.retry import ReadRetry, with_retry
from enrolsync.connectors.model import CheckResult, HrEvent, Page, Person, RawRequest, Rejected


class CsvSource:
    """Reads people from a CSV export on an SFTP server (`origin: sftp`) or uploaded to the API (`origin: upload`;
    the engine serves the newest upload through the HTTP client, see `uploads.py`).

    A read copies the file to a private temporary folder, inspects it whole (encoding, delimiter, header,
    record count, a truncated last record) and compares it with the last accepted file (the checkpoint) before
    the first person is yielded: a refused file yields nobody. Then records stream page by page; a record that
    does not map is reported in `Page.rejected` (line, field, reason) and the rest goes through.
    """

    info: ClassVar[ConnectorInfo] = ConnectorInfo(
        key="csv",
        kind="hris",
        title="CSV export (SFTP or upload)",
        config_model=CsvConfig,
        capabilities=frozenset({Capability.PERSONS_FULL}),
        max_concurrency=1,
    )

    def __init__(
        self,
        config: CsvConfig,
        http: httpx.AsyncClient,
        *,
        retry: ReadRetryPolicy | None = None,
        today: date | None = None,
    ) -> None:
        # `http` serves uploaded files (`origin: upload`) from the engine's store; SFTP files do not use it.
        self._config = config
        self._http = http
        self._retry = retry or ReadRetry()
        self._today = today

    async def check(self) -> CheckResult:
        """Find the export and read its header (no download): over SFTP, log in and find the file; for uploads,
        read the newest one. A refused login, an untrusted host key, a missing file or configured columns missing
        from the header give `ok=False` with the reason."""
        config = self._config
        try:
            if config.origin == "upload":
                size, sample = await uploads.probe(self._http, SAMPLE_BYTES)
                where = "the newest upload"
            else:
                found, sample = await sftp.probe(config, SAMPLE_BYTES)
                size, where = found.size, "SFTP reachable; the export"
            Layout.of(header_of(sample, encoding=config.encoding, delimiter=config.delimiter), config)
        except AuthError as error:
            return CheckResult(ok=False, detail=f"SFTP login refused: {error}")
        except ConnectorError as error:
            return CheckResult(ok=False, detail=f"check failed: {error}")
        return CheckResult(ok=True, detail=f"{where} ({size} bytes) has every mapped column")

    def read_persons(self, since: Cursor | None) -> AsyncIterator[Page[Person]]:
        """Everyone in the current file, in pages of `page_size`; every page carries the file's baseline as its
        checkpoint. `since` is the last accepted file's baseline (a snapshot source is handed it on every read).

        Raises:
            Invalid: the file was refused (changed header, sharp drop in rows, unreadable, truncated inside a
                quoted field, over the size cap, configured columns missing) or `since` is not this connector's.
            AuthError, NotFound, PermanentError, TransientError: the SFTP fetch failed.
        """
        last = decode(since) if since else None
        return self._read(last)

    def read_people(self, hr_ids: Sequence[str]) -> AsyncIterator[Page[Person]]:
        """Not a capability (a file has no lookup by id): reads the whole file and keeps the named people."""
        return self._named(set(hr_ids))

    def parse_event(self, request: RawRequest) -> list[HrEvent]:
        """A file export sends no webhooks."""
        raise Invalid("the csv source takes no webhooks")

    async def _named(self, wanted: set[str]) -> AsyncIterator[Page[Person]]:
        seen: set[str] = set()
        async for page in self._read(None):
            items = tuple(p for p in page.items if p.hr_id in wanted)
            seen.update(p.hr_id for p in items)
            if items:
                yield Page(items=items)
        yield Page(items=(), removed=tuple(sorted(wanted - seen)))

    async def _read(self, last: Baseline | None) -> AsyncIterator[Page[Person]]:
        config = self._config
        today = self._today or datetime.now(UTC).date()
        with tempfile.TemporaryDirectory(prefix="enrolsync-csv-") as folder:
            local = Path(folder) / "export"
            await with_retry(lambda: self._fetch(local), self._retry)
            shape = await asyncio.to_thread(inspect, local, encoding=config.encoding, delimiter=config.delimiter)
            reason = refusal(last, shape, config)
            if reason:
                raise Invalid(reason)
            layout = Layout.of(shape.header, config)
            checkpoint = baseline_of(shape, config).encode()
            rows = _data(local, shape)
            first_lines: dict[str, int] = {}
            while True:
                chunk = await asyncio.to_thread(lambda: list(islice(rows, config.page_size)))
                persons: list[Person] = []
                rejected: list[Rejected] = []
                for line, cells in chunk:
                    found = _unique(to_person(line, cells, layout, config, today), line, first_lines)
                    if isinstance(found, Person):
                        persons.append(found)
                    else:
                        rejected.append(found)
                yield Page(items=tuple(persons), rejected=tuple(rejected), checkpoint=checkpoint)
                if len(chunk) < config.page_size:
                    return

    async def _fetch(self, local: Path) -> None:
        if self._config.origin == "upload":
            await uploads.download(self._http, local, self._config.max_file_bytes)
        else:
            await sftp.download(self._config, local)


def _unique(found: Person | Rejected, line: int, first_lines: dict[str, int]) -> Person | Rejected:
    """A second record of the same hr_id is rejected (the first one stands): which one is right is not ours to
    guess. Holds one line number per hr_id, not the records."""
    hr_id = found.hr_id
    if hr_id is None:
        return found
    if hr_id in first_lines:
        return Rejected(line=line, field="hr_id", reason=f"also on line {first_lines[hr_id]}", hr_id=hr_id)
    first_lines[hr_id] = line
    return found


def _data(local: Path, shape: Shape) -> Iterator[tuple[int, list[str]]]:
    rows = records(local, shape.encoding, shape.delimiter)
    next(rows)  # the header
    return rows


_: SourceClass = CsvSource
