"""SAP SuccessFactors (Employee Central) as an HR source: full, incremental and by-id reads over OData v2."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any, ClassVar

import httpx

from enrolsync.connectors.base import Capability, ConnectorInfo, Cursor, Rate, ReadRetryPolicy, SourceClass
from enrolsync.connectors.errors import AuthError, ConnectorError, Invalid
from enrolsync.connectors.kit.clock import SYSTEM_CLOCK, Clock
from enrolsync.connectors.kit.instants import format_instant, parse_instant
from enrolsync.connectors.kit.retry import ReadRetry
from enrolsync.connectors.model import CheckResult, HrEvent, Page, Person, RawRequest
from enrolsync.connectors.successfactors.client import SuccessFactorsClient
from enrolsync.connectors.successfactors.config import SuccessFactorsConfig
from enrolsync.connectors.successfactors.mapping import (
    USER_STATUSES,
    Bundle,
    Record,
    any_of,
    changed_after,
    decode_cursor,
    encode_cursor,
    is_main,
    midnight,
    nested,
    text,
    to_person,
)
from enrolsync.connectors.successfactors.models import Checkpoint

CHUNK = 100
"""Ids per `in` filter: keeps each URL far below the ~8 KB SF's gateway takes."""
JOB_FIELDS = ("startDate", "endDate", "seqNumber", "department", "jobTitle", "location", "managerId", "emplStatus")
EVER = "1900-01-01"
"""`fromDate` that makes effective-dated entities answer every segment, past and future (SAP KBA 2723468)."""
_SCANS: tuple[tuple[str, str, bool], ...] = (
    # entity, the id it names (a person id or a user id), effective-dated (asks every segment)
    ("EmpEmployment", "personIdExternal", False),
    ("EmpJob", "userId", True),
    ("PerPerson", "personIdExternal", False),
    ("PerPersonal", "personIdExternal", True),
    ("PerEmail", "personIdExternal", False),
    ("User", "userId", False),
)


def _employment_key(record: Record) -> str:
    return f"{record.get('personIdExternal')}|{record.get('userId')}"


