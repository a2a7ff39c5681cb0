"""A faithful fake Moodle REST web service (`/webservice/rest/server.php`) for tests and the demo.

It answers as Moodle does: HTTP 200 with `{"exception", "errorcode", "message"}` on errors (debuginfo only with
`debugging` on), XML unless `moodlewsrestformat=json`, `invalidtoken` for a wrong token, `accessexception` for a
function the token's service lacks (`invalidrecord` only for a name no Moodle has, `payloads/functions.txt`),
parameter validation that rejects values cleaning would change (an auth plugin or language the site has not
installed included: the whole call fails), and writes that run in one transaction (the first bad record rolls the
whole call back). Every call is a POST, so a write is a function that changes state.

`FakeMoodle(version=...)` imitates 4.1, 4.3, 4.5 (the default) or 5.0 where their answers differ
(`versions.py`); `auth_plugins`, `langs` and `capabilities` describe the site and its service user. What a real
site does differently from the first fake is tested, behaviour by behaviour, in
tests/connectors/moodle/test_fake_real_site.py.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape, quoteattr

import httpx

from enrolsync.connectors.moodle.fake import completion, courses, users
from enrolsync.connectors.moodle.fake.cost import SiteCost, items_in
from enrolsync.connectors.moodle.fake.params import (
    MoodleError,
    Multiple,
    Single,
    Value,
    no_permission,
    parse_php_form,
    validate,
)
from enrolsync.connectors.moodle.fake.site import DEFAULT_ROLES, FakeCourse, FakeRole, FakeUser, SiteState
from enrolsync.connectors.moodle.fake.versions import DEFAULT_VERSION, DEMO_AUTHS, VERSIONS, exception_class
from enrolsync.connectors.testing.fakes import FakeServer, json_response

PAYLOADS = Path(__file__).parent / "payloads"
DEFAULT_TOKEN = "fake-moodle-token"  # a stand-in site's token, not a credential
SERVER_PATH = "/webservice/rest/server.php"
_ENTRIES = {  # name -> (parameters, behaviour, changes state)
    "core_webservice_get_site_info": (Single({"serviceshortnames": Multiple(Value("alpha"), default=[])}), None, False),
    "core_user_get_users": (
        Single({"criteria": Multiple(Single({"key": Value("alpha"), "value": Value("raw")}))}),
        users.get_users,
        False,
    ),
    "core_user_get_users_by_field": (
        Single({"field": Value("alpha"), "values": Multiple(Value("raw"))}),
        users.get_users_by_field,
        False,
    ),
    "core_user_create_users": (Single({"users": Multiple(users.CREATE_USER)}), users.create_users, True),
    "core_user_update_users": (Single({"users": Multiple(users.UPDATE_USER)}), users.update_users, True),
    "core_course_get_courses": (
        Single({"options": Single({"ids": Multiple(Value("int"), optional=True)}, default={})}),
        courses.get_courses,
        False,
    ),
    "core_enrol_get_enrolled_users": (
        Single(
            {
                "courseid": Value("int"),
                "options": Multiple(Single({"name": Value("alphanumext"), "value": Value("raw")}), default=[]),
            }
        ),
        courses.get_enrolled_users,
        False,
    ),
    "enrol_manual_enrol_users": (
        Single(
            {
                "enrolments": Multiple(
                    Single(
                        {
                            "roleid": Value("int"),
                            "userid": Value("int"),
                            "courseid": Value("int"),
                            "timestart": Value("int", optional=True),
                            "timeend": Value("int", optional=True),
                            "suspend": Value("int", optional=True),
                        }
                    )
                )
            }
        ),
        courses.enrol_users,
        True,
    ),
    "enrol_manual_unenrol_users": (
        Single(
            {
                "enrolments": Multiple(
                    Single({"userid": Value("int"), "courseid": Value("int"), "roleid": Value("int", optional=True)})
                )
            }
        ),
        courses.unenrol_users,
        True,
    ),
}
_ROLE_ENTRY = Single(
    {
        "roleid": Value("int"),
        "userid": Value("int"),
        "contextid": Value("int", optional=True),
        "contextlevel": Value("alpha", optional=True),
        "instanceid": Value("int", optional=True),
    }
)
_ENTRIES["core_role_assign_roles"] = (Single({"assignments": Multiple(_ROLE_ENTRY)}), courses.assign_roles, True)
_ENTRIES["core_role_unassign_roles"] = (Single({"unassignments": Multiple(_ROLE_ENTRY)}), courses.unassign_roles, True)
_ENTRIES["core_completion_get_course_completion_status"] = (
    Single({"courseid": Value("int"), "userid": Value("int")}),
    completion.get_course_completion_status,
    False,
)
# Served so tests can delete accounts as an admin would; the connector never calls it (no HARD_DELETE).
_ENTRIES["core_user_delete_users"] = (Single({"userids": Multiple(Value("int"))}), users.delete_users, True)
# require_capability() at the system context, first thing in the function (user/externallib.php). The
# course-context capabilities (enrol/manual:enrol, moodle/role:assign...) are checked per record and not imitated.
CAPABILITIES = {
    "core_user_create_users": ("moodle/user:create", "Create users"),
    "core_user_update_users": ("moodle/user:update", "Update user profiles"),
    "core_user_delete_users": ("moodle/user:delete", "Delete users"),
}
# Every function a real 4.3 site has: one the fake does not serve is outside any service it offers.
MOODLE_FUNCTIONS = frozenset(
    line.strip() for line in (PAYLOADS / "functions.txt").read_text().splitlines() if line and line[0] != "#"
)
FUNCTIONS = frozenset(_ENTRIES)
WRITE_FUNCTIONS = frozenset(name for name, (_, _, write) in _ENTRIES.items() if write)


def _request_fields(request: httpx.Request) -> list[tuple[str, str]]:
    fields = list(request.url.params.multi_items())
    if request.method == "POST":
        fields += parse_qsl(request.content.decode(), keep_blank_values=True)
    return fields


class FakeMoodle(FakeServer):
    """In-memory Moodle site. Seed with `add_*`, inspect with `user`, `courses_of`, `roles_of`, `calls`."""

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        *,
        version: str = DEFAULT_VERSION,
        auth_plugins: Iterable[str] = DEMO_AUTHS,
        langs: Iterable[str] = ("en",),
    ) -> None:
        super().__init__()
        self.token = token
        self.state = SiteState()
        self.version = VERSIONS[version]
        self.options = users.Options(version=self.version, auths=frozenset(auth_plugins), langs=frozenset(langs))
        self.debugging = False
        self.service_functions: set[str] = set(FUNCTIONS) - {"core_user_delete_users"}
        # The token user's system capabilities; None = a site admin, who has them all.
        self.capabilities: set[str] | None = None
        self.calls: list[tuple[str, dict[str, Any]]] = []  # (wsfunction, validated parameters) of accepted calls
        self.served: Counter[str] = Counter()  # records returned, by wsfunction: what a real site pays for most
        self.cost: SiteCost | None = None  # set to make answers over ASGI take a real site's time (`cost.py`)
        self._answered = 0  # records in the latest answer, for its cost
        self._workers: asyncio.Semaphore | None = None
        self.site = json.loads((PAYLOADS / "site_info.json").read_text())
        for role_id, shortname, name, levels in DEFAULT_ROLES:
            self.state.roles[role_id] = FakeRole(role_id, shortname, name, set(levels))
        self.add_user("guest", "Guest user", " ", "root@localhost")
        self.add_user("admin", "Admin", "User", "admin@moodle.example.test")
        self.add_course("learning", "Example Learning", format="site", manual=False)

    @classmethod
    def seeded(cls, token: str = DEFAULT_TOKEN, *, version: str = DEFAULT_VERSION) -> FakeMoodle:
        """A site holding the sample users, courses and enrolments in `payloads/`."""
        fake = cls(token, version=version)
        fake.add_profile_field("jobtitle")
        fake.add_profile_field("enrolsyncroles")
        for user in json.loads((PAYLOADS / "users.json").read_text()):
            fields = {k: user.get(k, "") for k in ("idnumber", "auth", "department", "city", "country")}
            fields["auth"] = fields["auth"] or "manual"
            custom = {f["shortname"]: f["value"] for f in user.get("customfields", [])}
            fake.add_user(
                user["username"],
                user["firstname"],
                user["lastname"],
                user["email"],
                suspended=user["suspended"],
                custom=custom,
                user_id=user["id"],
                **fields,
            )
        for course in json.loads((PAYLOADS / "courses.json").read_text()):
            if course["format"] != "site":
                fake.add_course(course["shortname"], course["fullname"], course_id=course["id"])
        for participant in json.loads((PAYLOADS / "enrolled_users.json").read_text()):
            for role in participant["roles"]:
                fake.enrol(participant["id"], 2, role["shortname"], lastaccess=participant["lastcourseaccess"])
        return fake

    # -- seeding ------------------------------------------------------------------------------------------------
    def add_user(
        self,
        username: str,
        firstname: str,
        lastname: str,
        email: str,
        *,
        user_id: int | None = None,
        custom: dict[str, str] | None = None,
        **fields: Any,
    ) -> int:
        """Add an account as if it had been there before enrolsync (no validation)."""
        new_id = user_id or self.state.next_user_id
        self.state.users[new_id] = FakeUser(new_id, username, firstname, lastname, email, custom=custom or {}, **fields)
        self.state.next_user_id = max(self.state.next_user_id, new_id + 1)
        return new_id

    def add_course(
        self,
        shortname: str,
        fullname: str = "",
        *,
        course_id: int | None = None,
        format: str = "topics",
        manual: bool = True,
        idnumber: str = "",
        completion: bool = True,
    ) -> int:
        new_id = course_id or self.state.next_course_id
        course = FakeCourse(new_id, shortname, fullname or shortname, format, 1, manual, idnumber, completion)
        self.state.courses[new_id] = course
        self.state.next_course_id = max(self.state.next_course_id, new_id + 1)
        return new_id

    def delete(self, user_id: int) -> None:
        """Delete an account as an admin would: delete_user() renames it (found by id still, see
        `users.delete_users`), unenrols it everywhere and takes its roles away."""
        users.delete_users(self.state, {"userids": [user_id]}, self.options)

    def complete(self, user_id: int, course_id: int, at: int) -> None:
        """The learner completed the course at Unix time `at` (as if they had marked it complete themselves)."""
        self.state.completed[(user_id, course_id)] = at

    def add_role(self, shortname: str, levels: set[str]) -> int:
        role_id = max(self.state.roles) + 1
        self.state.roles[role_id] = FakeRole(role_id, shortname, shortname.title(), levels)
        return role_id

    def add_profile_field(self, shortname: str, datatype: str = "text") -> None:
        self.state.profile_fields[shortname] = datatype

    def enrol(self, user_id: int, course_id: int, role: str = "student", *, lastaccess: int = 0) -> None:
        self.state.enrolments[(user_id, course_id)] = {"status": 0}
        self.state.assignments.add((self.role_id(role), user_id, "course", course_id))
        self.state.lastaccess[(user_id, course_id)] = lastaccess

    # -- inspection ---------------------------------------------------------------------------------------------
    def role_id(self, shortname: str) -> int:
        return next(r.id for r in self.state.roles.values() if r.shortname == shortname)

    def user(self, username: str) -> FakeUser | None:
        return next((u for u in self.state.users.named(username) if not u.deleted), None)

    def courses_of(self, user_id: int) -> set[int]:
        return self.state.enrolments.courses_of(user_id)

    def roles_of(self, user_id: int) -> set[tuple[str, str, int]]:
        """(role shortname, context level, instance id) the user holds."""
        return {(self.state.roles[r].shortname, lvl, i) for r, _, lvl, i in self.state.assignments.of_user(user_id)}

    def called(self, function: str) -> list[dict[str, Any]]:
        return [params for name, params in self.calls if name == function]

    # -- serving ------------------------------------------------------------------------------------------------
    def is_write(self, request: httpx.Request) -> bool:
        """A call to a function that changes state, unless it names no record that could change: updating only
        user id 0 (no Moodle user has it) is how a client asks whether an auth plugin or language is installed."""
        fields = _request_fields(request)
        if dict(fields).get("wsfunction") not in WRITE_FUNCTIONS:
            return False
        ids = [v for k, v in fields if re.fullmatch(r"users\[\d+\]\[id\]", k)]
        return not (dict(fields)["wsfunction"] == "core_user_update_users" and ids and set(ids) == {"0"})

    def handle(self, request: httpx.Request) -> httpx.Response:
        if request.url.path != SERVER_PATH:
            return httpx.Response(404, text="<html><body>Not found</body></html>")
        fields = _request_fields(request)
        control = {k: v for k, v in fields if k in ("wstoken", "wsfunction", "moodlewsrestformat")}
        params = [(k, v) for k, v in fields if k not in control]
        as_json = control.get("moodlewsrestformat") == "json"
        try:
            result = self._run(control, params)
        except MoodleError as error:
            return self._error(error, as_json)
        return json_response(200, result) if as_json else _xml_response(_xml_result(result))

    def _run(self, control: dict[str, str], params: list[tuple[str, str]]) -> Any:
        if control.get("wstoken") != self.token:
            raise MoodleError("moodle_exception", "invalidtoken", "Invalid token - token not found")
        name = control.get("wsfunction", "")
        if name not in _ENTRIES and name not in MOODLE_FUNCTIONS:
            raise MoodleError(
                "dml_missing_record_exception",
                "invalidrecord",
                "Can't find data record in database table external_functions.",
            )
        if name not in self.service_functions:
            raise MoodleError(
                "webservice_access_exception",
                "accessexception",
                "Access control exception",
                f"Access to the function {name}() is not allowed.",
            )
        spec, behaviour, write = _ENTRIES[name]
        # The server validates the parameters before the function runs; the function then checks capabilities.
        arguments = validate(spec, parse_php_form(params), cleaners=self.options.cleaners())
        if name in CAPABILITIES and self.capabilities is not None and CAPABILITIES[name][0] not in self.capabilities:
            raise no_permission(*CAPABILITIES[name])
        if behaviour is None:
            return self._site_info()
        if write:
            with self.state.transaction():  # the delegated transaction: an error rolls the whole call back
                result = behaviour(self.state, arguments, self.options)
        else:
            result = behaviour(self.state, arguments, self.options)
        self.calls.append((name, arguments))
        self._answered = items_in(result)
        self.served[name] += self._answered
        return result

    async def asgi(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """Serve over ASGI; with `cost` set, each answer waits for one of the site's workers and holds it for the
        time a real site would spend on it (`cost.SiteCost`), so concurrency beyond the workers queues."""
        cost = self.cost
        if cost is None or scope["type"] != "http":
            await super().asgi(scope, receive, send)
            return
        if self._workers is None:
            self._workers = asyncio.Semaphore(cost.workers)

        async def send_later(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                # The handler has just run (no await since): `_answered` is this request's.
                await asyncio.sleep(cost.seconds(self._answered))
            await send(message)

        async with self._workers:
            self._answered = 0
            await super().asgi(scope, receive, send_later)

    def _site_info(self) -> dict[str, Any]:
        version = self.version.version
        functions = [{"name": name, "version": version} for name in sorted(self.service_functions)]
        admin = self.capabilities is None
        return {
            **self.site,
            "release": self.version.release,
            "version": version,
            "userissiteadmin": admin,
            "functions": functions,
        }

    def _error(self, error: MoodleError, as_json: bool) -> httpx.Response:
        exception = exception_class(self.version, error.exception)
        if as_json:
            body = {"exception": exception, "errorcode": error.errorcode, "message": error.message}
            if self.debugging and error.debuginfo:
                body["debuginfo"] = error.debuginfo
            return json_response(200, body)
        xml = (
            f"<EXCEPTION class={quoteattr(exception)}>\n<ERRORCODE>{escape(error.errorcode)}</ERRORCODE>\n"
            f"<MESSAGE>{escape(error.message)}</MESSAGE>\n</EXCEPTION>\n"
        )
        return _xml_response(xml)


def _xml_result(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return "<MULTIPLE>\n" + "".join(_xml_result(v) for v in value) + "</MULTIPLE>\n"
    if isinstance(value, dict):
        keys = "".join(f"<KEY name={quoteattr(k)}>{_xml_result(v)}</KEY>\n" for k, v in value.items())
        return f"<SINGLE>\n{keys}</SINGLE>\n"
    text = str(int(value)) if isinstance(value, bool) else str(value)
    return f"<VALUE>{escape(text)}</VALUE>\n"


def _xml_response(inner: str) -> httpx.Response:
    body = '<?xml version="1.0" encoding="UTF-8" ?>\n'
    body += inner if inner.startswith("<EXCEPTION") else f"<RESPONSE>\n{inner}</RESPONSE>\n"
    return httpx.Response(200, content=body.encode(), headers={"Content-Type": "application/xml"})
