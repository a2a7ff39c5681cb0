"""Workday as an HR source: full, incremental and by-id reads over SOAP Get_Workers or a RaaS custom report."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import aclosing
from datetime import UTC, date, datetime, timedelta
from typing import ClassVar

import httpx

from enrolsync.connectors.base import Capability, ConnectorInfo, Cursor, Rate, ReadRetryPolicy, SourceClass
from enrolsync.connectors.errors import AuthError, ConnectorError, Invalid, PermanentError
from enrolsync.connectors.kit.clock import SYSTEM_CLOCK, Clock
from enrolsync.connectors.kit.instants import format_instant, parse_instant
from enrolsync.connectors.kit.retry import ReadRetry
from enrolsync.connectors.model import CheckResult, HrEvent, Page, Person, RawRequest
from enrolsync.connectors.workday.client import WorkdayClient
from enrolsync.connectors.workday.config import WorkdayConfig
from enrolsync.connectors.workday.mapping import (
    decode_cursor,
    encode_cursor,
    hr_id_of,
    row_to_person,
    worker_to_person,
)
from enrolsync.connectors.workday.models import Checkpoint
from enrolsync.connectors.workday.soap import Window, WorkersPage

REPORT_OVERLAP = timedelta(minutes=5)
"""How far back an incremental RaaS read starts before the last one began: the report is evaluated before its
answer's `Date` is written, so changes entered in between are read again rather than lost (re-reads are harmless)."""


