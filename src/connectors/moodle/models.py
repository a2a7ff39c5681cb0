"""Moodle web-service wire models (private to this folder).

Shapes follow the functions' return descriptions in moodle/moodle (`user/externallib.php` user_description,
`enrol/externallib.php`, `webservice/externallib.php`). Moodle omits empty optional fields, so almost everything
has a default; unknown keys are ignored so a newer Moodle does not break the connector.
"""

from __future__ import annotations

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
        return next((f.value for f in self.customfields if f.shortname == shortname), "")


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
