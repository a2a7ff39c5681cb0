"""Moodle web-service wire models (private to this folder).

Shapes follow the functions' return descriptions in moodle/moodle (`user/externallib.php` user_description,
`enrol/externallib.php`, `webservice/externallib.php`). Moodle omits empty optional fields, so almost everything
has a default; unknown keys are ignored so a newer Moodle does not break the connector.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class CustomField(_Wire):
    """A profile field as user details return it: `type` is the field's datatype, `shortname` its name.

    (On input, create/update take `{type: <shortname>, value}` instead.)
    """

    type: str = ""
    value: str = ""
    name: str = ""
    shortname: str = ""


class MoodleUser(_Wire):
    id: int
    username: str = ""
    firstname: str = ""
    lastname: str = ""
    email: str = ""
    idnumber: str = ""
    auth: str = "manual"
    suspended: bool = False
    department: str = ""
    institution: str = ""
    city: str = ""
    customfields: tuple[CustomField, ...] = ()

    def custom(self, shortname: str) -> str:
        """The value of the profile field `shortname` ("" when the user has none). A plain loop: a snapshot asks
        twice per account (job title, role mirror), over a handful of fields, where a generator's set-up costs more
        than the search (issue 19)."""
        for field in self.customfields:
            if field.shortname == shortname:
                return field.value
        return ""


_MD5_HEX = re.compile(r"[0-9a-f]{32}")


def is_deleted(user: MoodleUser) -> bool:
    """Whether the account is a deleted one, as core_user_get_users_by_field with `field=id` still returns them.

    delete_user() keeps the row and rewrites it: username `<old email>.<unix time>`, email the md5 hex of the old
    username, idnumber emptied (user/lib.php; measured on 4.3 and 4.5). No answer carries a `deleted` flag, and a
    live account's email always has an `@` (validate_email), so an email that is 32 hex digits means deleted.
    """
    return _MD5_HEX.fullmatch(user.email) is not None


class UserSearch(_Wire):
    """core_user_get_users: `{users, warnings}`."""

    users: tuple[MoodleUser, ...] = ()


class RoleRef(_Wire):
    roleid: int
    shortname: str
    name: str = ""
    sortorder: int = 0


class EnrolledUser(_Wire):
    """One participant of core_enrol_get_enrolled_users, with the roles held in the course context."""

    id: int
    roles: tuple[RoleRef, ...] = ()
    lastcourseaccess: int = 0


class Course(_Wire):
    id: int
    shortname: str = ""
    idnumber: str = ""
    fullname: str = ""
    format: str = ""


class SiteFunction(_Wire):
    name: str
    version: str = ""


class SiteInfo(_Wire):
    sitename: str = ""
    username: str = ""
    userid: int
    siteid: int = 1
    release: str = ""
    version: str = ""
    userissiteadmin: bool = False
    functions: tuple[SiteFunction, ...] = ()


class CreatedUser(_Wire):
    id: int
    username: str


class Warning(_Wire):
    """An external_warnings entry; core_user_update_users returns one per user it could not update (Moodle 4.0+)."""

    item: str = ""
    itemid: int = 0
    warningcode: str = ""
    message: str = ""


class UpdateAnswer(_Wire):
    warnings: tuple[Warning, ...] = Field(default=())


class CompletionCriterion(_Wire):
    type: int = 0
    complete: bool = False
    timecompleted: int | None = None


class CompletionStatus(_Wire):
    completed: bool = False
    aggregation: int = 1  # 1: all criteria, 2: any
    completions: tuple[CompletionCriterion, ...] = ()


class CompletionAnswer(_Wire):
    """core_completion_get_course_completion_status: `{completionstatus, warnings}`."""

    completionstatus: CompletionStatus
