"""The fake answers as Moodle does, called over HTTP without the connector."""

from __future__ import annotations

from enrolsync.connectors.moodle.fake.params import parse_php_form
from enrolsync.connectors.moodle.fake.server import FakeMoodle
from tests.support.moodle import call, new_user


def test_php_brackets_become_nested_lists() -> None:
    pairs = [("users[0][customfields][0][type]", "t"), ("users[0][username]", "a"), ("users[1][username]", "b")]
    assert parse_php_form(pairs) == {"users": [{"customfields": [{"type": "t"}], "username": "a"}, {"username": "b"}]}


def test_create_users_is_one_transaction(fake: FakeMoodle) -> None:
    fake.debugging = True
    batch = [new_user("fresh.one", "fresh.one@example.com"), new_user("fresh.two", "alex.example@example.com")]
    answer = call(fake, "core_user_create_users", {"users": batch})
    assert answer["errorcode"] == "invalidparameter"
    assert answer["debuginfo"] == "Email address already exists: alex.example@example.com"
    assert fake.user("fresh.one") is None and fake.writes == [fake.requests[-1]]


def test_validation_rejects_values_cleaning_would_change(fake: FakeMoodle) -> None:
    answer = call(fake, "core_user_create_users", {"users": [new_user("Fresh.One", "f@example.com")]})
    assert (answer["errorcode"], "debuginfo" in answer) == ("invalidparameter", False)
    answer = call(fake, "core_user_get_users_by_field", {"field": "username", "values": ["Alex.Example"]})
    assert answer["errorcode"] == "invalidparameter"


def test_internal_auth_needs_a_password_sso_does_not(fake: FakeMoodle) -> None:
    fake.debugging = True
    manual = {**new_user("fresh.one", "f1@example.com"), "createpassword": False}
    assert "Invalid password" in call(fake, "core_user_create_users", {"users": [manual]})["debuginfo"]
    sso = {**new_user("fresh.two", "f2@example.com"), "createpassword": False, "auth": "saml2"}
    [created] = call(fake, "core_user_create_users", {"users": [sso]})
    assert created["username"] == "fresh.two"


def test_token_service_and_function_errors(fake: FakeMoodle) -> None:
    assert call(fake, "core_webservice_get_site_info", {}, token="nope")["errorcode"] == "invalidtoken"
    assert call(fake, "core_no_such_function", {})["errorcode"] == "invalidrecord"
    fake.service_functions.discard("core_user_create_users")
    assert call(fake, "core_user_create_users", {"users": []})["errorcode"] == "accessexception"


def test_functions_that_return_nothing_answer_null(fake: FakeMoodle) -> None:
    enrolment = {"roleid": fake.role_id("student"), "userid": 5, "courseid": 3}
    assert call(fake, "enrol_manual_enrol_users", {"enrolments": [enrolment]}) is None
    assert fake.courses_of(5) == {3}


def test_email_search_accepts_wildcards_and_by_field_is_exact(fake: FakeMoodle) -> None:
    found = call(fake, "core_user_get_users", {"criteria": [{"key": "email", "value": "%@EXAMPLE.com"}]})
    assert [u["username"] for u in found["users"]] == ["alex.example", "sam.sample", "kim.placeholder"]
    exact = call(fake, "core_user_get_users_by_field", {"field": "email", "values": ["Alex.Example@example.com"]})
    assert exact == []


def enrolled(fake: FakeMoodle, course_id: int) -> dict[str, list[str]]:
    roster = call(fake, "core_enrol_get_enrolled_users", {"courseid": course_id})
    return {user["username"]: [role["shortname"] for role in user["roles"]] for user in roster}


