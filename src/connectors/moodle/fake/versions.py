"""The Moodle releases the fake imitates, and how their web services answer differently.

Measured against real sites (4.3.0 and 4.5, issue 11) and read from moodle/moodle: 4.5 moved core exception classes
into the `core\\exception` namespace, so the REST server's `exception` field reads `core\\exception\\moodle_exception`;
4.5 also checks users in `enrol_manual_enrol_users` / `enrol_manual_unenrol_users` before the enrolment code runs,
answering `userdeleted`, `invaliduser` and `guestsarenotallowed` where 4.3 answered `codingerror`,
`invalidparameter` or `null`. 4.1 (LTS) behaves as 4.3 here, 5.0 as 4.5.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SiteVersion:
    name: str
    release: str
    version: str  # $version in version.php, as core_webservice_get_site_info reports it
    namespaced_exceptions: bool  # 4.5+: core\exception\moodle_exception
    checks_enrol_users: bool  # 4.5+: userdeleted / invaliduser / guestsarenotallowed in manual enrol and unenrol


VERSIONS: dict[str, SiteVersion] = {
    "4.1": SiteVersion("4.1", "4.1.14 (Build: 20241007)", "2022112814", False, False),
    "4.3": SiteVersion("4.3", "4.3.4 (Build: 20240422)", "2023100904", False, False),
    "4.5": SiteVersion("4.5", "4.5 (Build: 20241007)", "2024100700", True, True),
    "5.0": SiteVersion("5.0", "5.0 (Build: 20250414)", "2025041400", True, True),
}
DEFAULT_VERSION = "4.5"

# Exception classes 4.5 moved into core\exception (lib/classes/exception/); dml_* and webservice_* kept their names.
NAMESPACED = frozenset(
    {"moodle_exception", "coding_exception", "invalid_parameter_exception", "required_capability_exception"}
)

# Auth plugins a standard install ships (auth/*): PARAM_AUTH accepts exactly the installed ones (exists_auth_plugin).
# mnet and webservice exist but core_user_create_users refuses them.
CORE_AUTHS = frozenset(
    {"manual", "email", "nologin", "none", "ldap", "db", "cas", "lti", "mnet", "oauth2", "shibboleth", "webservice"}
)
# The demo site also has the two common third-party SSO plugins installed (auth_saml2 by Catalyst, auth_oidc by
# Microsoft); `FakeMoodle(auth_plugins=CORE_AUTHS)` is a site without them.
DEMO_AUTHS = CORE_AUTHS | {"saml2", "oidc"}


def exception_class(version: SiteVersion, name: str) -> str:
    """The `exception` field a site of `version` reports for an exception class."""
    if version.namespaced_exceptions and name in NAMESPACED:
        return f"core\\exception\\{name}"
    return name
