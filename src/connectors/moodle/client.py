"""One typed call per Moodle web-service function, over `POST /webservice/rest/server.php`.

Requests are form-encoded with `wstoken`, `wsfunction`, `moodlewsrestformat=json` (Moodle answers XML without it)
and arrays in PHP bracket notation (`users[0][customfields][0][type]=...`). The token travels in the body, never
in the URL, so request logs (method, host, path) cannot leak it. Reads retry through the kit; writes are sent once.
At most `concurrency` calls are in flight (the connection's `max_concurrency`): a site answers as many at once as
it has PHP workers, and independent reads (lookup chunks, course rosters) go out together up to that.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from typing import Any, TypeVar
from urllib.parse import quote_plus

import httpx
from pydantic import BaseModel, SecretStr, TypeAdapter, ValidationError

from enrolsync.connectors.base import ReadRetryPolicy
from enrolsync.connectors.errors import PermanentError
from enrolsync.connectors.kit.batching import all_of
from enrolsync.connectors.kit.errors import classify as classify_http
from enrolsync.connectors.kit.errors import transport_errors
from enrolsync.connectors.kit.retry import with_retry
from enrolsync.connectors.moodle.errors import answer
from enrolsync.connectors.moodle.models import (
    Course,
    CreatedUser,
    EnrolledUser,
    MoodleUser,
    SiteInfo,
    UpdateAnswer,
    UserSearch,
    Warning,
)

SERVER_PATH = "webservice/rest/server.php"
_FORMAT = "moodlewsrestformat=json"
LOOKUP_CHUNK = 200  # values per get_users_by_field call: PHP's max_input_vars (default 1000) truncates silently
T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)

Payload = Mapping[str, Any]


def encode(params: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """Flatten nested mappings and sequences into PHP bracket notation: `users[0][customfields][0][type]`."""
    pairs: list[tuple[str, str]] = []
    for key, value in params.items():
        name = f"{prefix}[{key}]" if prefix else str(key)
        pairs.extend(_encode_value(name, value))
    return pairs


def _encode_value(name: str, value: Any) -> list[tuple[str, str]]:
    if value is None:
        return []
    if isinstance(value, Mapping):
        return encode(value, name)
    if isinstance(value, list | tuple):
        return encode({str(i): item for i, item in enumerate(value)}, name)
    if isinstance(value, bool):  # PARAM_BOOL accepts only 0/1 (external_api::validate_parameters)
        return [(name, "1" if value else "0")]
    return [(name, str(value))]


def form(params: Payload) -> str:
    """`urlencode(encode(params))`, built in one pass: a 100-user create is a thousand pairs, and building them
    through nested dicts, then quoting each name and value whole, cost the engine more than the request did."""
    parts: list[str] = []
    for key, value in params.items():
        _form_into(parts, _quote(str(key)), value)
    return "&".join(parts)


def _form_into(parts: list[str], name: str, value: Any) -> None:
    # `name` is already quoted: a bracket is `%5B`/`%5D`, as urlencode quotes `users[0][type]` whole. Leaves
    # (strings and ids, nearly every value) are written in the loop below, told by their exact type, without a
    # call of their own: a call and an `isinstance` against `Mapping` per leaf cost more than writing the pair.
    if value is None:
        return
    if isinstance(value, Mapping):
        pairs: Iterable[tuple[Any, Any]] = ((_key(key), item) for key, item in value.items())
    elif isinstance(value, list | tuple):
        pairs = enumerate(value)
    elif isinstance(value, bool):  # PARAM_BOOL accepts only 0/1 (external_api::validate_parameters)
        parts.append(f"{name}={'1' if value else '0'}")
        return
    else:
        parts.append(f"{name}={_quote(str(value))}")
        return
    for key, item in pairs:
        kind = type(item)
        if kind is str:
            parts.append(f"{name}%5B{key}%5D={_quote(item)}")
        elif kind is int:
            parts.append(f"{name}%5B{key}%5D={item}")
        else:
            _form_into(parts, f"{name}%5B{key}%5D", item)


_KEYS: dict[str, str] = {}  # quoted field names: a handful, written thousands of times
_KEYS_HELD = 1000  # field names, not data; bounded all the same


def _key(key: Any) -> str:
    quoted = _KEYS.get(key) if type(key) is str else None
    if quoted is None:
        quoted = _quote(str(key))
        if type(key) is str and len(_KEYS) < _KEYS_HELD:
            _KEYS[key] = quoted
    return quoted


# What quote_plus writes for each ASCII character it does not leave as it is (letters, digits, `_.-~`).
_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~")
_ASCII_QUOTED = {c: "+" if c == 0x20 else f"%{c:02X}" for c in range(128) if c not in _SAFE}


def _quote(text: str) -> str:
    """`quote_plus(text)`: ASCII text (nearly all) in one `str.translate`, which quote_plus does a byte at a time
    in Python; other text by quote_plus itself, which quotes its UTF-8 bytes."""
    return text.translate(_ASCII_QUOTED) if text.isascii() else quote_plus(text)


def parse(model: type[M], body: Any, function: str) -> M:
    """`body` as a wire model; an answer of another shape is a `PermanentError` naming the function."""
    try:
        return model.model_validate(body)
    except ValidationError as error:
        raise PermanentError(f"unexpected answer shape from {function}") from error


def _parse(adapter: TypeAdapter[T], body: Any, function: str) -> T:
    try:
        return adapter.validate_python(body)
    except ValidationError as error:
        raise PermanentError(f"unexpected answer shape from {function}") from error


def _parse_list(adapter: TypeAdapter[list[M]], response: httpx.Response, function: str) -> list[M]:
    """A list answer decoded and validated in one pass (pydantic's JSON parser: half the time of `json.loads` and
    validation after it). No error body is a list, so one that is cannot hide a Moodle exception; any other
    answer, or one that does not validate, takes the general path, which names the error."""
    if response.content.lstrip()[:1] == b"[" and classify_http(response) is None:
        try:
            return adapter.validate_json(response.content)
        except ValidationError:
            pass  # cut short, or another shape: said below
    return _parse(adapter, answer(response), function)


_USERS = TypeAdapter(list[MoodleUser])
_CREATED = TypeAdapter(list[CreatedUser])
_COURSES = TypeAdapter(list[Course])
_ENROLLED = TypeAdapter(list[EnrolledUser])
_UPDATE = TypeAdapter(UpdateAnswer | None)


def _head(token: str, function: str) -> str:
    """The fields every call starts with: the token, the function and JSON answers (Moodle answers XML without)."""
    return f"wstoken={_quote(token)}&wsfunction={_quote(function)}&{_FORMAT}"


class MoodleClient:
    def __init__(
        self, http: httpx.AsyncClient, token: SecretStr, retry: ReadRetryPolicy, *, concurrency: int = 1
    ) -> None:
        self._http = http
        self._token = token
        self._retry = retry
        self.concurrency = concurrency
        self._slots = asyncio.Semaphore(concurrency)

    async def _post(self, function: str, params: Payload) -> httpx.Response:
        head = _head(self._token.get_secret_value(), function)
        async with self._slots, transport_errors():
            return await self._http.post(
                SERVER_PATH,
                content=f"{head}&{form(params)}".encode() if params else head.encode(),
                headers={"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"},
            )

    async def _call(self, function: str, params: Payload) -> Any:
        return answer(await self._post(function, params))

    async def read(self, function: str, params: Payload) -> Any:
        """Call a function that changes nothing; transient failures are retried per the read policy."""
        return await with_retry(lambda: self._call(function, params), self._retry)

    async def read_list(self, adapter: TypeAdapter[list[M]], function: str, params: Payload) -> list[M]:
        """`read`, for a function answering a list: decoded and validated in one pass (`_parse_list`)."""

        async def call() -> list[M]:
            return _parse_list(adapter, await self._post(function, params), function)

        return await with_retry(call, self._retry)

    async def write(self, function: str, params: Payload) -> Any:
        """Call a function that changes state, once: the executor retries after re-reading."""
        return await self._call(function, params)

    # -- reads ----------------------------------------------------------------------------------------------------
    async def site_info(self) -> SiteInfo:
        """The site and the functions the token's service may call; proves the token."""
        return parse(SiteInfo, await self.read("core_webservice_get_site_info", {}), "site info")

    async def search_users(self, criteria: Sequence[tuple[str, str]]) -> list[MoodleUser]:
        """core_user_get_users: AND of `(key, value)` criteria; `email` and names accept `%` wildcards."""
        body = await self.read("core_user_get_users", {"criteria": [{"key": k, "value": v} for k, v in criteria]})
        return list(parse(UserSearch, body, "core_user_get_users").users)

    async def users_by_field(self, field: str, values: Sequence[str]) -> list[MoodleUser]:
        """core_user_get_users_by_field for `id | idnumber | username | email`; missing values are simply absent."""
        return [user async for users in self.users_by_field_pages(field, values) for user in users]

    async def users_by_field_pages(self, field: str, values: Sequence[str]) -> AsyncIterator[list[MoodleUser]]:
        """`users_by_field`, streamed: chunks of `LOOKUP_CHUNK` values, `concurrency` chunks in flight at once, so
        reading many accounts holds a few chunks' answers at a time, never all of them."""
        unique = list(dict.fromkeys(values))
        chunks = [unique[start : start + LOOKUP_CHUNK] for start in range(0, len(unique), LOOKUP_CHUNK)]
        for first in range(0, len(chunks), self.concurrency):
            wave = chunks[first : first + self.concurrency]
            for users in await all_of(self._users_by_field(field, chunk) for chunk in wave):
                yield users

    async def _users_by_field(self, field: str, chunk: Sequence[str]) -> list[MoodleUser]:
        params = {"field": field, "values": list(chunk)}
        return await self.read_list(_USERS, "core_user_get_users_by_field", params)

    async def courses(self) -> list[Course]:
        """Every course, the site course (format `site`) included."""
        return await self.read_list(_COURSES, "core_course_get_courses", {})

    async def enrolled_users(self, course_id: int, fields: Sequence[str]) -> list[EnrolledUser]:
        """A course's participants with only the user `fields` asked for (roles are course-context roles)."""
        options = [{"name": "userfields", "value": ",".join(fields)}]
        params = {"courseid": course_id, "options": options}
        return await self.read_list(_ENROLLED, "core_enrol_get_enrolled_users", params)

    # -- writes ---------------------------------------------------------------------------------------------------
    async def create_users(self, users: Sequence[Payload]) -> list[CreatedUser]:
        """One transaction: the first bad user aborts the whole call and nothing is created."""
        body = await self.write("core_user_create_users", {"users": list(users)})
        return _parse(_CREATED, body, "core_user_create_users")

    async def update_users(self, users: Sequence[Payload]) -> list[Warning]:
        """Moodle 4.0+ returns a warning per user it skipped; older sites return null (and are all-or-nothing)."""
        answer = _parse(_UPDATE, await self.write("core_user_update_users", {"users": list(users)}), "update")
        return list(answer.warnings) if answer else []

    async def enrol(self, enrolments: Sequence[Payload]) -> None:
        """Manual enrolments `{roleid, userid, courseid}`; one transaction; re-enrolling updates (an upsert)."""
        await self.write("enrol_manual_enrol_users", {"enrolments": list(enrolments)})

    async def unenrol(self, enrolments: Sequence[Payload]) -> None:
        """Remove manual enrolments `{userid, courseid}` (and, with the last one, the user's course roles)."""
        await self.write("enrol_manual_unenrol_users", {"enrolments": list(enrolments)})

    async def assign_roles(self, assignments: Sequence[Payload]) -> None:
        """`{roleid, userid, contextlevel, instanceid}`; one transaction; assigning a held role changes nothing."""
        await self.write("core_role_assign_roles", {"assignments": list(assignments)})

    async def unassign_roles(self, unassignments: Sequence[Payload]) -> None:
        """Like `assign_roles`, in reverse."""
        # The parameter is `unassignments` here, not `assignments` (core_role_external::unassign_roles_parameters).
        await self.write("core_role_unassign_roles", {"unassignments": list(unassignments)})