def test_a_failed_write_leaves_no_trace(fake: FakeMoodle) -> None:
    """All or nothing: after a call fails on its last record, the site answers as if it had never been made."""
    student = fake.role_id("student")
    before = enrolled(fake, 3)
    bad = [{"roleid": student, "userid": 5, "courseid": 3}, {"roleid": student, "userid": 999, "courseid": 3}]
    assert call(fake, "enrol_manual_enrol_users", {"enrolments": bad})["errorcode"] == "invalidrecord"  # 4.5
    assert enrolled(fake, 3) == before and fake.courses_of(5) == set()

    fake.enrol(4, 3, "editingteacher")
    bad = [{"userid": 4, "courseid": 3}, {"userid": 4, "courseid": 999}]
    assert call(fake, "enrol_manual_unenrol_users", {"enrolments": bad})["errorcode"] == "invalidrecord"
    assert enrolled(fake, 3) == {**before, "sam.sample": ["editingteacher"]}

    batch = [new_user("fresh.one", "fresh.one@example.com"), new_user("fresh.two", "ALEX.example@example.com")]
    assert call(fake, "core_user_create_users", {"users": batch})["errorcode"] == "invalidparameter"
    [created] = call(fake, "core_user_create_users", {"users": batch[:1]})  # its username and email are free again
    assert created == {"id": 7, "username": "fresh.one"}, "the rolled-back call consumed id 6 of the sequence"


def test_unenrolling_removes_the_roles_held_in_the_course(fake: FakeMoodle) -> None:
    fake.enrol(4, 3, "student")
    call(
        fake,
        "core_role_assign_roles",
        {"assignments": [{"roleid": 3, "userid": 4, "contextlevel": "course", "instanceid": 3}]},
    )
    assert enrolled(fake, 3)["sam.sample"] == ["editingteacher", "student"]
    assert call(fake, "enrol_manual_unenrol_users", {"enrolments": [{"userid": 4, "courseid": 3}]}) is None
    assert "sam.sample" not in enrolled(fake, 3)
    assert fake.roles_of(4) == {("editingteacher", "course", 2)}, "roles elsewhere stay"


def test_lookups_follow_changes_made_by_hand(fake: FakeMoodle) -> None:
    """Tests and demos change the site as an admin would in Moodle's UI; every answer reflects that at once."""
    alex = fake.user("alex.example")
    assert alex is not None
    alex.deleted, alex.username, alex.idnumber = True, "alex.example@example.com.1717000000", ""  # delete_user()
    assert call(fake, "core_user_get_users_by_field", {"field": "idnumber", "values": ["E1001"]}) == []
    [created] = call(fake, "core_user_create_users", {"users": [new_user("alex.example", "alex.example@example.com")]})
    by_name = call(fake, "core_user_get_users_by_field", {"field": "username", "values": ["alex.example"]})
    assert [u["id"] for u in by_name] == [created["id"]] and fake.user("alex.example") is not None

    sam = fake.state.users[4]
    sam.email = "Sam.Moved@Example.com"
    found = call(fake, "core_user_get_users_by_field", {"field": "email", "values": ["Sam.Moved@Example.com"]})
    assert [u["username"] for u in found] == ["sam.sample"]
    taken = call(fake, "core_user_update_users", {"users": [{"id": 5, "email": "sam.moved@example.com"}]})
    assert [w["warningcode"] for w in taken["warnings"]] == ["useremailduplicate"], "emails compare ignoring case"

    fake.enrol(4, 3, "student")
    fake.enrol(5, 3, "student")
    fake.state.enrolments.pop((5, 3))
    fake.state.assignments = {a for a in fake.state.assignments if a[1] != 4}
    assert enrolled(fake, 3) == {"sam.sample": []}


def test_users_by_id_compare_the_id_as_text(fake: FakeMoodle) -> None:
    found = call(fake, "core_user_get_users_by_field", {"field": "id", "values": ["4", "04", "3", "4"]})
    assert [u["username"] for u in found] == ["alex.example", "sam.sample"], "in id order, once each"


def test_the_records_each_function_returned_are_counted(fake: FakeMoodle) -> None:
    """`served` is what a benchmark weighs a run by: a real site's cost grows with the records it returns."""
    everyone = call(fake, "core_user_get_users", {"criteria": [{"key": "email", "value": "%"}]})["users"]
    call(fake, "core_user_get_users_by_field", {"field": "id", "values": ["3", "4", "999"]})
    call(fake, "core_user_create_users", {"users": [new_user("fresh.one", "fresh.one@example.com")]})
    assert fake.served == {
        "core_user_get_users": len(everyone),
        "core_user_get_users_by_field": 2,
        "core_user_create_users": 1,
    }
