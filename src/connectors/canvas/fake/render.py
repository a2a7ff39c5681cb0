"""The fake's records as Instructure's API documents them (the models of `/doc/api/*.json`): User, Enrollment,
Course, Account, AuthenticationProvider, and the Login object (which the published Logins document does not model;
its fields follow the example in `pseudonyms_controller.rb`'s API doc comment)."""

from __future__ import annotations

from typing import Any

from enrolsync.connectors.canvas.fake.state import (
    ROOT_ACCOUNT_ID,
    AccountState,
    FakeCourse,
    FakeEnrollment,
    FakeLogin,
    FakeProvider,
    FakeUser,
)

Json = dict[str, Any]


def user(state: AccountState, u: FakeUser, *, email: bool = True) -> Json:
    login = state.primary_login(u.id)
    body: Json = {
        "id": u.id,
        "name": u.name,
        "sortable_name": u.sortable_name,
        "short_name": u.short_name,
        "sis_user_id": login.sis_user_id if login else None,
        "integration_id": login.integration_id if login else None,
        "sis_import_id": None,
        "login_id": login.unique_id if login else None,
    }
    if email:
        body["email"] = u.email
    return body


def login(state: AccountState, lg: FakeLogin) -> Json:
    provider = state.providers.get(lg.authentication_provider_id or 0)
    return {
        "id": lg.id,
        "user_id": lg.user_id,
        "account_id": lg.account_id,
        "unique_id": lg.unique_id,
        "sis_user_id": lg.sis_user_id,
        "integration_id": lg.integration_id,
        "authentication_provider_id": lg.authentication_provider_id,
        "authentication_provider_type": provider.auth_type if provider else None,
        "workflow_state": lg.workflow_state,
        "declared_user_type": None,
        "created_at": None,
    }


def enrollment(state: AccountState, e: FakeEnrollment, *, base_url: str) -> Json:
    course = state.courses[e.course_id]
    login = state.primary_login(e.user_id)
    body: Json = {
        "id": e.id,
        "course_id": e.course_id,
        "sis_course_id": course.sis_course_id,
        "course_integration_id": None,
        "course_section_id": e.course_section_id,
        "section_integration_id": None,
        "sis_account_id": None,
        "sis_section_id": None,
        "sis_user_id": login.sis_user_id if login else None,
        "enrollment_state": e.enrollment_state,
        "limit_privileges_to_course_section": False,
        "sis_import_id": None,
        "root_account_id": ROOT_ACCOUNT_ID,
        "type": e.type,
        "user_id": e.user_id,
        "associated_user_id": e.associated_user_id,
        "role": e.role,
        "role_id": e.role_id,
        "created_at": e.created_at,
        "updated_at": e.updated_at,
        "start_at": None,
        "end_at": None,
        "last_activity_at": e.last_activity_at,
        "last_attended_at": None,
        "total_activity_time": e.total_activity_time,
        "html_url": f"{base_url}/courses/{e.course_id}/users/{e.user_id}",
        "user": user(state, state.users[e.user_id], email=False),
    }
    if e.type == "StudentEnrollment":
        body["grades"] = {
            "html_url": f"{base_url}/courses/{e.course_id}/grades/{e.user_id}",
            "current_grade": None,
            "final_grade": None,
            "current_score": e.current_score,
            "final_score": e.final_score,
        }
    return body


def user_progress(state: AccountState, e: FakeEnrollment, *, base_url: str) -> Json:
    """A row of `bulk_user_progress`: the student and their CourseProgress, or CourseProgress's error object for a
    course without module completion requirements (`course_progress.rb`, `to_json`)."""
    course = state.courses[e.course_id]
    u = state.users[e.user_id]
    if course.requirements:
        done = e.requirements_met >= course.requirements
        progress: Json = {
            "requirement_count": course.requirements,
            "requirement_completed_count": min(e.requirements_met, course.requirements),
            "next_requirement_url": None if done else f"{base_url}/courses/{course.id}/modules/items/1",
            "completed_at": e.modules_completed_at if done else None,
        }
    else:
        progress = {"error": {"message": NOT_MODULE_BASED}}
    return {
        "id": u.id,
        "display_name": u.short_name,
        "avatar_image_url": f"{base_url}/images/messages/avatar-50.png",
        "html_url": f"{base_url}/courses/{course.id}/users/{u.id}",
        "pronouns": None,
        "progress": progress,
    }


NOT_MODULE_BASED = (
    "no progress available because this course is not module based (has modules and module completion "
    "requirements) or the user is not enrolled as a student in this course"
)


def course(c: FakeCourse) -> Json:
    return {
        "id": c.id,
        "sis_course_id": c.sis_course_id,
        "uuid": f"course-uuid-{c.id}",
        "integration_id": None,
        "name": c.name,
        "course_code": c.course_code,
        "workflow_state": c.workflow_state,
        "account_id": c.account_id,
        "root_account_id": ROOT_ACCOUNT_ID,
        "enrollment_term_id": 1,
        "start_at": None,
        "end_at": None,
        "default_view": "modules",
        "is_public": False,
        "blueprint": False,
        "template": False,
    }


def account(account_id: int, name: str) -> Json:
    return {
        "id": account_id,
        "name": name,
        "uuid": f"account-uuid-{account_id}",
        "parent_account_id": None,
        "root_account_id": None,
        "default_time_zone": "Etc/UTC",
        "sis_account_id": None,
        "integration_id": None,
        "sis_import_id": None,
        "lti_guid": f"account-uuid-{account_id}:canvas-lms",
        "workflow_state": "active",
    }


def provider(p: FakeProvider) -> Json:
    body: Json = {"id": p.id, "auth_type": p.auth_type, "position": p.position}
    if p.auth_type == "saml":
        body |= {"idp_entity_id": p.idp_entity_id, "login_attribute": p.login_attribute or "NameID"}
    if p.auth_type == "openid_connect":
        body |= {"login_attribute": p.login_attribute or "sub"}
    return body