class WorkdaySource:
    """Reads workers from Workday; `hr_id` is the `Employee_ID` (or `Contingent_Worker_ID`). Workday sends no
    webhooks (outbound integrations are built in Workday Studio or EIB), so changes come from incremental reads:
    SOAP asks the transaction log for transactions entered, or taking effect, since the last read; RaaS passes the
    last read's time to the report's `Updated_From` prompt."""

    info: ClassVar[ConnectorInfo] = ConnectorInfo(
        key="workday",
        kind="hris",
        title="Workday",
        config_model=WorkdayConfig,
        capabilities=frozenset({Capability.PERSONS_FULL, Capability.PERSONS_INCREMENTAL, Capability.PERSONS_BY_ID}),
        # Workday publishes no web-service budget; integrations are expected to run few, large requests.
        default_rate=Rate(calls=5, per_seconds=1),
        max_concurrency=2,
    )

    def __init__(
        self,
        config: WorkdayConfig,
        http: httpx.AsyncClient,
        *,
        retry: ReadRetryPolicy | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._config = config
        self._client = WorkdayClient(http, config, retry or ReadRetry(), clock)

    async def check(self) -> CheckResult:
        """One request as a read makes it (a Get_Workers page of one worker, or the report's first row). Refused
        credentials give `ok=False` naming how enrolsync signed in, with Workday's own message."""
        api = "Get_Workers" if self._config.api == "soap" else f"report {self._config.report_name}"
        how = ("the API client's refresh token" if self._config.auth == "oauth_refresh" else
               f"the integration system user {self._config.username}")  # fmt: skip
        try:
            if self._config.api == "soap":
                await self._client.get_workers(page=1, count=1)
            else:
                async with aclosing(self._client.report_rows({})) as rows:
                    async for _ in rows:
                        break
        except AuthError as exc:
            if exc.status == 403:
                return CheckResult(ok=False, detail=f"Workday refused {api}: grant the ISU's security group "
                                   f"Get access to Worker Data (or share the report): {exc}")  # fmt: skip
            return CheckResult(ok=False, detail=f"Workday refused {how}: {exc}")
        except ConnectorError as exc:
            return CheckResult(ok=False, detail=f"Workday check failed ({api}): {exc}")
        return CheckResult(ok=True, detail=f"Workday reachable; {api} answered with these credentials")

    def read_persons(self, since: Cursor | None) -> AsyncIterator[Page[Person]]:
        """Everyone Workday returns as of today (active, on leave, terminated) when `since` is None or resumes a
        full read; else the workers with a transaction entered or taking effect since. Raises `Invalid` for a
        cursor this connector did not make, `PermanentError` when Workday repeats or skips a page."""
        api = self._config.api
        checkpoint = None if since is None else decode_cursor(since, api)
        if checkpoint is None or checkpoint.since is None:
            return self._soap_full(checkpoint) if api == "soap" else self._report_full(checkpoint)
        if api == "soap":
            return self._soap_changes(checkpoint)
        # Without a change prompt the report can only be read whole.
        return self._report_changes(checkpoint) if self._config.updated_from_prompt else self._report_full(None)

    async def read_people(self, hr_ids: Sequence[str]) -> AsyncIterator[Page[Person]]:
        """The named workers by `Employee_ID`; ids Workday does not know (or a rescinded hire) come back in
        `removed`. RaaS has no lookup by id: the report is streamed and filtered."""
        wanted = list(dict.fromkeys(hr_ids))
        if self._config.api == "raas":
            found: list[Person] = []
            async for page in self._report_full(None):
                found.extend(p for p in page.items if p.hr_id in wanted)
            known = {p.hr_id for p in found}
            yield Page(items=tuple(found), removed=tuple(h for h in wanted if h not in known))
            return
        size = self._config.page_size
        for chunk in (wanted[i : i + size] for i in range(0, len(wanted), size)):
            result = await self._client.get_workers(page=1, ids=chunk)
            persons = [p for w in result.workers if (p := worker_to_person(w)) is not None]
            known = {p.hr_id for p in persons}
            yield Page(items=tuple(persons), removed=tuple(h for h in chunk if h not in known))

    def parse_event(self, request: RawRequest) -> list[HrEvent]:
        raise AuthError("Workday sends no webhooks to enrolsync; changes are read incrementally")

    # -- SOAP -----------------------------------------------------------------------------------------------
    async def _pages(
        self, resume: Checkpoint | None, window: Window | None = None
    ) -> AsyncIterator[tuple[WorkersPage, Checkpoint | None]]:
        """Get_Workers pages from page 1 (or a full read's checkpoint), each with the checkpoint after it (None
        after the last). The first page learns Workday's as-of date and entry moment; later pages pin both, so
        the pages are one result set. Raises `PermanentError` when a page repeats a worker or one goes missing."""
        page = resume.page if resume and resume.page else 1
        as_of = date.fromisoformat(resume.as_of) if resume and resume.as_of else None
        entry = parse_instant(resume.entry) if resume else None
        seen, total = (resume.seen, resume.total) if resume else (0, None)
        ids: set[str] = set()
        while True:
            result = await self._client.get_workers(page=page, as_of=as_of, entry=entry, window=window)
            as_of = as_of or result.as_of or (self._client.last_server_time or datetime.now(UTC)).date()
            entry = entry or result.entry or self._client.last_server_time or datetime.now(UTC)
            if result.page not in (0, page) or (total is not None and result.total != total):
                raise PermanentError(f"Workday answered page {result.page} of {result.total} workers when asked "
                                     f"for page {page} of {total}; read stopped")  # fmt: skip
            total = result.total
            for worker in result.workers:
                key = worker.ids.get("WID") or hr_id_of(worker) or ""
                if key in ids:
                    raise PermanentError(f"Workday repeated a page of Get_Workers (worker {hr_id_of(worker)} twice); "
                                         "read stopped")  # fmt: skip
                ids.add(key)
            seen += len(result.workers)
            last = page >= result.pages or not result.workers
            if last and seen != total:
                raise PermanentError(f"Workday paged {seen} workers of the {total} it counted (a page was skipped); "
                                     "read stopped")  # fmt: skip
            after = None if last else Checkpoint(
                api="soap", page=page + 1, entry=entry.isoformat(), as_of=as_of.isoformat(), seen=seen, total=total,
            )  # fmt: skip
            yield result, after
            if last:
                return
            page += 1

    async def _soap_full(self, resume: Checkpoint | None) -> AsyncIterator[Page[Person]]:
        started = parse_instant(resume.entry) if resume else None
        async for result, after in self._pages(resume):
            started = started or result.entry or self._client.last_server_time or datetime.now(UTC)
            persons = tuple(p for w in result.workers if (p := worker_to_person(w)) is not None)
            checkpoint = after or Checkpoint(api="soap", since=started.isoformat())
            yield Page(items=persons, checkpoint=encode_cursor(checkpoint))

    async def _soap_changes(self, resume: Checkpoint) -> AsyncIterator[Page[Person]]:
        """Workers with a transaction entered after `since` (changes made since), then workers with a transaction
        taking effect between `since` and now (future-dated changes reaching their date, entered long ago). "Now"
        is Workday's: one small Get_Workers first learns its entry moment, which bounds both windows, is pinned on
        every page and is where the next read begins. The last page carries the new cursor; earlier ones the old,
        so a read cut short starts over."""
        since = parse_instant(resume.since)
        if since is None:
            raise Invalid("not a Workday cursor: unreadable since")
        probe = await self._client.get_workers(page=1, count=1)
        now = probe.entry or self._client.last_server_time or datetime.now(UTC)
        pinned = Checkpoint(api="soap", page=1, entry=now.isoformat(), as_of=(probe.as_of or now.date()).isoformat())
        held: tuple[Person, ...] = ()
        yielded: set[str] = set()
        for by in ("updated", "effective"):
            async for result, _ in self._pages(pinned, Window(since, now, by)):
                persons = tuple(p for w in result.workers if (p := worker_to_person(w)) and p.hr_id not in yielded)
                yielded.update(p.hr_id for p in persons)
                if held:
                    yield Page(items=held, checkpoint=encode_cursor(resume))
                held = persons
        yield Page(items=held, checkpoint=encode_cursor(Checkpoint(api="soap", since=now.isoformat())))

    # -- RaaS -----------------------------------------------------------------------------------------------
    async def _report_full(self, resume: Checkpoint | None) -> AsyncIterator[Page[Person]]:
        """The whole report in pages of `rows_per_page`; a checkpoint mid-report resumes by skipping the rows
        already yielded (RaaS cannot page: the report is read again from its start)."""
        async for page in self._report(resume, prompts={}, skip=resume.skip or 0 if resume else 0):
            yield page

    async def _report_changes(self, resume: Checkpoint) -> AsyncIterator[Page[Person]]:
        since = parse_instant(resume.since)
        if since is None or self._config.updated_from_prompt is None:
            raise Invalid("not a Workday cursor: unreadable since")
        prompts = {self._config.updated_from_prompt: format_instant(since)}
        async for page in self._report(None, prompts=prompts, skip=0, changes=resume):
            yield page

    async def _report(
        self, resume: Checkpoint | None, *, prompts: dict[str, str], skip: int, changes: Checkpoint | None = None
    ) -> AsyncIterator[Page[Person]]:
        config = self._config
        started = parse_instant(resume.entry) if resume else None
        batch: list[Person] = []
        ids: set[str] = set()
        index = 0
        async with aclosing(self._client.report_rows(prompts)) as rows:
            async for row in rows:
                index += 1
                started = started or self._client.last_server_time or datetime.now(UTC)
                if index <= skip:
                    continue
                person = row_to_person(row, config.fields, config.custom)
                if person is None:
                    continue
                if person.hr_id in ids:
                    raise PermanentError(f"Workday's report lists worker {person.hr_id} twice (a multi-instance "
                                         "field in a worker row?); read stopped")  # fmt: skip
                ids.add(person.hr_id)
                batch.append(person)
                if len(batch) >= config.rows_per_page:
                    mid = changes or Checkpoint(api="raas", skip=index, entry=format_instant(started))
                    yield Page(items=tuple(batch), checkpoint=encode_cursor(mid))
                    batch = []
        started = started or self._client.last_server_time or datetime.now(UTC)
        final = Checkpoint(api="raas", since=format_instant(started - REPORT_OVERLAP))
        yield Page(items=tuple(batch), checkpoint=encode_cursor(final))


# The contract, checked: mypy fails here when a method or the constructor drifts from `SourceConnector`.
_contract: SourceClass = WorkdaySource
