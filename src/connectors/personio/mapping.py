"""Pure conversions: persons + employments -> `Person`, webhook envelopes -> `HrEvent`, checkpoints <-> cursors.

Status, as Personio models it (https://developer.personio.de/reference/get_v2-persons-person-id-employments):
an employment is `ACTIVE`, `LEAVE`, `ONBOARDING` (hired, not started yet) or `INACTIVE` (ended). The person's
state is that of their current employment: the one not ended, latest start first; a person whose employments
have all ended is terminated. ONBOARDING reads as active with its future hire date (the engine's lead time
decides when to provision); a termination dated ahead stays active until Personio flips the status. A person
deleted in Personio is gone from the API: full reads no longer yield them, by-id reads name them in `removed`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from datetime import date

from pydantic import ValidationError

from enrolsync.connectors.base import Cursor
from enrolsync.connectors.errors import Invalid
from enrolsync.connectors.kit.instants import parse_instant
from enrolsync.connectors.model import HrEvent, HrEventKind, Person, PersonStatus
from enrolsync.connectors.personio.config import PersonioConfig
from enrolsync.connectors.personio.models import Checkpoint, EmploymentWire, PersonWire, WebhookEnvelope

_STATUS = {
    "ACTIVE": PersonStatus.ACTIVE,
    "ONBOARDING": PersonStatus.ACTIVE,
    "LEAVE": PersonStatus.LEAVE,
    "INACTIVE": PersonStatus.TERMINATED,
}
_CURRENT = ("ACTIVE", "LEAVE", "ONBOARDING")


def clean(value: object) -> str | None:
    if value is None:
        return None
    text = (", ".join(str(v) for v in value) if isinstance(value, list) else str(value)).strip()
    return text or None


def parse_date(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value[:10]) if value else None
    except ValueError:
        return None


def current_employment(employments: Sequence[EmploymentWire]) -> EmploymentWire | None:
    """The employment that decides: a current one (latest start first), else the latest that ended."""

    def start(employment: EmploymentWire) -> date:
        return parse_date(employment.employment_start_date) or date.min

    current = [e for e in employments if (e.status or "").upper() in _CURRENT]
    pool = current or list(employments)
    return max(pool, key=start) if pool else None


def person_status(person: PersonWire, employment: EmploymentWire | None) -> PersonStatus:
    if employment is not None and (employment.status or "").upper() in _STATUS:
        return _STATUS[(employment.status or "").upper()]
    # No employment (or an unknown state): the person's own ACTIVE/INACTIVE decides.
    return PersonStatus.TERMINATED if (person.status or "").upper() == "INACTIVE" else PersonStatus.ACTIVE


def to_person(person: PersonWire, employments: Iterable[EmploymentWire], config: PersonioConfig) -> Person:
    employment = current_employment(list(employments))
    attributes = {attribute.id: clean(attribute.value) for attribute in person.custom_attributes}
    custom = {key: value for key, attr in config.custom.items() if (value := attributes.get(attr)) is not None}
    supervisor = employment.supervisor.id if employment and employment.supervisor else None
    termination = employment.termination if employment else None
    return Person(
        hr_id=person.id,
        given_name=clean(person.first_name) or "",
        family_name=clean(person.last_name) or "",
        work_email=clean(person.email),
        username=attributes.get(config.username_attribute) if config.username_attribute else None,
        status=person_status(person, employment),
        job_title=clean(employment.position.title) if employment and employment.position else None,
        manager_hr_id=supervisor if supervisor != person.id else None,
        hire_date=parse_date(employment.employment_start_date) if employment else None,
        termination_date=parse_date(termination.termination_date) if termination else None,
        custom=custom,
    )


_PERSON_KINDS = {"person.created": HrEventKind.CREATED, "person.deleted": HrEventKind.DELETED}


def events_from_body(body: bytes) -> list[HrEvent]:
    """HR events named by a verified webhook body. person.* and employment.* name a person; other families
    (absences, attendances, documents) share the endpoint and name none. Raises `Invalid`."""
    try:
        envelope = WebhookEnvelope.model_validate_json(body)
    except ValidationError as exc:
        raise Invalid("webhook body is not Personio's envelope (company_id, event_name, occurred_at, payload)") from exc
    family = envelope.event_name.split(".", 1)[0]
    if family not in ("person", "employment"):
        return []
    hr_id = _person_id(family, envelope.payload)
    if hr_id is None:
        raise Invalid(f"{envelope.event_name} payload names no person")
    canonical = json.dumps(envelope.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return [
        HrEvent(
            # Personio sends no event id: hash the envelope so a redelivery (up to 14 tries) de-duplicates.
            event_id="personio-" + hashlib.sha256(canonical.encode()).hexdigest()[:40],
            kind=_PERSON_KINDS.get(envelope.event_name, HrEventKind.UPDATED),
            hr_id=hr_id,
            occurred_at=parse_instant(envelope.occurred_at),
        )
    ]


def _person_id(family: str, payload: dict[str, object]) -> str | None:
    person = payload.get("person")
    if isinstance(person, dict) and person.get("id") is not None:
        return str(person["id"])
    for key in ("person_id", *(("id",) if family == "person" else ())):
        if payload.get(key) is not None:
            return str(payload[key])
    return None


def encode_cursor(checkpoint: Checkpoint) -> Cursor:
    return Cursor(checkpoint.model_dump_json(exclude_none=True))


def decode_cursor(cursor: str) -> Checkpoint:
    """Parse a cursor this connector made. Raises `Invalid` for anything else."""
    try:
        checkpoint = Checkpoint.model_validate_json(cursor)
    except ValidationError as exc:
        raise Invalid("not a Personio cursor") from exc
    if (checkpoint.since is None) == (checkpoint.next_href is None):
        raise Invalid("not a Personio cursor: it must hold either since or next_href")
    return checkpoint
