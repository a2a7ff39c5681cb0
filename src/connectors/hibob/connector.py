"""HiBob as an HR source: full reads, reads by id, and verified webhook events that trigger re-reads."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import aclosing
from datetime import UTC, date, datetime
from typing import Any, ClassVar

import httpx
import structlog

from enrolsync.connectors.base import Capability, ConnectorInfo, Cursor, Rate, ReadRetryPolicy, SourceClass
from enrolsync.connectors.errors import AuthError, ConnectorError
from enrolsync.connectors.hibob.client import HiBobClient
from enrolsync.connectors.hibob.config import HiBobConfig
from enrolsync.connectors.hibob.mapping import (
    decode_cursor,
    encode_cursor,
    events_from_body,
    is_ping,
    omitted,
    to_person,
)
from enrolsync.connectors.hibob.models import Checkpoint, FieldMeta
from enrolsync.connectors.kit.retry import ReadRetry
from enrolsync.connectors.kit.webhooks import hibob_signature
from enrolsync.connectors.model import CheckResult, HrEvent, Page, Person, RawRequest

log = structlog.get_logger("enrolsync.connectors.hibob")


class HiBobSource:
    """Reads people from Bob's `people/search` (everyone in one streamed answer) and `people/{id}`.

    No PERSONS_INCREMENTAL: `people/search` filters only on `root.id`/`root.email` and Bob keeps no change feed
    for employees, so every read is a full one; a cursor only records when the last one was. Webhooks name the
    employees that changed, and their runs read just those (PERSONS_BY_ID).
    """

    info: ClassVar[ConnectorInfo] = ConnectorInfo(
        key="hibob",
        kind="hris",
        title="HiBob",
        config_model=HiBobConfig,
        capabilities=frozenset({Capability.PERSONS_FULL, Capability.PERSONS_BY_ID, Capability.EVENTS}),
        # people/search allows 50 requests a minute (https://apidocs.hibob.com/reference/rate-limiting); a run
        # makes one, a webhook run one per named person. 429 answers are honoured through the kit.
        default_rate=Rate(calls=50, per_seconds=60),
    )

    def __init__(self, config: HiBobConfig, http: httpx.AsyncClient, *, retry: ReadRetryPolicy | None = None) -> None:
        self._config = config
        self._client = HiBobClient(http, config, retry or ReadRetry())

    async def check(self) -> CheckResult:
        """Prove the service user, the field paths and its permission group: every configured field must exist,
        and the first employee read must carry each of them (Bob silently leaves out fields of categories the
        group does not grant). Failures are results naming what to fix, never exceptions."""
        try:
            known = {meta.id: meta for meta in await self._client.fields()}
            unknown = [path for path in self._config.fields.requested() if path not in known]
            if unknown:
                return CheckResult(ok=False, detail=f"HiBob has no field(s) {', '.join(unknown)} in this account")
            async with aclosing(self._client.search()) as employees:
                first = await anext(employees, None)
        except AuthError as exc:
            return CheckResult(ok=False, detail=f"HiBob refused the service user (check its ID and token): {exc}")
        except ConnectorError as exc:
            return CheckResult(ok=False, detail=f"HiBob check failed: {exc}")
        if first is None:
            return CheckResult(
                ok=False,
                detail="HiBob returned no employees: give the service user's permission group access to people",
            )
        missing = omitted(first, self._config.fields.requested())
        if missing:
            return CheckResult(ok=False, detail=_permission_advice(missing, known))
        return CheckResult(ok=True, detail="HiBob reachable; service user sees every configured field")

    def read_persons(self, since: Cursor | None) -> AsyncIterator[Page[Person]]:
        """Everyone, active and inactive, in pages of `page_size`; a cursor (validated) reads everyone too.

        The last page carries the checkpoint. Raises `Invalid` for a cursor this connector did not make,
        `AuthError` when the service user cannot see the status fields (leavers would read as active),
        `TransientError`/`PermanentError` otherwise."""
        if since is not None:
            decode_cursor(since)
        return self._read_all()

    async def read_people(self, hr_ids: Sequence[str]) -> AsyncIterator[Page[Person]]:
        """One `people/{id}` call per id (search takes one filter but counts against a 50/min budget too);
        ids Bob does not know (deleted) come back in `removed`."""
        for hr_id in dict.fromkeys(hr_ids):
            employee = await self._client.read_one(hr_id)
            person = self._person(employee, self._today()) if employee is not None else None
            if person is None or person.hr_id != hr_id:
                yield Page(items=(), removed=(hr_id,))
            else:
                yield Page(items=(person,))

    def parse_event(self, request: RawRequest) -> list[HrEvent]:
        """Verify `Bob-Signature` (HMAC-SHA512 of the raw body, base64 or hex), then name the employee the
        event is about. Raises `AuthError`/`Invalid`.

        Bob's "Ping test" when a webhook is saved gives no event and is answered 2xx signed or not: whether Bob
        signs it is not documented, it names nobody, stores nothing and starts no run, and refusing it would
        make Bob refuse the webhook."""
        if is_ping(request.body):
            return []
        secret = self._config.webhook_secret
        if secret is None:
            raise AuthError("no webhook secret is configured for this connection")
        header = next((v for k, v in request.headers.items() if k.lower() == "bob-signature"), None)
        hibob_signature(secret=secret.get_secret_value(), body=request.body, header=header)
        return events_from_body(request.body)

    async def _read_all(self) -> AsyncIterator[Page[Person]]:
        size = self._config.page_size
        items: list[Person] = []
        today: date | None = None
        async with aclosing(self._client.search()) as employees:
            async for employee in employees:
                today = today or self._today()
                person = self._person(employee, today)
                if person is not None:
                    items.append(person)
                if len(items) >= size:
                    yield Page(items=tuple(items))
                    items = []
        read_at = self._client.last_server_time or datetime.now(UTC)
        checkpoint = encode_cursor(Checkpoint(full_read_at=read_at.isoformat()))
        yield Page(items=tuple(items), checkpoint=checkpoint)

    def _person(self, employee: dict[str, Any], today: date) -> Person | None:
        paths = self._config.fields
        hidden = omitted(employee, paths.status_paths())
        if hidden and len(hidden) == len(paths.status_paths()):
            raise AuthError(
                f"the service user cannot see {', '.join(hidden)}: leavers would read as active; grant its "
                "permission group the category of these fields"
            )
        person = to_person(employee, self._config, today=today)
        if person is None:
            log.warning("hibob.employee_without_id", field=paths.hr_id)
        return person

    def _today(self) -> date:
        return (self._client.last_server_time or datetime.now(UTC)).date()


def _permission_advice(missing: Sequence[str], known: dict[str, FieldMeta]) -> str:
    by_category: dict[str, list[str]] = {}
    for path in missing:
        by_category.setdefault(known[path].category_label(), []).append(path)
    named = "; ".join(f"{category} ({', '.join(paths)})" for category, paths in sorted(by_category.items()))
    return (
        "HiBob leaves out fields the service user may not see: in Bob, give its permission group 'View' access "
        f"to these categories: {named}"
    )


# The contract, checked: mypy fails here when a method or the constructor drifts from `SourceConnector`.
_contract: SourceClass = HiBobSource