class SuccessFactorsSource:
    """Reads Employee Central employments (with their job history), persons and users; `hr_id` is the person's
    `personIdExternal`. No webhooks: SF has none for this (Intelligent Services would need an integration of its
    own), so changes come from incremental reads."""

    info: ClassVar[ConnectorInfo] = ConnectorInfo(
        key="successfactors",
        kind="hris",
        title="SAP SuccessFactors",
        config_model=SuccessFactorsConfig,
        capabilities=frozenset({Capability.PERSONS_FULL, Capability.PERSONS_INCREMENTAL, Capability.PERSONS_BY_ID}),
        # SF publishes no OData budget for EC (suite-wide limits were announced, then postponed: KBA 3308165);
        # stay modest, and a 429 pauses the connection.
        default_rate=Rate(calls=10, per_seconds=1),
        max_concurrency=2,
    )

    def __init__(
        self,
        config: SuccessFactorsConfig,
        http: httpx.AsyncClient,
        *,
        retry: ReadRetryPolicy | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._config = config
        self._client = SuccessFactorsClient(http, config, retry or ReadRetry(), clock)
        self._managers: dict[str, str] = {}  # userId -> personIdExternal, learnt while reading

    async def check(self) -> CheckResult:
        """Authenticate, then read one record of each entity a read needs, as a read asks for it. Refused
        credentials give `ok=False` naming the way of signing in; a refused entity names the permission to grant;
        both carry SuccessFactors' own message."""
        how = "the SAML assertion or OAuth client" if self._config.auth == "oauth_saml" else "user@company and password"
        try:
            await self._client.probe()
        except AuthError as exc:
            if exc.status == 403:  # signed in, not allowed
                return CheckResult(ok=False, detail=f"SuccessFactors refused reading User: grant the API user "
                                   f"User Account OData API: {exc}")  # fmt: skip
            return CheckResult(ok=False, detail=f"SuccessFactors refused {how}: {exc}")
        except ConnectorError as exc:
            return CheckResult(ok=False, detail=f"SuccessFactors check failed: {exc}")
        today = await self._today()
        probes = (
            ("EmpEmployment", self._employment_params(today), "Employee Central HRIS OData API, Job Information"),
            ("PerPerson", {**self._person_params(), "$top": "1"}, "Personal Information and Email Information"),
        )
        for entity, params, permission in probes:
            try:
                await self._client.records(entity, {**params, "$top": "1"}, key=_record_key(entity))
            except AuthError as exc:
                return CheckResult(
                    ok=False, detail=f"SuccessFactors refused reading {entity}: grant the API user {permission}: {exc}"
                )
            except ConnectorError as exc:
                return CheckResult(ok=False, detail=f"SuccessFactors check failed reading {entity}: {exc}")
        return CheckResult(ok=True, detail="SuccessFactors reachable; credentials and read permissions accepted")

    def read_persons(self, since: Cursor | None) -> AsyncIterator[Page[Person]]:
        """Everyone (active, on leave, terminated, future hires) when `since` is None or resumes a full read; else
        the people whose records changed since, or whose job segments took effect since. Raises `Invalid` for a
        cursor this connector did not make, `PermanentError` when SF repeats or skips a page."""
        checkpoint = None if since is None else decode_cursor(since)
        if checkpoint is None or checkpoint.next is not None:
            return self._read_full(checkpoint)
        return self._read_changes(checkpoint)

    async def read_people(self, hr_ids: Sequence[str]) -> AsyncIterator[Page[Person]]:
        """The named people (`personIdExternal`); ids SF does not know (purged) come back in `removed`."""
        wanted = list(dict.fromkeys(hr_ids))
        for chunk in _chunks(wanted, min(CHUNK, self._config.page_size)):
            params = self._employment_params(await self._today(), any_of("personIdExternal", chunk))
            found = await self._client.records("EmpEmployment", params, key=_employment_key)
            persons = await self._complete(found)
            known = {p.hr_id for p in persons}
            yield Page(items=tuple(persons), removed=tuple(h for h in chunk if h not in known))

    def parse_event(self, request: RawRequest) -> list[HrEvent]:
        raise AuthError("SuccessFactors sends no webhooks to enrolsync; changes are read incrementally")

    # -- reads ----------------------------------------------------------------------------------------------
    async def _today(self) -> date:
        """The server's day: effective dating is SF's calendar, not ours (one small request if no answer yet)."""
        if self._client.last_server_time is None:
            await self._client.probe()
        return (self._client.last_server_time or datetime.now(UTC)).date()

    def _employment_params(self, today: date, where: str | None = None) -> dict[str, str]:
        jobs = [*JOB_FIELDS, *self._config.custom.values()]
        select = [
            "personIdExternal",
            "userId",
            "startDate",
            "endDate",
            *(f"jobInfoNav/{f}" for f in dict.fromkeys(jobs)),
        ]
        params = {
            "$select": ",".join(select),
            "$expand": "jobInfoNav",
            # Segments from yesterday on: the one in force today (whatever the tenant's time zone) and future ones,
            # so a future hire, move or termination is seen before it takes effect.
            "fromDate": (today - timedelta(days=1)).isoformat(),
            "customPageSize": str(self._config.page_size),
        }
        if where:
            params["$filter"] = where
        return params

    @staticmethod
    def _person_params() -> dict[str, str]:
        personal = ("startDate", "endDate", "firstName", "lastName", "preferredName")
        select = ["personIdExternal", *(f"personalInfoNav/{f}" for f in personal)]
        select += ["emailNav/emailAddress", "emailNav/isPrimary"]
        return {"$select": ",".join(select), "$expand": "personalInfoNav,emailNav"}

    async def _read_full(self, resume: Checkpoint | None) -> AsyncIterator[Page[Person]]:
        started = parse_instant(resume.started) if resume else None
        pages = self._client.pages(
            "EmpEmployment", self._employment_params(await self._today()), key=_employment_key,
            resume=resume.next if resume else None, seen=resume.seen if resume else 0,
            total=resume.total if resume else None,
        )  # fmt: skip
        seen = resume.seen if resume else 0
        async for page in pages:
            started = started or page.server_time or datetime.now(UTC)
            seen += len(page.records)
            items = tuple(await self._complete(page.records))
            if page.next_url:
                checkpoint = Checkpoint(
                    next=page.next_url, started=format_instant(started), seen=seen, total=page.count
                )
            else:
                checkpoint = Checkpoint(since=format_instant(started), as_of=started.date().isoformat())
            yield Page(items=items, checkpoint=encode_cursor(checkpoint))

    async def _read_changes(self, resume: Checkpoint) -> AsyncIterator[Page[Person]]:
        since = parse_instant(resume.since)
        as_of = date.fromisoformat(resume.as_of) if resume.as_of else None
        if since is None or as_of is None:
            raise Invalid("not a SuccessFactors cursor: unreadable since")
        person_ids, user_ids, now = await self._changed(since, as_of)
        person_ids |= set((await self._person_ids(user_ids)).values())
        final = encode_cursor(Checkpoint(since=format_instant(now), as_of=now.date().isoformat()))
        # One page held back, so the last carries the final checkpoint; a read cut short resumes from the same
        # `since` (what it re-reads is applied idempotently). Removed ids are dropped: an id a change names but
        # no employment has is not a person of ours.
        held: Page[Person] = Page(items=())
        async for page in self.read_people(sorted(person_ids)):
            if held.items:
                yield Page(items=held.items, checkpoint=encode_cursor(resume))
            held = page
        yield Page(items=held.items, checkpoint=final)

    async def _changed(self, since: datetime, as_of: date) -> tuple[set[str], set[str], datetime]:
        """Person ids and user ids named by records modified after `since` (the server's `Date` at the last read,
        rounded down to the second, so nothing in that second is lost), and user ids whose job segments took effect
        after `as_of` (future-dated changes that nobody touched since, e.g. a termination entered last month); and
        the server's time at the first answer, where the next incremental read begins."""
        started: datetime | None = None
        persons: set[str] = set()
        users: set[str] = set()
        after = changed_after("lastModifiedDateTime", since)
        for entity, prop, dated in _SCANS:
            where = after + (f" and {any_of('status', USER_STATUSES)}" if entity == "User" else "")
            params = {
                "$filter": where,
                "$select": prop,
                "customPageSize": "1000",
                **({"fromDate": EVER} if dated else {}),
            }
            found = await self._client.records(entity, params, key=_record_key(entity))
            started = started or self._client.last_server_time
            (users if prop == "userId" else persons).update(v for r in found if (v := text(r.get(prop))))
        started = started or datetime.now(UTC)
        today = started.date()
        if today > as_of:
            window = f"startDate gt {midnight(as_of)} and startDate le {midnight(today)}"
            params = {"$filter": window, "$select": "userId", "fromDate": as_of.isoformat(), "customPageSize": "1000"}
            found = await self._client.records("EmpJob", params, key=_record_key("EmpJob"))
            users.update(v for r in found if (v := text(r.get("userId"))))
        return persons, users, started

    async def _person_ids(self, user_ids: Iterable[str]) -> dict[str, str]:
        """userId -> personIdExternal for these users (cached for the instance: the pairing never changes)."""
        unknown = sorted(set(user_ids) - set(self._managers))
        for chunk in _chunks(unknown, CHUNK):
            params = {"$filter": any_of("userId", chunk), "$select": "personIdExternal,userId"}
            for record in await self._client.records("EmpEmployment", params, key=_employment_key):
                user, person = text(record.get("userId")), text(record.get("personIdExternal"))
                if user and person:
                    self._managers[user] = person
        return {u: self._managers[u] for u in user_ids if u in self._managers}

    async def _complete(self, employments: list[dict[str, Any]]) -> list[Person]:
        """Persons for a page of employments: their users and persons in one request each, their managers' person
        ids learnt as needed."""
        if not employments:
            return []
        for record in employments:
            user, person = text(record.get("userId")), text(record.get("personIdExternal"))
            if user and person:
                self._managers[user] = person
        user_ids = [u for r in employments if (u := text(r.get("userId")))]
        person_ids = [p for r in employments if (p := text(r.get("personIdExternal")))]
        users = await self._by_id("User", "userId", user_ids, {
            "$select": "userId,username,firstName,lastName,email,status,empId",
        }, extra=any_of("status", USER_STATUSES))  # fmt: skip
        persons = await self._by_id("PerPerson", "personIdExternal", person_ids, self._person_params())
        managers = {m for r in employments for j in nested(r, "jobInfoNav") if (m := text(j.get("managerId")))}
        await self._person_ids(managers - {"NO_MANAGER"})
        today = (self._client.last_server_time or datetime.now(UTC)).date()
        out: dict[str, Person] = {}
        for record in employments:
            bundle = Bundle(
                record, users.get(str(record.get("userId"))), persons.get(str(record.get("personIdExternal")))
            )
            found = to_person(bundle, self._config, today=today, managers=self._managers)
            if found is not None and (found.hr_id not in out or is_main(found, over=out[found.hr_id])):
                out[found.hr_id] = found
        return list(out.values())

    async def _by_id(
        self, entity: str, prop: str, ids: list[str], params: Mapping[str, str], extra: str | None = None
    ) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for chunk in _chunks(list(dict.fromkeys(ids)), CHUNK):
            where = any_of(prop, chunk) + (f" and {extra}" if extra else "")
            for record in await self._client.records(entity, {**params, "$filter": where}, key=_record_key(entity)):
                found[str(record.get(prop))] = record
        return found


def _record_key(entity: str) -> Any:
    def key(record: Record) -> str:
        uri = record.get("__metadata", {}).get("uri") if isinstance(record.get("__metadata"), dict) else None
        # Without `__metadata` (never in practice) every record counts as distinct.
        return str(uri) if uri else f"{entity}:{id(record)}"

    return key


def _chunks(values: Sequence[str], size: int) -> Iterable[list[str]]:
    return (list(values[i : i + size]) for i in range(0, len(values), size))


# The contract, checked: mypy fails here when a method or the constructor drifts from `SourceConnector`.
_contract: SourceClass = SuccessFactorsSource
