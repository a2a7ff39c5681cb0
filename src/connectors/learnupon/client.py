"""One typed call per LearnUpon endpoint under `{base_url}api/v1/`, with HTTP Basic on every request.

Lists are page-numbered (`?page=N`, 500 records a page) and end when `LU-Has-Next-Page` says false
(docs.learnupon.com/api "Data pagination"). Reads retry through the kit; writes are sent once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, TypeAdapter, ValidationError

from enrolsync.connectors.base import ReadRetryPolicy
from enrolsync.connectors.errors import NotFound, PermanentError
from enrolsync.connectors.kit.auth import Basic
from enrolsync.connectors.kit.errors import transport_errors
from enrolsync.connectors.kit.paginate import PageNumber, paginate
from enrolsync.connectors.kit.retry import with_retry
from enrolsync.connectors.learnupon.config import LearnUponConfig
from enrolsync.connectors.learnupon.errors import MINUTE, classify
from enrolsync.connectors.learnupon.models import (
    BulkJob,
    Created,
    LuCourse,
    LuEnrollment,
    LuGroup,
    LuMember,
    LuUser,
)

API = "api/v1/"
PAGE_SIZE = 500
M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")


def _has_next(response: httpx.Response) -> bool | None:
    value = response.headers.get("LU-Has-Next-Page")
    return None if value is None else value.strip().lower() == "true"


_PAGES = PageNumber(size=PAGE_SIZE, size_param=None, has_next=_has_next)


def _parse(adapter: TypeAdapter[T], body: Any, what: str) -> T:
    try:
        return adapter.validate_python(body)
    except ValidationError as error:
        raise PermanentError(f"unexpected answer shape from LearnUpon {what}") from error


class Budget:
    """Paces requests by the portal's own budget: when an answer says `X-LU-Rate-Limit-Remaining-Minute: 0`,
    the next request waits out the minute (on the injected clock) instead of spending a request on a 429.

    The policy's clock promises only `sleep`; one that also tells the time (the kit's `Clock`) lets a wait
    shrink by the time already gone, otherwise the whole minute is waited.
    """

    def __init__(self, retry: ReadRetryPolicy) -> None:
        self._clock = retry.clock
        self._now: Callable[[], float] | None = getattr(retry.clock, "monotonic", None)
        self._resume_at: float | None = None
        self.waits = 0

    async def wait(self) -> None:
        if self._resume_at is None:
            return
        remaining = self._resume_at - (self._now() if self._now else 0.0)
        self._resume_at = None
        if remaining > 0:
            self.waits += 1
            await self._clock.sleep(remaining)

    def observe(self, response: httpx.Response) -> None:
        if response.headers.get("X-LU-Rate-Limit-Remaining-Minute", "").strip() == "0":
            self._resume_at = (self._now() if self._now else 0.0) + MINUTE


class LearnUponClient:
    def __init__(self, http: httpx.AsyncClient, config: LearnUponConfig, retry: ReadRetryPolicy) -> None:
        self._http = http
        self._auth = Basic(config.api_username, config.api_password)
        self._retry = retry
        self.budget = Budget(retry)

    async def _send(self, request: httpx.Request) -> httpx.Response:
        await self.budget.wait()
        async with transport_errors():
            response = await self._http.send(request, auth=self._auth)
        self.budget.observe(response)
        error = classify(response)
        if error is not None:
            raise error
        return response

    def _request(
        self, method: str, path: str, *, params: Mapping[str, Any] | None = None, body: Any = None
    ) -> httpx.Request:
        return self._http.build_request(
            method, API + path, params=params, json=body, headers={"Accept": "application/json"}
        )

    async def _read(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        request = self._request("GET", path, params=params)
        return (await with_retry(lambda: self._send(request), self._retry)).json()

    async def _write(self, method: str, path: str, body: Any = None, params: Mapping[str, Any] | None = None) -> Any:
        response = await self._send(self._request(method, path, params=params, body=body))
        return response.json() if response.content else {}

    async def _list(self, path: str, key: str, model: type[M], params: Mapping[str, Any] | None = None) -> list[M]:
        adapter: TypeAdapter[list[M]] = TypeAdapter(list[model])  # type: ignore[valid-type]

        async def send(request: httpx.Request) -> httpx.Response:
            return await with_retry(lambda: self._send(request), self._retry)

        def extract(response: httpx.Response) -> Sequence[Any]:
            body = response.json()
            rows = body.get(key, []) if isinstance(body, dict) else None
            if not isinstance(rows, list):
                raise PermanentError(f"unexpected answer shape from LearnUpon {path}")
            return rows

        found: list[M] = []
        async for _, rows in paginate(send, self._request("GET", path, params=params), _PAGES, extract):
            page: list[M] = _parse(adapter, list(rows), path)
            found.extend(page)
        return found

    # -- reads ----------------------------------------------------------------------------------------------------
    async def users(self) -> list[LuUser]:
        return await self._list("users", "user", LuUser)

    async def search_users(self, field: str, value: str) -> list[LuUser]:
        """`GET /users/search?email=|username=`; LearnUpon answers 404 when nobody matches."""
        try:
            body = await self._read("users/search", {field: value})
        except NotFound:
            return []
        rows = body.get("user", []) if isinstance(body, dict) else []
        return _parse(TypeAdapter(list[LuUser]), rows, "users/search")

    async def user(self, user_id: int) -> LuUser | None:
        """`GET /users/{id}`, None when LearnUpon does not know the id. The answer's shape varies between a bare
        user, `{"user": {...}}` and `{"user": [{...}]}` in the samples we found, so all three are read."""
        try:
            body = await self._read(f"users/{user_id}")
        except NotFound:
            return None
        if isinstance(body, dict) and "user" in body:
            body = body["user"]
        if isinstance(body, list):
            body = body[0] if body else None
        return None if body is None else _parse(TypeAdapter(LuUser), body, "users/{id}")

    async def courses(self) -> list[LuCourse]:
        return await self._list("courses", "courses", LuCourse)

    async def enrollments(self, *, course_id: int) -> list[LuEnrollment]:
        return await self._list("enrollments/search", "enrollments", LuEnrollment, {"course_id": course_id})

    async def groups(self) -> list[LuGroup]:
        return await self._list("groups", "groups", LuGroup)

    async def members(self, group_id: int) -> list[LuMember]:
        return await self._list("group_memberships", "user", LuMember, {"group_id": group_id})

    async def bulk_job(self, job_id: str) -> BulkJob:
        return _parse(TypeAdapter(BulkJob), await self._read(f"bulk-operations/jobs/{job_id}"), "bulk job")

    # -- writes ---------------------------------------------------------------------------------------------------
    async def create_user(self, user: Mapping[str, Any]) -> int:
        return _parse(TypeAdapter(Created), await self._write("POST", "users", {"User": dict(user)}), "users").id

    async def update_user(self, user_id: int, change: Mapping[str, Any]) -> None:
        await self._write("PUT", f"users/{user_id}", {"User": dict(change)})

    async def enrol(self, user_id: int, course_id: int, due_on: date | None = None) -> int:
        """`POST /enrollments`; `due_date` (`YYYY-MM-DD`) is an optional create parameter (docs.learnupon.com/api,
        "Create an enrollment"): an advisory date, unlike `expires_at`, which ends the learner's access."""
        item: dict[str, Any] = {"user_id": user_id, "course_id": course_id}
        if due_on is not None:
            item["due_date"] = due_on.isoformat()
        body = {"Enrollment": item}
        return _parse(TypeAdapter(Created), await self._write("POST", "enrollments", body), "enrollments").id

    async def set_due_date(self, enrollment_id: int, due_on: date) -> None:
        """`PATCH /enrollments/{id}` with `due_date` (`YYYY-MM-DD`); the documented example sends the field bare,
        not wrapped in `Enrollment` (docs.learnupon.com/api, "Update an enrollment")."""
        await self._write("PATCH", f"enrollments/{enrollment_id}", {"due_date": due_on.isoformat()})

    async def unenrol(self, enrollment_id: int) -> None:
        await self._write("DELETE", f"enrollments/{enrollment_id}")

    async def submit_bulk_enrolment(self, items: Sequence[tuple[int, int]]) -> str:
        body = {"items": [{"course_id": course, "user_id": user} for user, course in items]}
        answer = await self._write("POST", "bulk-operations/submit/bulk-enrollment", body)
        return _parse(TypeAdapter(BulkJob), answer, "bulk-enrollment").job_id

    async def create_group(self, title: str) -> int:
        body = {"Group": {"title": title, "description": "Made by enrolsync for a manager's team."}}
        return _parse(TypeAdapter(Created), await self._write("POST", "groups", body), "groups").id

    async def join(self, group_id: int, user_id: int, type_id: int) -> int:
        body = {"GroupMembership": {"group_id": group_id, "user_id": user_id, "group_membership_type_id": type_id}}
        return _parse(TypeAdapter(Created), await self._write("POST", "group_memberships", body), "memberships").id

    async def leave(self, membership_id: int) -> None:
        await self._write("DELETE", f"group_memberships/{membership_id}")
