"""Courses, manual enrolments and role assignments for the fake, after moodle/moodle `course/externallib.php`,
`enrol/externallib.php` (core_enrol_external, core_role_external) and `enrol/manual/externallib.php`."""

from __future__ import annotations

from typing import Any

from enrolsync.connectors.moodle.fake.params import coding_error, invalid_parameter, missing_record, moodle_exception
from enrolsync.connectors.moodle.fake.site import FakeRole, SiteState, course_record, user_details
from enrolsync.connectors.moodle.fake.users import Options

STANDARD_ROLES = 8  # ids 1-8 are the roles of a fresh install: their `name` is empty (shown from language strings)
# Without a `userfields` option the roster leaves these out (measured: user_get_user_details in a course context).
_ROSTER_HIDDEN = ("auth", "suspended", "lang")

_LEVELS = ("system", "user", "coursecat", "course", "module", "block")


def get_courses(state: SiteState, params: dict[str, Any], options: Options) -> Any:
    ids = set(params["options"].get("ids") or state.courses)
    return [course_record(state.courses[i]) for i in sorted(ids) if i in state.courses]


def get_enrolled_users(state: SiteState, params: dict[str, Any], options: Options) -> Any:
    course_id = params["courseid"]
    if course_id not in state.courses:
        raise missing_record("course")
    wanted: set[str] | None = None
    for option in params["options"]:
        if option["name"] == "userfields":
            wanted = {f.strip() for f in option["value"].split(",")} | {"id", "fullname"}
    hidden = _ROSTER_HIDDEN if wanted is None else ()
    course = state.courses[course_id]
    users = []
    for user_id in sorted(state.enrolments.users_in(course_id)):
        user = state.live_user(user_id)
        if user is None:
            continue
        details = user_details(state, user)
        details["roles"] = [_roster_role(r) for r in state.course_roles(user_id, course_id)]
        details["enrolledcourses"] = [{"id": course.id, "fullname": course.fullname, "shortname": course.shortname}]
        details["lastcourseaccess"] = state.lastaccess.get((user_id, course_id), 0)
        users.append({k: v for k, v in details.items() if (wanted is None or k in wanted) and k not in hidden})
    return users


def _roster_role(role: FakeRole) -> dict[str, Any]:
    standard = role.id <= STANDARD_ROLES
    return {"roleid": role.id, "name": "" if standard else role.name, "shortname": role.shortname, "sortorder": 0}


def _course_context(state: SiteState, course_id: int) -> None:
    if course_id not in state.courses:
        raise invalid_parameter("Context does not exist")  # external_api::validate_context(false)


def _user_must_exist(state: SiteState, user_id: int) -> None:
    if state.live_user(user_id) is None:
        raise coding_error("User ID does not exist or is deleted!")  # role_assign()


def _enrollable(state: SiteState, user_id: int, options: Options) -> None:
    """4.5 checks the user first (userdeleted, guestsarenotallowed, a missing record); 4.3 fails in role_assign()."""
    user = state.users.get(user_id)
    if options.version.checks_enrol_users:
        if user is None:
            raise missing_record("user")
        if user.deleted:
            raise moodle_exception("userdeleted", "The user has been deleted")
        if user.username == "guest":
            raise moodle_exception("guestsarenotallowed", "The guest user is not allowed to do this")
    _user_must_exist(state, user_id)


def _unenrollable(state: SiteState, user_id: int, options: Options) -> bool:
    """Whether there is an enrolment to remove; 4.3 answers a deleted user with `null` (nothing left to remove)."""
    user = state.users.get(user_id)
    if options.version.checks_enrol_users:
        if user is None:
            raise moodle_exception("invaliduser", "Invalid user")
        if user.deleted:
            raise moodle_exception("userdeleted", "The user has been deleted")
        return True
    if user is None:
        raise invalid_parameter(f"User id not exist: {user_id}")
    return not user.deleted


def enrol_users(state: SiteState, params: dict[str, Any], options: Options) -> Any:
    for e in params["enrolments"]:
        _course_context(state, e["courseid"])
        role = state.roles.get(e["roleid"])
        if role is None or "course" not in role.levels:
            message = (
                f"You don't have the permission to assign this role ({e['roleid']}) to this user ({e['userid']}) "
                f"in this course({e['courseid']})."
            )
            raise moodle_exception("wsusercannotassign", message)
        if not state.courses[e["courseid"]].manual_instance:
            raise moodle_exception(
                "wsnoinstance",
                f"Manual enrolment plugin instance doesn't exist or is disabled for the course (id = {e['courseid']})",
            )
        _enrollable(state, e["userid"], options)
        # Re-enrolling updates the enrolment: effectively an upsert.
        state.enrolments[(e["userid"], e["courseid"])] = {"status": 1 if e.get("suspend") else 0}
        state.assignments.add((role.id, e["userid"], "course", e["courseid"]))
    return None


def unenrol_users(state: SiteState, params: dict[str, Any], options: Options) -> Any:
    for e in params["enrolments"]:
        course = state.courses.get(e["courseid"])
        if course is None:
            raise missing_record("course")
        if not course.manual_instance:
            raise moodle_exception("wsnoinstance", "Manual enrolment plugin instance doesn't exist")
        if not _unenrollable(state, e["userid"], options):
            continue
        state.enrolments.pop((e["userid"], e["courseid"]), None)
        # enrol_plugin::unenrol_user() also forgets the user's last access to the course.
        state.lastaccess.pop((e["userid"], e["courseid"]), None)
        # The last enrolment gone, unenrol_user() also removes every role the user held in the course.
        held = state.assignments.roles_at(e["userid"], "course", e["courseid"])
        state.assignments.difference_update((role, e["userid"], "course", e["courseid"]) for role in held)
    return None


def _context(state: SiteState, entry: dict[str, Any]) -> tuple[str, int]:
    if entry.get("contextid"):
        found = state.context_by_id(entry["contextid"])
        if found is None:
            raise invalid_parameter("Context does not exist")
        return found
    if entry.get("contextlevel") and "instanceid" in entry:
        if entry["contextlevel"] not in _LEVELS:
            raise invalid_parameter(f"Invalid context level = {entry['contextlevel']}")
        if not state.context_exists(entry["contextlevel"], entry["instanceid"]):
            raise invalid_parameter("Context does not exist")
        return entry["contextlevel"], entry["instanceid"]
    raise invalid_parameter("Missing parameters, please provide either context level with instance id or contextid")


def _role_changes(state: SiteState, entries: list[dict[str, Any]], verb: str) -> list[tuple[int, int, str, int]]:
    changes = []
    for entry in entries:
        level, instance = _context(state, entry)
        role = state.roles.get(entry["roleid"])
        if role is None or level not in role.levels:
            context_id = state.context_id(level, instance)
            raise invalid_parameter(f"Can not {verb} roleid={entry['roleid']} in contextid={context_id}")
        _user_must_exist(state, entry["userid"])
        changes.append((role.id, entry["userid"], level, instance))
    return changes


def assign_roles(state: SiteState, params: dict[str, Any], options: Options) -> Any:
    state.assignments.update(_role_changes(state, params["assignments"], "assign"))  # role_assign() is idempotent
    return None


def unassign_roles(state: SiteState, params: dict[str, Any], options: Options) -> Any:
    state.assignments.difference_update(_role_changes(state, params["unassignments"], "unassign"))
    return None
