"""`check()` for a Moodle connection: everything that would make writes fail, found without writing, in one answer.

- the token (`core_webservice_get_site_info`), and the functions of its external service, by feature;
- the system capabilities a least-privilege service user needs (`moodle/user:create`, `moodle/user:update`), by
  calls that change nothing: both functions call require_capability() first, then creating the service user's own
  username is refused as taken and updating user id 0 is skipped (no such user);
- `default_auth` and `auth_plugins` installed on the site (`site.SiteFacts`);
- role ids: conflicts with the site, roles whose id is unknown, the learner role's id (`rolebook.RoleBook`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from enrolsync.connectors.errors import AuthError, ConnectorError, Invalid
from enrolsync.connectors.model import CheckResult
from enrolsync.connectors.moodle.client import MoodleClient
from enrolsync.connectors.moodle.config import MoodleConfig
from enrolsync.connectors.moodle.errors import error_code
from enrolsync.connectors.moodle.models import SiteInfo
from enrolsync.connectors.moodle.rolebook import RoleBook
from enrolsync.connectors.moodle.site import PROBE_USER_ID, SiteFacts

# The functions each capability of the connector calls; the external service must hold them all (README).
FEATURE_FUNCTIONS: dict[str, tuple[str, ...]] = {
    "accounts": (
        "core_webservice_get_site_info",
        "core_user_get_users",
        "core_user_get_users_by_field",
        "core_user_create_users",
        "core_user_update_users",
    ),
    "enrolments": (
        "core_course_get_courses",
        "core_enrol_get_enrolled_users",
        "enrol_manual_enrol_users",
        "enrol_manual_unenrol_users",
        "core_role_unassign_roles",  # unenrolling someone who also teaches the course takes the learner role only
    ),
    "roles": (
        "core_course_get_courses",
        "core_enrol_get_enrolled_users",
        "core_role_assign_roles",
        "core_role_unassign_roles",
        "enrol_manual_enrol_users",
    ),
    # Progress read back (issue 16): read only, on full runs and on the pipeline's progress schedule.
    "progress": (
        "core_course_get_courses",
        "core_enrol_get_enrolled_users",
        "core_completion_get_course_completion_status",
    ),
}
REQUIRED_FUNCTIONS = frozenset(name for names in FEATURE_FUNCTIONS.values() for name in names)
Probe = Callable[[Sequence[Mapping[str, Any]]], Awaitable[object]]


async def check_site(
    client: MoodleClient,
    config: MoodleConfig,
    book: RoleBook,
    facts: SiteFacts,
    learn_roles: Callable[[], Awaitable[None]],
) -> CheckResult:
    """The connection's check. Bad credentials are a failed result, never an exception."""
    try:
        site = await client.site_info()
    except ConnectorError as error:
        return CheckResult(ok=False, detail=f"Moodle refused: {error.reason}")
    names = {f.name for f in site.functions}
    missing = {feature: sorted(set(fns) - names) for feature, fns in FEATURE_FUNCTIONS.items()}
    found: dict[str, Any] = {
        "release": site.release,
        "version": site.version,
        "functions": len(site.functions),
        "site_admin": site.userissiteadmin,
        "missing_functions": {feature: fns for feature, fns in missing.items() if fns},
    }
    problems: list[str] = []
    if any(missing.values()):
        problems.append("the token's service lacks: " + ", ".join(sorted(REQUIRED_FUNCTIONS - names)))
    try:
        lacking = await lacking_capabilities(client, site)
        can_probe = "core_user_update_users" in names and "moodle/user:update" not in lacking
        absent = await facts.absent("auth", [config.default_auth, *config.auth_plugins]) if can_probe else []
        if not missing["roles"] and not missing["enrolments"]:
            await learn_roles()
    except ConnectorError as error:
        return CheckResult(ok=False, detail=f"Moodle refused: {error.reason}", facts=found)
    found |= {"missing_capabilities": lacking, "absent_auth_plugins": absent}
    if lacking:
        problems.append("the token's user lacks the capabilities: " + ", ".join(lacking))
    if absent:
        problems.append("auth plugins not installed on the site (every write naming one fails): " + ", ".join(absent))
    problems += _role_problems(book, found, enrolments=not missing["enrolments"])
    if problems:
        return CheckResult(ok=False, detail="; ".join(problems), facts=found)
    unresolved = found["roles_without_id"]
    detail = "ok" if not unresolved else "ok; roles without a known id: " + ", ".join(unresolved)
    return CheckResult(ok=True, detail=detail, facts=found)


def _role_problems(book: RoleBook, found: dict[str, Any], *, enrolments: bool) -> list[str]:
    unresolved, conflicts = sorted(book.unresolved()), sorted(book.conflicts)
    found |= {"roles_without_id": unresolved, "role_id_conflicts": conflicts}
    if conflicts:
        return ["role_ids contradict Moodle: " + "; ".join(conflicts)]
    if book.learner in unresolved and enrolments:
        return [f"the id of role {book.learner!r} is unknown: set role_ids"]
    return []


async def lacking_capabilities(client: MoodleClient, site: SiteInfo) -> list[str]:
    """System capabilities the token's user lacks (none for a site administrator, who holds them all).
    Course-context capabilities (enrol/manual:enrol, moodle/role:assign) show only on a real write."""
    if site.userissiteadmin or not site.username:
        return []
    itself = {"username": site.username, "firstname": "x", "lastname": "x", "email": "probe@example.invalid"}
    probes: dict[str, tuple[str, Probe, dict[str, Any]]] = {
        "moodle/user:create": ("core_user_create_users", client.create_users, {**itself, "createpassword": 1}),
        "moodle/user:update": ("core_user_update_users", client.update_users, {"id": PROBE_USER_ID}),
    }
    functions = {f.name for f in site.functions}
    lacking: list[str] = []
    for capability, (function, call, user) in probes.items():
        if function not in functions:
            continue
        try:
            await call([user])
        except AuthError as error:
            if error_code(error) != "nopermissions":
                raise
            lacking.append(capability)
        except Invalid:
            pass  # the capability is there: the call went on to refuse the record
    return lacking
