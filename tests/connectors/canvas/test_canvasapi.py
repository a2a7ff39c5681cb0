"""A second reader: the independent `canvasapi` client (PyPI, Python Canvas wrapper from UCF) drives the fake over
real loopback HTTP, so a shape our connector and our fake agree on but Canvas clients would not read fails here.

canvasapi speaks `requests`, so the fake runs under uvicorn on 127.0.0.1 (a socket bound and listening before the
server thread starts, so no request waits for it). What canvasapi sends is also checked against Instructure's
documents, like the connector's requests.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from canvasapi import Canvas
from canvasapi.canvas_object import CanvasObject
from canvasapi.exceptions import CanvasException, InvalidAccessToken
from canvasapi.paginated_list import PaginatedList

from enrolsync.connectors.canvas.fake import FakeCanvas
from enrolsync.connectors.testing.swagger12 import SwaggerDocs

SPEC_FILES = sorted((Path(__file__).parent / "swagger").glob("canvas-*.json"))
TOKEN = "canvasapi-loopback-token"


class Recording(FakeCanvas):
    """The fake, keeping each exchange so canvasapi's requests can be checked against the documents."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.exchanges: list[tuple[httpx.Request, httpx.Response]] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        response = super().handler(request)
        self.exchanges.append((request, response))
        return response


@pytest.fixture
def served() -> Iterator[tuple[Recording, str]]:
    fake = Recording(token=TOKEN)
    fake.add_course("Workplace Safety", sis_course_id="SAFETY-101")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    server = uvicorn.Server(
        uvicorn.Config(fake.asgi, interface="asgi3", lifespan="off", log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        yield fake, f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def canvas(url: str, token: str = TOKEN) -> Canvas:
    with pytest.warns(UserWarning, match="HTTP URLs"):  # canvasapi warns on http://; loopback has no TLS
        return Canvas(url, token)


def test_canvasapi_creates_lists_enrols_and_reads_enrolments(served: tuple[Recording, str]) -> None:
    fake, url = served
    api = canvas(url)
    account = api.get_account(1)
    assert account.id == 1 and account.name == fake.account_name

    made = [
        account.create_user(
            pseudonym={"unique_id": f"learner{n}@example.com", "sis_user_id": f"E-{n}", "send_confirmation": False},
            user={"name": f"Learner {n}", "sortable_name": f"{n}, Learner", "skip_registration": True},
            communication_channel={"type": "email", "address": f"learner{n}@example.com", "skip_confirmation": True},
        )
        for n in range(5)
    ]
    assert [u.sis_user_id for u in made] == [f"E-{n}" for n in range(5)]
    assert made[0].login_id == "learner0@example.com"

    for n in range(5, 230):  # canvasapi asks for 100 a page (it appends per_page=100): three pages in all
        fake.add_user("Seeded", f"Person {n}", f"seeded{n}", sis_user_id=f"E-{n}")
    listed = list(account.get_users())  # followed through the Link header's rel="next"
    assert sorted(u.sis_user_id for u in listed) == sorted(f"E-{n}" for n in range(230))
    page_requests = [r for r, _ in fake.exchanges if r.url.path == "/api/v1/accounts/1/users" and r.method == "GET"]
    assert len(page_requests) == 3 and all("bookmark" in str(r.url) for r in page_requests[1:])

    course = api.get_course("SAFETY-101", use_sis_id=True)
    for user in made[:3]:
        enrolment = course.enroll_user(user, enrollment={"type": "StudentEnrollment", "enrollment_state": "active"})
        assert (enrolment.user_id, enrolment.type, enrolment.enrollment_state) == (
            user.id,
            "StudentEnrollment",
            "active",
        )
    manager = made[4]
    manager.add_observee(made[0].id)

    enrolments = {(e.user_id, e.type, e.associated_user_id) for e in course.get_enrollments()}
    assert enrolments == {(u.id, "StudentEnrollment", None) for u in made[:3]} | {
        (manager.id, "ObserverEnrollment", made[0].id)
    }
    assert [u.id for u in manager.get_observees()] == [made[0].id]
    concluded = course.get_enrollments(user_id=made[1].id)[0].deactivate("conclude")
    assert concluded.enrollment_state == "completed"

    if SPEC_FILES:
        docs = SwaggerDocs.load(SPEC_FILES)
        problems = [
            p
            for request, response in fake.exchanges
            if (op := docs.operation(request.method, request.url.path)) is not None
            for p in docs.request_problems(request, op) + docs.response_problems(response, op)
        ]
        assert problems == []


def test_canvasapi_reads_the_fakes_errors(served: tuple[Recording, str]) -> None:
    fake, url = served
    with pytest.raises(InvalidAccessToken):
        canvas(url, "wrong-token").get_account(1)
    api = canvas(url)
    account = api.get_account(1)
    pseudonym = {"unique_id": "taken@example.com"}
    account.create_user(pseudonym=pseudonym, user={"name": "First"})
    with pytest.raises(CanvasException) as caught:
        account.create_user(pseudonym=pseudonym, user={"name": "Second"})
    assert "unique_id" in str(caught.value)


def test_canvasapi_reads_the_progress_fields(served: tuple[Recording, str]) -> None:
    """What the progress read-back relies on, read by canvasapi: a learner's activity, concluded state and grades on
    their enrolment, and their module progress from `bulk_user_progress` paged through the Link header."""
    fake, url = served
    course_id = min(fake.state.courses)
    fake.require(course_id, 2)
    students = [fake.add_user("Prog", f"Learner {n:03}", f"prog{n}", sis_user_id=f"PR-{n}") for n in range(120)]
    for user in students:
        fake.state.enroll(fake.state.courses[course_id], user, fake.state.roles[3], "active")
    fake.visit(students[0], course_id, "2026-10-01T08:00:00Z")
    fake.grade(students[0], course_id, current=91.5, final=88.0)
    fake.meet(students[0], course_id, 2, "2026-10-12T16:26:08Z")
    fake.visit(students[1], course_id, "2026-10-02T08:00:00Z")
    fake.conclude(students[1], course_id, "2026-10-20T10:00:00Z")
    api = canvas(url)
    course = api.get_course(course_id)

    read = {e.user_id: e for e in course.get_enrollments(type=["StudentEnrollment"], state=["active", "completed"])}
    assert len(read) == 120
    first, second = read[students[0]], read[students[1]]
    assert (first.last_activity_at, first.grades["current_score"], first.grades["final_score"]) == (
        "2026-10-01T08:00:00Z", 91.5, 88.0
    )  # fmt: skip
    assert (second.enrollment_state, second.updated_at) == ("completed", "2026-10-20T10:00:00Z")

    # canvasapi has no call for this endpoint; its own paginated list follows the Link header over two pages.
    requester = api._Canvas__requester  # type: ignore[attr-defined]
    rows = list(PaginatedList(CanvasObject, requester, "GET", f"courses/{course_id}/bulk_user_progress"))
    progress = {row.id: row.progress for row in rows}
    assert len(progress) == 119 and students[1] not in progress  # the concluded student is not listed
    assert progress[students[0]] == {
        "requirement_count": 2, "requirement_completed_count": 2, "next_requirement_url": None,
        "completed_at": "2026-10-12T16:26:08Z",
    }  # fmt: skip
    assert progress[students[2]]["requirement_completed_count"] == 0 and progress[students[2]]["completed_at"] is None
    pages = [r for r, _ in fake.exchanges if r.url.path.endswith("/bulk_user_progress")]
    assert len(pages) == 2
