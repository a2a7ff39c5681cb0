"""BambooHR as an HR source: full and incremental person reads, and verified webhook events."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import AsyncIterator, Iterable, Sequence
from datetime import UTC, date, datetime
from typing import ClassVar

import httpx
import structlog

from enrolsync.connectors.bamboohr.client import BambooHRClient, or_filter
from enrolsync.connectors.bamboohr.config import BambooHRConfig
from enrolsync.connectors.bamboohr.mapping import (
    decode_cursor,
    encode_cursor,
    events_from_body,
    to_person,
)
from enrolsync.connectors.bamboohr.models import ChangedEntry, Checkpoint, DatasetRow
from enrolsync.connectors.base import Capability, ConnectorInfo, Cursor, Rate, ReadRetryPolicy, SourceClass
from enrolsync.connectors.errors import AuthError, ConnectorError, Invalid
from enrolsync.connectors.kit.instants import format_instant, parse_instant
from enrolsync.connectors.kit.retry import ReadRetry
from enrolsync.connectors.model import CheckResult, HrEvent, Page, Person, RawRequest

log = structlog.get_logger("enrolsync.connectors.bamboohr")


def _id_order(hr_id: str) -> tuple[int, int, str]:
    return (0, int(hr_id), "") if hr_id.isdigit() else (1, 0, hr_id)


class BambooHRSource:
    """Reads people from BambooHR's `employee` dataset; deltas come from `/employees/changed`.

    The HTTP client is used as given; this connector adds its own Basic auth (API key, `x`) to every request,
    so the caller needs no BambooHR knowledge to build it.
    """

    info: ClassVar[ConnectorInfo] = ConnectorInfo(
        key="bamboohr",
        kind="hris",
        title="BambooHR",
        config_model=BambooHRConfig,
        capabilities=frozenset(
            {Capability.PERSONS_FULL, Capability.PERSONS_INCREMENTAL, Capability.PERSONS_BY_ID, Capability.EVENTS}
        ),
        # BambooHR publishes no budget and throttles with 503 + Retry-After; stay well below what clients report.
        default_rate=Rate(calls=100, per_seconds=60),
    )

    def __init__(
        self, config: BambooHRConfig, http: httpx.AsyncClient, *, retry: ReadRetryPolicy | None = None
    ) -> None:
        self._config = config
        self._client = BambooHRClient(http, config, retry or ReadRetry())

    async def check(self) -> CheckResult:
        """Call both endpoints a read uses. Wrong key, missing permission or unknown field names give `ok=False`."""
        try:
            await self._client.changed_since(datetime.now(UTC))
            probe = await self._client.dataset_probe()
        except AuthError as exc:
            return CheckResult(ok=False, detail=f"BambooHR refused the API key or its access level: {exc}")
        except ConnectorError as exc:
            return CheckResult(ok=False, detail=f"BambooHR check failed: {exc}")
        facts = {"employees": probe.meta.total_items, "dataset": self._config.dataset}
        return CheckResult(ok=True, detail="BambooHR reachable; API key and dataset fields accepted", facts=facts)

    def read_persons(self, since: Cursor | None) -> AsyncIterator[Page[Person]]:
        """Everyone (active and inactive) when `since` is None or resumes a full read; else who changed.

        Each page's checkpoint resumes right after it; the last page of a full read hands over to incremental
        reads from the instant the full read began (server clock). Deleted employees come in `Page.removed`.
        Raises `Invalid` for a cursor this connector did not make, `TransientError`/`PermanentError` otherwise.
        """
        checkpoint = None if since is None else decode_cursor(since)
        if checkpoint is None or checkpoint.full_page is not None:
            return self._read_full(checkpoint)
        return self._read_changes(checkpoint)

    def parse_event(self, request: RawRequest) -> list[HrEvent]:
        """Verify `X-BambooHR-Signature` (hex HMAC-SHA256 of body + timestamp) and the timestamp's age, then
        name the employees the payload mentions. Raises `AuthError` or `Invalid`; pure (no I/O)."""
        self._verify(request)
        return events_from_body(request.body)

    async def _read_full(self, resume: Checkpoint | None) -> AsyncIterator[Page[Person]]:
        size = resume.page_size if resume and resume.page_size else self._config.page_size
        started = parse_instant(resume.started) if resume else None
        # Explicit, so leavers are read whatever the dataset's default scope (future hires are Inactive too).
        everyone = f"{self._config.fields.status} in ('Active','Inactive')"
        start = resume.full_page if resume and resume.full_page else 1
        async for batch in self._client.dataset(where=everyone, page_size=size, start_page=start):
            started = started or batch.server_time or datetime.now(UTC)
            if batch.last:
                checkpoint = Checkpoint(since=format_instant(started))
            else:
                checkpoint = Checkpoint(full_page=batch.page + 1, page_size=size, started=format_instant(started))
            items = self._persons(batch.rows, (batch.server_time or started).date())
            yield Page(items=items, checkpoint=encode_cursor(checkpoint))

    async def _read_changes(self, resume: Checkpoint) -> AsyncIterator[Page[Person]]:
        since = parse_instant(resume.since)
        if since is None:
            raise Invalid("not a BambooHR cursor: unreadable since")
        changes, clock = await self._client.changed_since(since)
        latest = max(since, parse_instant(changes.latest) or since)
        final = encode_cursor(Checkpoint(since=format_instant(latest)))
        entries = sorted(changes.employees.values(), key=lambda entry: _id_order(entry.id))
        removed = tuple(entry.id for entry in entries if entry.action.casefold() == "deleted")
        pending = [e.id for e in entries if e.action.casefold() != "deleted" and not _read_before(e, resume)]
        size = self._config.id_batch_size
        batches = [pending[i : i + size] for i in range(0, len(pending), size)]
        today = (clock or datetime.now(UTC)).date()
        if not batches:
            yield Page(items=(), checkpoint=final, removed=removed)
            return
        for number, ids in enumerate(batches, start=1):
            items: list[Person] = []
            where = or_filter(self._config.fields.hr_id, ids)
            async for batch in self._client.dataset(where=where, page_size=len(ids)):
                items.extend(self._persons(batch.rows, today))
            if number < len(batches):
                mid = Checkpoint(since=resume.since, latest=format_instant(latest), after=ids[-1])
                yield Page(items=tuple(items), checkpoint=encode_cursor(mid))
            else:
                yield Page(items=tuple(items), checkpoint=final, removed=removed)

    async def read_people(self, hr_ids: Sequence[str]) -> AsyncIterator[Page[Person]]:
        wanted = sorted(set(hr_ids), key=_id_order)
        size = self._config.id_batch_size
        for ids in (wanted[i : i + size] for i in range(0, len(wanted), size)):
            items: list[Person] = []
            async for batch in self._client.dataset(
                where=or_filter(self._config.fields.hr_id, ids), page_size=len(ids)
            ):
                items.extend(self._persons(batch.rows, (batch.server_time or datetime.now(UTC)).date()))
            found = {person.hr_id for person in items}
            yield Page(items=tuple(items), removed=tuple(i for i in ids if i not in found))

    def _persons(self, rows: Iterable[DatasetRow], today: date) -> tuple[Person, ...]:
        config = self._config
        persons = [to_person(r.fields, config.fields, leave_statuses=config.leave_statuses, today=today) for r in rows]
        kept = tuple(person for person in persons if person is not None)
        if len(kept) < len(persons):
            log.warning("bamboohr.rows_without_id", skipped=len(persons) - len(kept), field=config.fields.hr_id)
        return kept

    def _verify(self, request: RawRequest) -> None:
        key = self._config.webhook_private_key
        if key is None:
            raise AuthError("no webhook private key is configured for this connection")
        headers = {name.lower(): value for name, value in request.headers.items()}
        signature = headers.get("x-bamboohr-signature", "").strip().lower()
        stamp = headers.get("x-bamboohr-timestamp", "").strip()
        if not signature or not stamp:
            raise AuthError("webhook call without X-BambooHR-Signature and X-BambooHR-Timestamp")
        # https://documentation.bamboohr.com/docs/webhooks: HMAC over the raw body followed by the timestamp.
        expected = hmac.new(key.get_secret_value().encode(), request.body + stamp.encode(), hashlib.sha256)
        if not hmac.compare_digest(expected.hexdigest().encode(), signature.encode("utf-8", "replace")):
            raise AuthError("webhook signature does not match")
        received = request.received_at
        received = received if received.tzinfo else received.replace(tzinfo=UTC)
        if not stamp.isdigit() or abs(received.timestamp() - int(stamp)) > self._config.webhook_tolerance_seconds:
            raise AuthError("webhook timestamp is outside the accepted window (replay?)")


def _read_before(entry: ChangedEntry, resume: Checkpoint) -> bool:
    """Whether an interrupted incremental read already yielded this change (and it has not changed since)."""
    if resume.after is None or _id_order(entry.id) > _id_order(resume.after):
        return False
    changed, read_up_to = parse_instant(entry.last_changed), parse_instant(resume.latest)
    return changed is not None and read_up_to is not None and changed <= read_up_to


# The contract, checked: mypy fails here when a method or the constructor drifts from `SourceConnector`.
_contract: SourceClass = BambooHRSource
