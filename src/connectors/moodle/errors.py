"""Moodle's answers mapped onto the one error taxonomy, in one function: `classify`.

Moodle's REST server answers errors with HTTP 200 and `{"exception", "errorcode", "message"[, "debuginfo"]}`
(moodle/moodle `webservice/rest/locallib.php`, generate_error). Only proxies and the web server produce HTTP
errors. Reasons are fixed phrases: Moodle's messages and debuginfo can carry usernames and email addresses.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from enrolsync.connectors.errors import (
    AuthError,
    ConnectorError,
    Invalid,
    NotFound,
    PermanentError,
    TransientError,
)
from enrolsync.connectors.kit.errors import classify as classify_http
from enrolsync.connectors.ops import OpResult


class MoodleAuthError(AuthError):
    def __init__(self, reason: str, *, code: str) -> None:
        super().__init__(reason)
        self.code = code


class MoodleNotFound(NotFound):
    def __init__(self, reason: str, *, code: str) -> None:
        super().__init__(reason)
        self.code = code


class MoodleInvalid(Invalid):
    def __init__(self, reason: str, *, code: str) -> None:
        super().__init__(reason)
        self.code = code


class MoodlePermanent(PermanentError):
    def __init__(self, reason: str, *, code: str) -> None:
        super().__init__(reason)
        self.code = code


class MoodleTransient(TransientError):
    def __init__(self, reason: str, *, code: str) -> None:
        super().__init__(reason)
        self.code = code


_AUTH = {
    "invalidtoken": "invalid token",
    "accessexception": "the token's service may not call this function, or web services are off",
    "nopermissions": "the token's user lacks a capability",
    "requireloginerror": "the token's user may not log in",
    "wsaccessuserdeleted": "the token's user is deleted",
    "wsaccessusersuspended": "the token's user is suspended",
    "wsaccessusernologin": "the token's user has the nologin auth method",
    "wsaccessuserexpired": "the token's user has an expired password",
    "wsaccessusernotconfirmed": "the token's user is not confirmed",
}
_NOT_FOUND = {
    "invalidrecord": "record not found (an unknown function, course or user)",
    "errorcoursecontextnotvalid": "course not found",
    "cannotfindcourse": "course not found",
    "invaliduserid": "user not found",
    "invaliduser": "user not found",  # 4.5+: manual unenrol of a missing user (4.3: invalidparameter)
    "userdeleted": "the account is deleted",  # 4.5+: manual enrol or unenrol of a deleted account
}
_INVALID = {
    "invalidparameter": "Moodle rejected a parameter (with Moodle debugging on, the reason names which)",
    "wsusercannotassign": "the role cannot be assigned in this course",
    "wsnoinstance": "the course has no manual enrolment method",
    "wscannotenrol": "the course's manual enrolment method does not accept enrolments",
    "wscannotunenrol": "the course's manual enrolment method does not allow unenrolling",
    "codingerror": "Moodle refused the call (a missing user or bad id)",
    "guestsarenotallowed": "the guest account cannot be enrolled",  # 4.5+
    "useremailduplicate": "email address already exists",
    "useremailinvalid": "email address is invalid",
    "usernotupdatedadmin": "admin accounts cannot be updated",
    "usernotupdateddeleted": "the account is deleted",
    "usernotupdatedguest": "the guest account cannot be updated",
    "keyalreadyset": "a search key was sent twice",
}
_TRANSIENT = {"sitemaintenance": "the site is in maintenance mode"}

# invalid_parameter_exception carries its detail in debuginfo (sent only with debugging on); these fixed phrases
# name the cause without repeating the value (core_user_external::create_users, core_role_external).
_DEBUG_PHRASES = (
    ("Username already exists", "username already exists"),
    ("Email address already exists", "email address already exists"),
    ("Email address is invalid", "email address is invalid"),
    ("cannot be blank", "a required name field is blank"),
    ("Invalid authentication type", "the auth method is not installed"),
    ("Invalid password", "this auth method needs a password or createpassword"),
    ("Can not assign roleid", "the role cannot be assigned in this context"),
    ("Can not unassign roleid", "the role cannot be unassigned in this context"),
    ("Context does not exist", "the course or user context does not exist"),
    ("User id not exist", "user not found"),
    ('expecting "username"', "username has characters Moodle does not allow"),
)


def _invalid_reason(debuginfo: str) -> str:
    for needle, phrase in _DEBUG_PHRASES:
        if needle in debuginfo:
            return phrase
    return _INVALID["invalidparameter"]


def moodle_error(body: dict[str, Any]) -> ConnectorError:
    """The error a Moodle exception body means."""
    # 4.5 namespaces exception classes (`core\\exception\\moodle_exception`); errorcodes did not change.
    exception = str(body.get("exception") or "").rsplit("\\", 1)[-1]
    code = str(body.get("errorcode") or exception or "unknown")
    if code in _AUTH:
        return MoodleAuthError(_AUTH[code], code=code)
    if code in _TRANSIENT:
        return MoodleTransient(_TRANSIENT[code], code=code)
    if code in _NOT_FOUND:
        return MoodleNotFound(_NOT_FOUND[code], code=code)
    if code == "invalidparameter":
        return MoodleInvalid(_invalid_reason(str(body.get("debuginfo") or "")), code=code)
    if code in _INVALID:
        return MoodleInvalid(_INVALID[code], code=code)
    return MoodlePermanent(f"Moodle refused the call ({code})", code=code)


def classify(response: httpx.Response) -> ConnectorError | None:
    """The error an answer of `server.php` means, or None when it carries a result."""
    try:
        answer(response)
    except ConnectorError as error:
        return error
    return None


def answer(response: httpx.Response) -> Any:
    """The decoded result an answer of `server.php` carries; raises the error it means instead. The body is
    decoded once (a 200-user answer costs milliseconds to decode)."""
    http_error = classify_http(response)
    if http_error is not None:
        raise http_error
    try:
        body = json.loads(response.content)
    except ValueError:
        raise undecodable(response) from None
    if isinstance(body, dict) and "exception" in body:
        raise moodle_error(body)
    return body


def undecodable(response: httpx.Response) -> ConnectorError:
    """The error a 200 answer that is not JSON means."""
    if response.content.lstrip().startswith((b"<", b"\xef\xbb\xbf<")):
        # XML (the format Moodle falls back to) or an HTML error page from the web server.
        return PermanentError("Moodle answered XML or HTML, not JSON", status=response.status_code)
    return TransientError("Moodle's answer was cut short", status=response.status_code)


def error_code(error: BaseException) -> str | None:
    """Moodle's errorcode carried by an error this module made, else None."""
    code = getattr(error, "code", None)
    return code if isinstance(code, str) else None


def op_failure(error: ConnectorError) -> OpResult:
    """A per-op outcome for an error: transient ones are `retry`, the rest `failed` with Moodle's errorcode."""
    if isinstance(error, TransientError):
        return OpResult.retry(error.reason, status=error.status, retry_after=error.retry_after)
    return OpResult.failed(error.reason, status=error.status, code=error_code(error))
