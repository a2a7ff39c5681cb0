"""The test suite's fake Moodle with indexes, so a 100,000-person site answers in constant time per record.

`FakeMoodle` scans every user for each lookup and uniqueness check, scans every role assignment for each roster
entry and deep-copies the whole site before each write (its rollback). That is right for tests of a few records
and quadratic for a benchmark, where the fake would measure itself instead of enrolsync. This subclass answers the
functions a sync calls in bulk from indexes; it checks every record of a call before changing anything, which
gives the same all-or-nothing result without the copy. Parameter validation and answers are the fake's own.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

from enrolsync.connectors.moodle.fake import server as moodle_fake
from enrolsync.connectors.moodle.fake.courses import _role_changes
from enrolsync.connectors.moodle.fake.params import (
    CLEANERS,
    MoodleError,
    coding_error,
    invalid_parameter,
    missing_record,
    moodle_exception,
    parse_php_form,
    validate,
)
from enrolsync.connectors.moodle.fake.server import FakeMoodle
from enrolsync.connectors.moodle.fake.site import (
    AUTH_PLUGINS,
    INTERNAL_AUTHS,
    FakeUser,
    user_details,
)
from enrolsync.connectors.moodle.fake.users import _EMAIL, _PLAIN_FIELDS, _save_custom, get_users

Args = dict[str, Any]


class IndexedMoodle(FakeMoodle):
    """A `FakeMoodle` whose bulk functions use indexes. Accepted calls are counted, not kept (`call_counts`)."""

    def __init__(self, token: str) -> None:
        self.by_username: dict[str, int] = {}
        self.by_email: dict[str, set[int]] = defaultdict(set)  # exact, as get_users_by_field compares
        self.by_email_lower: dict[str, set[int]] = defaultdict(set)  # as the uniqueness check compares
        self.by_idnumber: dict[str, set[int]] = defaultdict(set)
        self.roster: dict[int, set[int]] = defaultdict(set)  # course id -> enrolled user ids
        self.course_roles: dict[tuple[int, int], set[int]] = defaultdict(set)  # (user, course) -> role ids
        self.call_counts: dict[str, int] = defaultdict(int)
        super().__init__(token)
        self._fast: dict[str, Callable[[Args], Any]] = {
            "core_user_get_users": self._get_users,
            "core_user_get_users_by_field": self._get_users_by_field,
            "core_user_create_users": self._create_users,
            "core_user_update_users": self._update_users,
            "core_enrol_get_enrolled_users": self._get_enrolled_users,
            "enrol_manual_enrol_users": self._enrol_users,
            "enrol_manual_unenrol_users": self._unenrol_users,
            "core_role_assign_roles": self._assign_roles,
            "core_role_unassign_roles": self._unassign_roles,
        }

    # -- seeding keeps the indexes ----------------------------------------------------------------------------------
    def add_user(self, username: str, firstname: str, lastname: str, email: str, **options: Any) -> int:
        user_id = super().add_user(username, firstname, lastname, email, **options)
        self._index(self.state.users[user_id])
        return user_id

    def enrol(self, user_id: int, course_id: int, role: str = "student", *, lastaccess: int = 0) -> None:
        super().enrol(user_id, course_id, role, lastaccess=lastaccess)
        self.roster[course_id].add(user_id)
        self.course_roles[(user_id, course_id)].add(self.role_id(role))

    def user(self, username: str) -> FakeUser | None:
        user_id = self.by_username.get(username)
        return self.state.live_user(user_id) if user_id is not None else None

    def user_by_idnumber(self, idnumber: str) -> FakeUser | None:
        found = [u for i in self.by_idnumber.get(idnumber, ()) if (u := self.state.live_user(i))]
        return found[0] if len(found) == 1 else None

    def _index(self, user: FakeUser) -> None:
        self.by_username[user.username] = user.id
        self.by_email[user.email].add(user.id)
        self.by_email_lower[user.email.lower()].add(user.id)
        if user.idnumber:
            self.by_idnumber[user.idnumber].add(user.id)

    def _unindex(self, user: FakeUser) -> None:
        self.by_username.pop(user.username, None)
        self.by_email[user.email].discard(user.id)
        self.by_email_lower[user.email.lower()].discard(user.id)
        self.by_idnumber[user.idnumber].discard(user.id)

    # -- dispatch ---------------------------------------------------------------------------------------------------
    def _run(self, control: dict[str, str], params: list[tuple[str, str]]) -> Any:
        name = control.get("wsfunction", "")
        fast = self._fast.get(name)
        if fast is None or control.get("wstoken") != self.token or name not in self.service_functions:
            return super()._run(control, params)  # errors and rare functions: the fake's own code
        spec = moodle_fake._ENTRIES[name][0]
        result = fast(validate(spec, parse_php_form(params)))
        self.call_counts[name] += 1
        return result

    # -- users ------------------------------------------------------------------------------------------------------
    def _get_users_by_field(self, args: Args) -> Any:
        field = args["field"]
        if field not in ("id", "idnumber", "username", "email"):
            raise coding_error("invalid field parameter")
        kinds = {"id": "int", "idnumber": "raw", "username": "username", "email": "raw_trimmed"}
        ids: set[int] = set()
        for value in args["values"]:
            if CLEANERS[kinds[field]](value) != value:
                raise invalid_parameter(f"The field '{field}' value is invalid: {value}")
            if field == "id":
                ids.add(int(value))
            elif field == "username":
                ids.update([self.by_username[value]] if value in self.by_username else [])
            else:
                ids.update((self.by_email if field == "email" else self.by_idnumber).get(value, ()))
        users = [u for i in sorted(ids) if (u := self.state.live_user(i)) is not None]
        return [d for d in (user_details(self.state, u) for u in users) if d.get(field)]

    def _get_users(self, args: Args) -> Any:
        """Only the search for everyone (`email` LIKE `%`, how the connector lists accounts) is answered here."""
        if args["criteria"] != [{"key": "email", "value": "%"}]:
            return get_users(self.state, args, self.options)
        users = [u for _, u in sorted(self.state.users.items()) if not u.deleted and u.email]
        return {"users": [user_details(self.state, u) for u in users], "warnings": []}

    def _check_new(self, user: Args, usernames: set[str], emails: set[str]) -> None:
        for key in ("username", "firstname", "lastname"):
            if user[key].strip() == "":
                raise invalid_parameter(f"The field {key} cannot be blank")
        if user["username"] in self.by_username or user["username"] in usernames:
            raise invalid_parameter(f"Username already exists: {user['username']}")
        if user["auth"] not in AUTH_PLUGINS or user["lang"] not in self.options.langs:
            raise invalid_parameter(f"Invalid authentication type or language: {user['auth']}, {user['lang']}")
        if user["auth"] in INTERNAL_AUTHS and not user.get("password") and not user.get("createpassword"):
            raise invalid_parameter("Invalid password: you must provide a password, or set createpassword.")
        if not _EMAIL.match(user["email"]):
            raise invalid_parameter(f"Email address is invalid: {user['email']}")
        email = user["email"].lower()
        taken = any(self.state.live_user(i) for i in self.by_email_lower.get(email, ())) or email in emails
        if taken and not self.options.allow_same_email:
            raise invalid_parameter(f"Email address already exists: {user['email']}")
        usernames.add(user["username"])
        emails.add(email)

    def _create_users(self, args: Args) -> Any:
        usernames: set[str] = set()
        emails: set[str] = set()
        for user in args["users"]:  # every record is checked before any is written: one transaction
            self._check_new(user, usernames, emails)
        created = []
        for user in args["users"]:
            new = FakeUser(
                id=self.state.next_user_id,
                username=user["username"],
                firstname=user["firstname"],
                lastname=user["lastname"],
                email=user["email"],
                idnumber=user["idnumber"],
                auth=user["auth"],
                department=user.get("department", ""),
                institution=user.get("institution", ""),
                city=user.get("city", ""),
                country=user.get("country", ""),
                lang=user["lang"],
                password_mailed=bool(user.get("createpassword")),
            )
            self.state.next_user_id += 1
            self.state.users[new.id] = new
            _save_custom(self.state, new, user.get("customfields", []))
            self._index(new)
            created.append({"id": new.id, "username": new.username})
        return created

    def _update_one(self, user: Args) -> None:
        existing = self.state.live_user(user["id"])
        if existing is None:
            raise moodle_exception("invaliduserid", "Invalid user ID")
        if existing.username == "guest":
            raise moodle_exception("usernotupdatedguest", "Cannot update guest account")
        if "email" in user and user["email"] != existing.email:
            if not _EMAIL.match(user["email"]):
                raise moodle_exception("useremailinvalid", "Invalid email address")
            others = self.by_email_lower.get(user["email"].lower(), set()) - {existing.id}
            if not self.options.allow_same_email and any(self.state.live_user(i) for i in others):
                raise moodle_exception("useremailduplicate", "Duplicate email address")
        owner = self.by_username.get(user.get("username", existing.username), existing.id)
        if owner != existing.id:
            raise MoodleError("dml_write_exception", "dmlwriteexception", "Error writing to database")
        self._unindex(existing)
        for key in _PLAIN_FIELDS:
            if key in user:
                setattr(existing, key, user[key])
        _save_custom(self.state, existing, user.get("customfields", []))
        self._index(existing)

    def _update_users(self, args: Args) -> Any:
        warnings = []
        for user in args["users"]:
            try:
                self._update_one(user)
            except MoodleError as error:
                warnings.append(
                    {"item": "user", "itemid": user["id"], "warningcode": error.errorcode, "message": error.message}
                )
        return {"warnings": warnings}

    # -- rosters and enrolments -------------------------------------------------------------------------------------
    def _get_enrolled_users(self, args: Args) -> Any:
        course = self.state.courses.get(args["courseid"])
        if course is None:
            raise missing_record("course")
        wanted: set[str] | None = None
        for option in args["options"]:
            if option["name"] == "userfields":
                wanted = {f.strip() for f in option["value"].split(",")} | {"id", "fullname"}
        users = []
        for user_id in sorted(self.roster.get(course.id, ())):
            user = self.state.live_user(user_id)
            if user is None:
                continue
            details = user_details(self.state, user)
            roles = [self.state.roles[r] for r in sorted(self.course_roles.get((user_id, course.id), ()))]
            details["roles"] = [
                {"roleid": r.id, "name": r.name, "shortname": r.shortname, "sortorder": r.id} for r in roles
            ]
            details["enrolledcourses"] = [{"id": course.id, "fullname": course.fullname, "shortname": course.shortname}]
            details["lastcourseaccess"] = self.state.lastaccess.get((user_id, course.id), 0)
            users.append({k: v for k, v in details.items() if wanted is None or k in wanted})
        return users

    def _check_enrolment(self, entry: Args, *, enrol: bool) -> None:
        course = self.state.courses.get(entry["courseid"])
        if course is None:
            raise invalid_parameter("Context does not exist") if enrol else missing_record("course")
        if enrol:
            role = self.state.roles.get(entry["roleid"])
            if role is None or "course" not in role.levels:
                raise moodle_exception("wsusercannotassign", f"You don't have the permission to assign role {role}")
        if not course.manual_instance:
            raise moodle_exception("wsnoinstance", "Manual enrolment plugin instance doesn't exist or is disabled")
        if self.state.live_user(entry["userid"]) is None:
            raise coding_error("User ID does not exist or is deleted!")

    def _enrol_users(self, args: Args) -> Any:
        for entry in args["enrolments"]:
            self._check_enrolment(entry, enrol=True)
        for entry in args["enrolments"]:
            user_id, course_id, role_id = entry["userid"], entry["courseid"], entry["roleid"]
            self.state.enrolments[(user_id, course_id)] = {"status": 1 if entry.get("suspend") else 0}
            self.state.assignments.add((role_id, user_id, "course", course_id))
            self.roster[course_id].add(user_id)
            self.course_roles[(user_id, course_id)].add(role_id)
        return None

    def _unenrol_users(self, args: Args) -> Any:
        for entry in args["enrolments"]:
            self._check_enrolment(entry, enrol=False)
        for entry in args["enrolments"]:
            user_id, course_id = entry["userid"], entry["courseid"]
            self.state.enrolments.pop((user_id, course_id), None)
            self.state.lastaccess.pop((user_id, course_id), None)  # unenrol_user() forgets the last access too
            self.roster[course_id].discard(user_id)
            for role_id in self.course_roles.pop((user_id, course_id), set()):
                self.state.assignments.discard((role_id, user_id, "course", course_id))
        return None

    def _assign_roles(self, args: Args) -> Any:
        changes = _role_changes(self.state, args["assignments"], "assign")
        self.state.assignments.update(changes)
        for role_id, user_id, level, instance in changes:
            if level == "course":
                self.course_roles[(user_id, instance)].add(role_id)
        return None

    def _unassign_roles(self, args: Args) -> Any:
        changes = _role_changes(self.state, args["unassignments"], "unassign")
        self.state.assignments.difference_update(changes)
        for role_id, user_id, level, instance in changes:
            if level == "course":
                self.course_roles[(user_id, instance)].discard(role_id)
        return None
