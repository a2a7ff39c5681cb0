"""How a real Moodle site answers where the fake once differed (issue 11), one named test per behaviour.

Each was measured by sending the same web-service calls to real 4.3 and 4.5 sites and to the fake; a later change
to the fake that drifts back fails here. Version-specific answers run against every release the fake imitates.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from enrolsync.connectors.moodle.fake.server import FakeMoodle
from enrolsync.connectors.moodle.fake.versions import CORE_AUTHS, VERSIONS
from tests.support.connectors import MOODLE_TOKEN as TOKEN
from tests.support.moodle import call, new_user

OLD, NEW = ("4.1", "4.3"), ("4.5", "5.0")  # the releases before and after 4.5's changes


def site(version: str = "4.5", **options: Any) -> FakeMoodle:
    return FakeMoodle.seeded(token=TOKEN, version=version) if not options else _site(version, **options)


def _site(version: str, **options: Any) -> FakeMoodle:
    fake = FakeMoodle(token=TOKEN, version=version, **options)
    fake.add_user("alex.example", "Alex", "Example", "alex.example@example.com", idnumber="E1001")
    fake.add_course("C1")
    return fake


def delete(fake: FakeMoodle, user_id: int) -> None:
    fake.service_functions.add("core_user_delete_users")
    assert call(fake, "core_user_delete_users", {"userids": [user_id]}) is None


# -- 1. auth plugins and languages are validated with the parameters: one absent value fails the whole call --------
def test_an_auth_plugin_the_site_lacks_fails_the_whole_create_call() -> None:
    fake = site(auth_plugins=CORE_AUTHS)  # no auth_saml2 installed
    fake.debugging = True
    sso = {**new_user("fresh.two", "f2@example.com"), "auth": "saml2"}
    answer = call(fake, "core_user_create_users", {"users": [new_user("fresh.one", "f1@example.com"), sso]})
    assert (answer["exception"], answer["errorcode"]) == (
        "core\\exception\\invalid_parameter_exception",
        "invalidparameter",
    )
    assert answer["message"] == "Invalid parameter value detected"
    assert "auth" in answer["debuginfo"]
    assert fake.user("fresh.one") is None and fake.user("fresh.two") is None, "no user of the batch is created"


def test_an_auth_plugin_the_site_lacks_fails_the_whole_update_call() -> None:
    fake = site(auth_plugins=CORE_AUTHS)
    alex = fake.user("alex.example")
    assert alex is not None
    users = [{"id": alex.id, "department": "Moved"}, {"id": alex.id, "auth": "oidc"}]
    assert call(fake, "core_user_update_users", {"users": users})["errorcode"] == "invalidparameter"
    assert alex.department == "" and alex.auth == "manual", "no user of the batch is touched"
    shibboleth = call(fake, "core_user_update_users", {"users": [{"id": alex.id, "auth": "shibboleth"}]})
    assert shibboleth == {"warnings": []} and alex.auth == "shibboleth", "a core plugin is installed"


def test_a_language_pack_the_site_lacks_fails_the_whole_call() -> None:
    fake = site(langs=("en", "de"))
    batch = [
        {**new_user("fresh.one", "f1@example.com"), "lang": "de"},
        {**new_user("fresh.two", "f2@example.com"), "lang": "fr"},
    ]
    assert call(fake, "core_user_create_users", {"users": batch})["errorcode"] == "invalidparameter"
    [created] = call(fake, "core_user_create_users", {"users": batch[:1]})
    assert created["username"] == "fresh.one"


def test_searching_by_an_auth_plugin_the_site_lacks_finds_nobody() -> None:
    fake = site()
    by_auth = {"criteria": [{"key": "auth", "value": "saml2"}]}
    assert [u["username"] for u in call(fake, "core_user_get_users", by_auth)["users"]] == ["sam.sample"]
    fake.options.auths = CORE_AUTHS  # saml2 uninstalled: Sam's account keeps `saml2`, the search cleans it to ''
    assert call(fake, "core_user_get_users", by_auth)["users"] == []


def test_updating_user_id_0_changes_nothing_and_says_so() -> None:
    """The probe the connector uses to learn whether a plugin is installed, without writing anything."""
    fake = site(auth_plugins=CORE_AUTHS)
    answer = call(fake, "core_user_update_users", {"users": [{"id": 0, "auth": "ldap"}]})
    assert [w["warningcode"] for w in answer["warnings"]] == ["invaliduserid"]
    assert fake.writes == [], "a call that can change nothing is not counted as a write"
    assert (
        call(fake, "core_user_update_users", {"users": [{"id": 0, "auth": "saml2"}]})["errorcode"] == "invalidparameter"
    )


# -- 2. deleted accounts stay, renamed --------------------------------------------------------------------------
@pytest.mark.parametrize("version", sorted(VERSIONS))
def test_a_deleted_account_is_still_found_by_id_and_only_by_id(version: str) -> None:
    fake = site(version)
    fake.options.now = 1_717_000_000
    delete(fake, 3)
    [gone] = call(fake, "core_user_get_users_by_field", {"field": "id", "values": ["3"]})
    assert gone["username"] == "alex.example@example.com.1717000000"
    assert re.fullmatch(r"[0-9a-f]{32}", gone["email"]) and "idnumber" not in gone and gone["suspended"] is False
    for field, value in (("username", "alex.example"), ("idnumber", "E1001"), ("email", "alex.example@example.com")):
        assert call(fake, "core_user_get_users_by_field", {"field": field, "values": [value]}) == []
    search = call(fake, "core_user_get_users", {"criteria": [{"key": "email", "value": "%"}]})["users"]
    assert 3 not in {u["id"] for u in search}
    assert fake.courses_of(3) == set() and fake.roles_of(3) == set(), "delete_user() unenrols and unassigns"


def test_updating_a_deleted_account_warns_usernotupdateddeleted() -> None:
    fake = site()
    delete(fake, 3)
    answer = call(fake, "core_user_update_users", {"users": [{"id": 3, "suspended": 1}]})
    assert [w["warningcode"] for w in answer["warnings"]] == ["usernotupdateddeleted"]


def test_a_new_account_may_reuse_a_deleted_ones_username_and_email() -> None:
    fake = site()
    delete(fake, 3)
    [created] = call(fake, "core_user_create_users", {"users": [new_user("alex.example", "alex.example@example.com")]})
    assert created["id"] != 3


@pytest.mark.parametrize(("version", "code"), [*((v, "codingerror") for v in OLD), *((v, "userdeleted") for v in NEW)])
def test_enrolling_a_deleted_account(version: str, code: str) -> None:
    fake = site(version)
    delete(fake, 3)
    enrolment = {"roleid": fake.role_id("student"), "userid": 3, "courseid": 3}
    assert call(fake, "enrol_manual_enrol_users", {"enrolments": [enrolment]})["errorcode"] == code


@pytest.mark.parametrize(("version", "code"), [*((v, None) for v in OLD), *((v, "userdeleted") for v in NEW)])
def test_unenrolling_a_deleted_account(version: str, code: str | None) -> None:
    fake = site(version)
    delete(fake, 3)
    answer = call(fake, "enrol_manual_unenrol_users", {"enrolments": [{"userid": 3, "courseid": 2}]})
    assert (answer if code is None else answer["errorcode"]) == code


# -- 3. username search ignores case; by-field lookups by email are exact ---------------------------------------
def test_searching_users_by_username_ignores_case() -> None:
    fake = site()
    found = call(fake, "core_user_get_users", {"criteria": [{"key": "username", "value": "Alex.Example"}]})
    assert [u["id"] for u in found["users"]] == [3]
    exact = call(fake, "core_user_get_users_by_field", {"field": "email", "values": ["ALEX.example@example.com"]})
    assert exact == []


# -- 4. 4.5 answers differently for missing and special users, and namespaces its exception classes ---------------
@pytest.mark.parametrize(
    ("version", "enrol", "unenrol"),
    [
        *((v, ("coding_exception", "codingerror"), ("invalid_parameter_exception", "invalidparameter")) for v in OLD),
        *(
            (v, ("dml_missing_record_exception", "invalidrecord"), ("core\\exception\\moodle_exception", "invaliduser"))
            for v in NEW
        ),
    ],
)
def test_enrolling_and_unenrolling_a_missing_user(
    version: str, enrol: tuple[str, str], unenrol: tuple[str, str]
) -> None:
    fake = site(version)
    entry = {"roleid": fake.role_id("student"), "userid": 999, "courseid": 3}
    answer = call(fake, "enrol_manual_enrol_users", {"enrolments": [entry]})
    assert (answer["exception"], answer["errorcode"]) == enrol
    answer = call(fake, "enrol_manual_unenrol_users", {"enrolments": [{"userid": 999, "courseid": 3}]})
    assert (answer["exception"], answer["errorcode"]) == unenrol


@pytest.mark.parametrize(("version", "code"), [*((v, None) for v in OLD), *((v, "guestsarenotallowed") for v in NEW)])
def test_enrolling_the_guest_account(version: str, code: str | None) -> None:
    fake = site(version)
    entry = {"roleid": fake.role_id("student"), "userid": 1, "courseid": 3}
    answer = call(fake, "enrol_manual_enrol_users", {"enrolments": [entry]})
    assert (answer if code is None else answer["errorcode"]) == code


@pytest.mark.parametrize("version", sorted(VERSIONS))
def test_exception_classes_are_namespaced_from_4_5(version: str) -> None:
    fake = site(version)
    answer = call(fake, "core_webservice_get_site_info", {}, token="nope")
    namespaced = VERSIONS[version].namespaced_exceptions
    assert answer["exception"] == ("core\\exception\\moodle_exception" if namespaced else "moodle_exception")
    assert answer["errorcode"] == "invalidtoken"


@pytest.mark.parametrize("version", sorted(VERSIONS))
def test_site_info_names_the_release(version: str) -> None:
    info = call(site(version), "core_webservice_get_site_info", {})
    assert info["release"].startswith(version) and info["version"] == VERSIONS[version].version


# -- 5. a course role held without an enrolment is not on the roster --------------------------------------------
def test_a_course_role_without_an_enrolment_is_never_listed() -> None:
    fake = site()
    role = {"roleid": fake.role_id("editingteacher"), "userid": 5, "contextlevel": "course", "instanceid": 3}
    assert call(fake, "core_role_assign_roles", {"assignments": [role]}) is None
    assert ("editingteacher", "course", 3) in fake.roles_of(5)
    assert call(fake, "core_enrol_get_enrolled_users", {"courseid": 3}) == []


# -- 6. a function outside the token's service ------------------------------------------------------------------
def test_a_real_function_the_service_lacks_answers_accessexception() -> None:
    fake = site()
    answer = call(fake, "core_cohort_add_cohort_members", {"members": []})
    assert (answer["exception"], answer["errorcode"]) == ("webservice_access_exception", "accessexception")
    assert call(fake, "core_user_delete_users", {"userids": [3]})["errorcode"] == "accessexception"
    assert call(fake, "local_nothing_like_this", {})["errorcode"] == "invalidrecord"


def test_a_user_without_the_capability_gets_nopermissions() -> None:
    fake = site()
    fake.capabilities = {"moodle/user:update"}
    answer = call(fake, "core_user_create_users", {"users": [new_user("fresh.one", "f1@example.com")]})
    assert (answer["exception"], answer["errorcode"]) == (
        "core\\exception\\required_capability_exception",
        "nopermissions",
    )
    assert call(fake, "core_webservice_get_site_info", {})["userissiteadmin"] is False


# -- 7. cosmetics ------------------------------------------------------------------------------------------------
def test_update_warnings_read_as_a_real_site_words_them() -> None:
    fake = site()
    users = [{"id": 4, "email": "alex.example@example.com"}, {"id": 5, "email": "not-an-email"}, {"id": 1, "city": "x"}]
    warnings = call(fake, "core_user_update_users", {"users": users})["warnings"]
    assert [(w["warningcode"], w["message"]) for w in warnings] == [
        ("useremailduplicate", "Duplicate address"),
        ("useremailinvalid", "error/useremailinvalid"),
        ("usernotupdatedguest", "error/usernotupdatedguest"),
    ]


def test_rosters_name_standard_roles_blank_and_leave_out_auth_without_userfields() -> None:
    fake = site()
    [alex, sam] = call(fake, "core_enrol_get_enrolled_users", {"courseid": 2})
    assert alex["roles"] == [{"roleid": 5, "name": "", "shortname": "student", "sortorder": 0}]
    assert not {"auth", "suspended", "lang"} & set(alex) and sam["id"] == 4
    options = [{"name": "userfields", "value": "id,auth,suspended"}]
    [alex, _] = call(fake, "core_enrol_get_enrolled_users", {"courseid": 2, "options": options})
    assert (alex["auth"], alex["suspended"]) == ("manual", False)


def test_a_rolled_back_create_still_consumes_a_user_id() -> None:
    fake = site()
    batch = [new_user("fresh.one", "f1@example.com"), new_user("fresh.two", "alex.example@example.com")]
    assert call(fake, "core_user_create_users", {"users": batch})["errorcode"] == "invalidparameter"
    [created] = call(fake, "core_user_create_users", {"users": batch[:1]})
    assert created["id"] == 7, "ids 6 went with the rolled-back insert, as a database sequence does"


# -- course completion, as completion/classes/external.php answers ---------------------------------------------
def test_course_completion_status_follows_completion_settings_and_the_learner() -> None:
    fake = site()
    ask = {"courseid": 2, "userid": 3}
    status = call(fake, "core_completion_get_course_completion_status", ask)["completionstatus"]
    assert (status["completed"], status["completions"][0]["timecompleted"]) == (False, None)
    fake.complete(3, 2, at=1_717_100_000)
    status = call(fake, "core_completion_get_course_completion_status", ask)["completionstatus"]
    assert (status["completed"], status["completions"][0]["timecompleted"]) == (True, 1_717_100_000)
    teacher = call(fake, "core_completion_get_course_completion_status", {"courseid": 2, "userid": 4})
    assert teacher["errorcode"] == "usernotenroled", "a teacher is not tracked"
    fake.state.courses[2].completion = False
    assert call(fake, "core_completion_get_course_completion_status", ask)["errorcode"] == "cannotviewreport"
    listed = {c["id"]: c["enablecompletion"] for c in call(fake, "core_course_get_courses", {})}
    assert (listed[2], listed[3]) == (0, 1)
    fake.state.courses[2].completion, fake.state.courses[2].criteria = True, False
    assert call(fake, "core_completion_get_course_completion_status", ask)["errorcode"] == "nocriteriaset"
    assert call(fake, "core_completion_get_course_completion_status", {"courseid": 99, "userid": 3})["errorcode"] == (
        "invalidrecord"
    )
