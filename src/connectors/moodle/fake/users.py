"""The web-service functions the fake serves: parameter descriptions and behaviour, after moodle/moodle
`user/externallib.php`, `enrol/externallib.php`, `enrol/manual/externallib.php` and `course/externallib.php`."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from enrolsync.connectors.moodle.fake.params import (
    CLEANERS,
    Cleaner,
    MoodleError,
    Multiple,
    Single,
    Value,
    coding_error,
    invalid_parameter,
    missing_record,
    moodle_exception,
)
from enrolsync.connectors.moodle.fake.site import INTERNAL_AUTHS, FakeUser, SiteState, user_details
from enrolsync.connectors.moodle.fake.versions import DEFAULT_VERSION, DEMO_AUTHS, VERSIONS, SiteVersion

_EMAIL = re.compile(
    r"^[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*@"
    r"(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$",
    re.IGNORECASE,
)
_CUSTOM = Multiple(Single({"type": Value("alphanumext"), "value": Value("raw")}), optional=True)
_PREFS = Multiple(Single({"type": Value("raw"), "value": Value("raw")}), optional=True)
_OPTIONAL_TEXT = {
    key: Value("raw", optional=True)
    for key in ("description", "interests", "institution", "department", "phone1", "phone2", "address", "timezone")
}
_OPTIONAL_NAMES = {
    key: Value("notags", optional=True)
    for key in ("city", "firstnamephonetic", "lastnamephonetic", "middlename", "alternatename")
}
CREATE_USER = Single(
    {
        "createpassword": Value("bool", optional=True),
        "username": Value("username"),
        "auth": Value("auth", default="manual"),
        "password": Value("raw", optional=True),
        "firstname": Value("notags"),
        "lastname": Value("notags"),
        "email": Value("raw_trimmed"),
        "maildisplay": Value("int", optional=True),
        "country": Value("alpha", optional=True),
        "idnumber": Value("raw", default=""),
        "lang": Value("lang", default="en"),
        "calendartype": Value("plugin", default="gregorian"),
        "theme": Value("plugin", optional=True),
        "mailformat": Value("int", optional=True),
        "customfields": _CUSTOM,
        "preferences": _PREFS,
        **_OPTIONAL_TEXT,
        **_OPTIONAL_NAMES,
    }
)
UPDATE_USER = Single(
    {
        "id": Value("int"),
        "username": Value("username", optional=True),
        "auth": Value("auth", optional=True),
        "suspended": Value("bool", optional=True),
        "password": Value("raw", optional=True),
        "firstname": Value("notags", optional=True),
        "lastname": Value("notags", optional=True),
        "email": Value("raw_trimmed", optional=True),
        "idnumber": Value("raw", optional=True),
        "country": Value("alpha", optional=True),
        "lang": Value("lang", optional=True),
        "customfields": _CUSTOM,
        "preferences": _PREFS,
        **_OPTIONAL_TEXT,
        **_OPTIONAL_NAMES,
    }
)


@dataclass
class Options:
    """Site behaviour switches: Moodle version quirks and settings."""

    version: SiteVersion = VERSIONS[DEFAULT_VERSION]
    legacy_update: bool = False  # before 4.0 update_users returned null and skipped bad users silently
    allow_same_email: bool = False  # $CFG->allowaccountssameemail
    langs: frozenset[str] = frozenset({"en"})  # installed language packs (PARAM_LANG)
    auths: frozenset[str] = DEMO_AUTHS  # installed auth plugins (PARAM_AUTH)
    now: int = 1_764_000_000  # the site's clock (time()), for what Moodle stamps with it
    completion: bool = True  # $CFG->enablecompletion: completion tracking on for the site

    def cleaners(self) -> dict[str, Cleaner]:
        """Parameter cleaning with this site's installed auth plugins and language packs."""
        auths, langs = self.auths, self.langs
        return {
            **CLEANERS,
            "auth": lambda v: v if CLEANERS["plugin"](v) == v and v in auths else "",
            "lang": lambda v: v if v in langs else "",
        }


