"""Why a person is in the state they are, in a code and in words: the answer to "why has Jane no account?".

Derived from the same status the people view computes (`people.link_status`), so it never disagrees with what
the next run would plan. The codes are stable (documented in `schemas_people.SITUATION_CODES`); the words may
improve.
"""

from __future__ import annotations

from datetime import date

from enrolsync.api.people import LinkStatus
from enrolsync.api.schemas_people import SituationCode
from enrolsync.connectors.model import Person, PersonStatus
from enrolsync.sync.rules.desired import DesiredState
from enrolsync.sync.rules.evaluate import is_leaver
from enrolsync.sync.rules.policy import LeaverPolicy, Policies, UnmatchedPolicy
from enrolsync.sync.store.tables import Link


def situation(link: Link, status: LinkStatus, policies: Policies, today: date) -> tuple[SituationCode, str]:
    """The person's situation: a code and a sentence saying why, first problems, then lifecycle, then sync."""
    person, desired = status.person, status.desired
    if person is None:
        return "unreadable_record", status.desired_error or "the stored HR record cannot be read"
    if status.desired_error is not None:
        return "invalid_hr_data", status.desired_error
    if link.gone_at is not None:
        return "gone_from_hr", (
            f"the HR system has not returned this person since {link.gone_at.date().isoformat()} (deleted there): "
            "treated as a leaver until it shows them again"
        )
    if link.last_error is not None and link.last_error.startswith("matching conflict"):
        return "matching_conflict", f"{link.last_error}; skipped until the accounts on the target are told apart"
    if link.last_error is not None:
        return "failed", f"the last run failed for this person: {link.last_error}"
    if status.awaiting_start:
        start = person.hire_date.isoformat() if person.hire_date else "their start date"
        lead = policies.provision_days_before_start
        return "awaiting_start", f"a future hire: provisioned {lead} days before starting on {start}"
    if desired is None and policies.leaver is LeaverPolicy.DELETE:
        if link.account_id is not None:
            return "leaver_deleted", "a leaver under the leaver policy `delete`: the next run deletes the account"
        return "leaver_deleted", "a leaver under the leaver policy `delete`: no account is kept for them"
    if desired is None:
        return "not_managed", "a leaver under the leaver policy `ignore`: the account is left as it is"
    return _lifecycle(link, person, desired, len(status.pending), policies, today)


def _lifecycle(
    link: Link, person: Person, desired: DesiredState, pending: int, policies: Policies, today: date
) -> tuple[SituationCode, str]:
    if not desired.active and person.status is PersonStatus.LEAVE and not is_leaver(person, today):
        if link.account_id is None:
            return "on_leave_suspended", "on leave under the `suspend` policy: provisioned when they return"
        return "on_leave_suspended", "on leave under the `suspend` policy: the account is suspended until they return"
    if not desired.active:
        if link.account_id is None:
            return "left_before_provisioning", "left before an account was made for them: no account is created"
        return "leaver", "a leaver: the account is suspended; their training records stay"
    if link.account_id is None and not pending and policies.unmatched is UnmatchedPolicy.IGNORE:
        return "not_provisioned", "no account matched, and the pipeline does not provision (`unmatched: ignore`)"
    if pending:
        return "pending", f"the next run has {pending} operations for this person"
    return "in_sync", "the target holds what the rules want"
