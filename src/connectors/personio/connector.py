"""Personio as an HR source: full, incremental and by-id person reads (v2 API), and token-checked webhooks."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import ClassVar

import httpx

from enrolsync.connectors.base import Capability, ConnectorInfo, Cursor, Rate, ReadRetryPolicy, SourceClass
from enrolsync.connectors.errors import AuthError, ConnectorError, Invalid
from enrolsync.connectors.kit.clock import SYSTEM_CLOCK, Clock
from enrolsync.connectors.kit.instants import format_instant, parse_instant
from enrolsync.connectors.kit.retry import ReadRetry
from enrolsync.connectors.kit.webhooks import static_token
from enrolsync.connectors.model import CheckResult, HrEvent, Page, Person, RawRequest
from enrolsync.connectors.personio.client import PersonioClient
from enrolsync.connectors.personio.config import PersonioConfig
from enrolsync.connectors.personio.mapping import (
    decode_cursor,
    encode_cursor,
    events_from_body,
    to_person,
)
from enrolsync.connectors.personio.models import Checkpoint, PersonWire

# Checkpoints take the server's `Date` header, which is whole seconds rounded down: a change in the second a read
# starts is newer than it (`updated_at.gt` is strict) and read next time; our own clock's skew never matters.


class PersonioSource:
    """Reads persons and their employments from Personio's v2 API with OAuth2 client credentials.

    One token per connector instance (a run): fetched on the first request, reused until shortly before it
    expires, refreshed once on a 401. The caller's client needs no Personio knowledge.
    """

    info: ClassVar[ConnectorInfo] = ConnectorInfo(
        key="personio",
        kind="hris",
        title="Personio",
        config_model=PersonioConfig,
        capabilities=frozenset(
            {Capability.PERSONS_FULL, Capability.PERSONS_INCREMENTAL, Capability.PERSONS_BY_ID, Capability.EVENTS}
        ),
        # v2 limits per endpoint are not published (https://developer.personio.de/docs/rate-limits); v1's
        # employee reads allow 300/min. Stay well below; a 429 + Retry-After pauses the connection.
        default_rate=Rate(calls=120, per_seconds=60),
    )

    def __init__(
        self,
        config: PersonioConfig,
        http: httpx.AsyncClient,
        *,
        retry: ReadRetryPolicy | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._config = config
        self._client = PersonioClient(http, config, retry or ReadRetry(), clock)

    @property
    def tokens_fetched(self) -> int:
        """How many access tokens this instance asked for (one per run unless one expired)."""
        return self._client.auth.fetched

    async def check(self) -> CheckResult:
        """Fetch a token and read one person. Wrong credentials or a missing scope give `ok=False`."""
        try:
            await self._client.probe()
        except AuthError as exc:
            return CheckResult(
                ok=False, detail=f"Personio refused the API credential or its scope personio:persons:read: {exc}"
            )
        except ConnectorError as exc:
            return CheckResult(ok=False, detail=f"Personio check failed: {exc}")
        return CheckResult(ok=True, detail="Personio reachable; API credential and persons scope accepted")

    def read_persons(self, since: Cursor | None) -> AsyncIterator[Page[Person]]:
        """Everyone (any status) when `since` is None or resumes a full read; else the persons changed since.

        A full read's pages resume through Personio's own next link; its last page hands over to incremental
        reads from the instant the read began (server clock). Incremental reads ask `updated_at.gt` of persons
        and (unless turned off) of each person's employments. Deletions are not visible to incremental reads:
        webhooks (`person.deleted`) and full reads catch them. Raises `Invalid` for a cursor it did not make.
        """
        checkpoint = None if since is None else decode_cursor(since)
        if checkpoint is None or checkpoint.next_href is not None:
            return self._read_full(checkpoint)
        return self._read_changes(checkpoint)

    def parse_event(self, request: RawRequest) -> list[HrEvent]:
        """Compare `Authorization` with the configured token in constant time (Personio signs nothing:
        https://developer.personio.de/docs/webhooks), then name the person the event is about."""
        token = self._config.webhook_token
        if token is None:
            raise AuthError("no webhook token is configured for this connection")
        headers = {name.lower(): value for name, value in request.headers.items()}
        static_token(expected=token.get_secret_value(), header=headers.get("authorization"))
        return events_from_body(request.body)

    async def read_people(self, hr_ids: Sequence[str]) -> AsyncIterator[Page[Person]]:
        wanted = list(dict.fromkeys(hr_ids))
        size = self._config.page_size
        for chunk in (wanted[i : i + size] for i in range(0, len(wanted), size)):
            items: list[Person] = []
            removed: list[str] = []
            for hr_id in chunk:
                person = await self._client.person(hr_id)
                if person is None:
                    removed.append(hr_id)
                else:
                    items.append(await self._complete(person))
            yield Page(items=tuple(items), removed=tuple(removed))

    async def _read_full(self, resume: Checkpoint | None) -> AsyncIterator[Page[Person]]:
        started = parse_instant(resume.started) if resume else None
        async for page in self._client.persons(start_href=resume.next_href if resume else None):
            started = started or (page.server_time or datetime.now(UTC))
            items = tuple([await self._complete(person) for person in page.persons])
            if page.next_href and page.persons:
                checkpoint = Checkpoint(next_href=page.next_href, started=format_instant(started))
            else:
                checkpoint = Checkpoint(since=format_instant(started))
            yield Page(items=items, checkpoint=encode_cursor(checkpoint))

    async def _read_changes(self, resume: Checkpoint) -> AsyncIterator[Page[Person]]:
        since = parse_instant(resume.since)
        if since is None:
            raise Invalid("not a Personio cursor: unreadable since")
        after = format_instant(since)
        changed: dict[str, PersonWire] = {}
        now: datetime | None = None
        async for page in self._client.persons(filters={"updated_at.gt": after}):
            now = now or page.server_time
            changed.update((person.id, person) for person in page.persons)
        if self._config.scan_employment_changes:
            # Employments are listed per person only, so finding changed ones asks each person once.
            async for page in self._client.persons():
                for person in page.persons:
                    if person.id not in changed and await self._client.employments(person.id, updated_after=after):
                        changed[person.id] = person
        final = encode_cursor(Checkpoint(since=format_instant(now or datetime.now(UTC))))
        people = sorted(changed.values(), key=lambda person: person.id)
        size = self._config.page_size
        chunks = [people[i : i + size] for i in range(0, len(people), size)] or [[]]
        for number, chunk in enumerate(chunks, start=1):
            items = tuple([await self._complete(person) for person in chunk])
            # A read cut short resumes from the same `since`: what it re-reads is applied idempotently.
            yield Page(items=items, checkpoint=final if number == len(chunks) else encode_cursor(resume))

    async def _complete(self, person: PersonWire) -> Person:
        return to_person(person, await self._client.employments(person.id), self._config)


# The contract, checked: mypy fails here when a method or the constructor drifts from `SourceConnector`.
_contract: SourceClass = PersonioSource