def _blank_or_taken(state: SiteState, user: dict[str, Any], options: Options) -> None:
    for key in ("username", "firstname", "lastname"):
        if user[key].strip() == "":
            raise invalid_parameter(f"The field {key} cannot be blank")
    if state.users.named(user["username"]):  # deleted accounts keep their usernames
        raise invalid_parameter(f"Username already exists: {user['username']}")
    if user["auth"] in ("mnet", "webservice"):  # installed, but create_users takes them out of its list
        raise invalid_parameter(f"Invalid authentication type: {user['auth']}")
    if user["auth"] in INTERNAL_AUTHS and not user.get("password") and not user.get("createpassword"):
        raise invalid_parameter("Invalid password: you must provide a password, or set createpassword.")
    if not _EMAIL.match(user["email"]):
        raise invalid_parameter(f"Email address is invalid: {user['email']}")
    if not options.allow_same_email and _email_taken(state, user["email"], None):
        raise invalid_parameter(f"Email address already exists: {user['email']}")


def _email_taken(state: SiteState, email: str, other_than: int | None) -> bool:
    return any(u.id != other_than for u in state.users.with_email(email) if not u.deleted)


def _save_custom(state: SiteState, user: FakeUser, fields: list[dict[str, str]]) -> None:
    saved = {e["type"]: e["value"] for e in fields if e["type"] in state.profile_fields}
    if saved:  # profile_save_data() ignores fields the site does not define
        user.custom = {**user.custom, **saved}  # assigned, not changed in place, so a rollback can restore it


def create_users(state: SiteState, params: dict[str, Any], options: Options) -> Any:
    created = []
    for user in params["users"]:  # one transaction: the caller rolls back on the first error
        _blank_or_taken(state, user, options)
        new = FakeUser(
            id=state.next_user_id,
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
        state.next_user_id += 1
        state.users[new.id] = new
        _save_custom(state, new, user.get("customfields", []))
        created.append({"id": new.id, "username": new.username})
    return created


_PLAIN_FIELDS = (
    "username",
    "auth",
    "suspended",
    "firstname",
    "lastname",
    "email",
    "idnumber",
    "country",
    "lang",
    "description",
    "institution",
    "department",
    "city",
)


def _update_one(state: SiteState, user: dict[str, Any], options: Options) -> None:
    existing = state.users.get(user["id"])
    if existing is None:
        raise moodle_exception("invaliduserid", "Invalid user ID")
    # The messages are what a real site returns: some strings are missing from the language pack, so Moodle shows
    # their identifiers (measured on 4.3 and 4.5).
    if existing.deleted:
        raise moodle_exception("usernotupdateddeleted", "User is a deleted user")
    if existing.username == "guest":
        raise moodle_exception("usernotupdatedguest", "error/usernotupdatedguest")
    if "email" in user and user["email"] != existing.email:
        if not _EMAIL.match(user["email"]):
            raise moodle_exception("useremailinvalid", "error/useremailinvalid")
        if not options.allow_same_email and _email_taken(state, user["email"], existing.id):
            raise moodle_exception("useremailduplicate", "Duplicate address")
    if "username" in user and any(u.id != existing.id for u in state.users.named(user["username"])):
        raise MoodleError("dml_write_exception", "dmlwriteexception", "Error writing to database")
    for key in _PLAIN_FIELDS:
        if key in user:
            setattr(existing, key, user[key])
    _save_custom(state, existing, user.get("customfields", []))


def update_users(state: SiteState, params: dict[str, Any], options: Options) -> Any:
    warnings = []
    for user in params["users"]:
        try:
            _update_one(state, user, options)
        except MoodleError as error:
            if options.legacy_update:
                continue  # before Moodle 4.0 a user that could not be updated was skipped without a word
            warnings.append(
                {"item": "user", "itemid": user["id"], "warningcode": error.errorcode, "message": error.message}
            )
    return None if options.legacy_update else {"warnings": warnings}


def get_users_by_field(state: SiteState, params: dict[str, Any], options: Options) -> Any:
    field = params["field"]
    if field not in ("id", "idnumber", "username", "email"):
        raise coding_error("invalid field parameter")
    kinds = {"id": "int", "idnumber": "raw", "username": "username", "email": "raw_trimmed"}
    for value in params["values"]:
        cleaned = CLEANERS[kinds[field]](value)
        if cleaned != value:
            raise invalid_parameter(f"The field '{field}' value is invalid: {value}(cleaned value: {cleaned})")
    # By id a deleted account is still found (its username and email rewritten by delete_user()); by any other
    # field it is not.
    found = {
        u.id: u
        for value in params["values"]
        for u in _with_field(state, field, value)
        if field == "id" or not u.deleted
    }
    details = [user_details(state, found[user_id]) for user_id in sorted(found)]
    return [d for d in details if d.get(field)]


def _with_field(state: SiteState, field: str, value: str) -> list[FakeUser]:
    """Users whose `field`, as text, equals `value` exactly (looked up in the indexes)."""
    if field == "id":
        try:
            user = state.users.get(int(value))
        except ValueError:
            return []
        return [user] if user is not None and str(user.id) == value else []
    if field == "email":
        return [u for u in state.users.with_email(value) if u.email == value]
    return state.users.named(value) if field == "username" else state.users.with_idnumber(value)


def _like(pattern: str) -> re.Pattern[str]:
    regex = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.compile(regex, re.IGNORECASE | re.DOTALL)


def _equals(key: str, value: str) -> Callable[[FakeUser], bool]:
    if key == "username":
        # Newer sites clean the criterion as PARAM_USERNAME (core_user::get_property_type) before comparing, and
        # cleaning lower-cases: `Alice.x` finds `alice.x` (measured on 4.3 and 4.5). get_users_by_field validates
        # instead, refusing a value cleaning would change.
        cleaned = CLEANERS["username"](value)
        return lambda user: user.username == cleaned
    return lambda user: str(getattr(user, key)) == value


def _matches(key: str, pattern: str) -> Callable[[FakeUser], bool]:
    like = _like(pattern)  # compiled once per call, not once per user
    return lambda user: like.fullmatch(str(getattr(user, key))) is not None


def get_users(state: SiteState, params: dict[str, Any], options: Options) -> Any:
    used: set[str] = set()
    warnings: list[dict[str, str]] = []
    tests: list[tuple[str, Callable[[FakeUser], bool]]] = []
    for criterion in params["criteria"]:
        key, value = criterion["key"], criterion["value"]
        if key in used:
            raise moodle_exception("keyalreadyset", "error/keyalreadyset", f"The key {key} can only be sent once")
        used.add(key)
        if key == "auth":  # cleaned as PARAM_AUTH: a plugin the site lacks becomes '' and matches nobody
            tests.append((key, _equals(key, options.cleaners()["auth"](value) or "\0")))
        elif key in ("id", "idnumber", "username"):
            tests.append((key, _equals(key, value)))
        elif key in ("email", "firstname", "lastname"):
            tests.append((key, _matches(key, value)))
        else:
            warnings.append(
                {
                    "item": key,
                    "warningcode": "invalidfieldparameter",
                    "message": f"The search key '{key}' is not supported, look at the web service documentation",
                }
            )
    users = [u for u in _candidates(state, params["criteria"]) if not u.deleted]
    details = [user_details(state, u) for u in users if all(test(u) for _, test in tests)]
    return {"users": [d for d in details if all(d.get(key) for key, _ in tests)], "warnings": warnings}


def _candidates(state: SiteState, criteria: list[dict[str, str]]) -> list[FakeUser]:
    """Users a search may find, by id. An email without LIKE wildcards can only be matched by that email in any
    case, which the email index finds without a scan of the site (the criteria still decide)."""
    exact = [c["value"] for c in criteria if c["key"] == "email" and not set(c["value"]) & {"%", "_"}]
    if exact:
        return sorted(state.users.with_email(exact[0]), key=lambda u: u.id)
    return sorted(state.users.values(), key=lambda u: u.id)


def delete_users(state: SiteState, params: dict[str, Any], options: Options) -> Any:
    """delete_user(): the row stays, renamed, so its username and email are free again (user/lib.php)."""
    for user_id in params["userids"]:
        user = state.live_user(user_id)
        if user is None:
            raise missing_record("user")  # get_record(..., MUST_EXIST)
        if user.username == "admin":
            raise moodle_exception("useradminodelete", "You cannot delete an admin account")
        old_username = user.username
        user.username = CLEANERS["username"](f"{user.email}.{options.now}")
        user.email = hashlib.md5(old_username.encode(), usedforsecurity=False).hexdigest()
        user.idnumber = ""
        user.suspended = False
        user.custom = {}
        user.deleted = True
        for course_id in state.enrolments.courses_of(user_id):  # enrol_get_users_courses(): unenrolled everywhere
            del state.enrolments[(user_id, course_id)]
            state.lastaccess.pop((user_id, course_id), None)
        state.assignments.difference_update(state.assignments.of_user(user_id))  # role_unassign_all()
    return None
