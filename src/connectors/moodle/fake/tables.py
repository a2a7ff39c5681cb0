"""The fake site's tables: they index what the web-service functions look up, and can undo one call's writes.

Moodle runs each write function in one delegated transaction (the first bad record rolls the whole call back). The
fake once copied the whole site before every write and scanned every user for each uniqueness check, which is
quadratic: at a benchmark's 100,000 people the fake measured itself instead of enrolsync. So these tables keep
indexes (users by username, email and idnumber; enrolments by course and by user; role assignments by holder and
context) and, while a call runs, a journal of how to undo each change.

Tests change the site by hand as an admin would in Moodle's UI (a user renamed and deleted, a roster emptied
behind enrolsync's back, the role assignments replaced wholesale), so the indexes follow every write to a table
and to a user's looked-up attributes, not only the fake's own.
"""

from __future__ import annotations

from collections.abc import Callable, ItemsView, Iterable, Iterator, KeysView, MutableMapping, MutableSet, ValuesView
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from enrolsync.connectors.moodle.fake.site import FakeUser

K = TypeVar("K")
V = TypeVar("V")
Assignment = tuple[int, int, str, int]  # (role id, user id, context level, instance id); system instance is 0
Undo = Callable[[], None]
_ABSENT: Any = object()
INDEXED_USER_FIELDS = frozenset({"username", "email", "idnumber"})


class Journal:
    """Records how to undo each write while a transaction is open; replays that backwards if the call fails."""

    def __init__(self) -> None:
        self._undo: list[Undo] | None = None

    @property
    def recording(self) -> bool:
        return self._undo is not None

    def record(self, undo: Undo) -> None:
        if self._undo is not None:
            self._undo.append(undo)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        if self._undo is not None:
            raise RuntimeError("the fake runs one web-service call at a time")
        self._undo = []
        try:
            yield
        except BaseException:
            steps, self._undo = self._undo, None  # undoing writes must not journal them again
            for undo in reversed(steps):
                undo()
            raise
        finally:
            self._undo = None


class Table(MutableMapping[K, V]):
    """A dict whose writes are journalled; subclasses keep indexes in `_added` and `_removed`."""

    def __init__(self, journal: Journal, rows: Iterable[tuple[K, V]] = ()) -> None:
        self._journal = journal
        self._rows: dict[K, V] = {}
        for key, value in rows:
            self[key] = value

    def __getitem__(self, key: K) -> V:
        return self._rows[key]

    def __contains__(self, key: object) -> bool:
        return key in self._rows

    def __iter__(self) -> Iterator[K]:
        return iter(self._rows)

    def __len__(self) -> int:
        return len(self._rows)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._rows!r})"

    # The plain dict's views: reading a 100,000-user site goes at dict speed, not through __getitem__.
    def keys(self) -> KeysView[K]:
        return self._rows.keys()

    def values(self) -> ValuesView[V]:
        return self._rows.values()

    def items(self) -> ItemsView[K, V]:
        return self._rows.items()

    def __setitem__(self, key: K, value: V) -> None:
        old = self._rows.get(key, _ABSENT)
        if old is not _ABSENT:
            self._removed(key, old)
        self._rows[key] = value
        self._added(key, value)
        self._journal.record(lambda: self._put_back(key, old))

    def __delitem__(self, key: K) -> None:
        old = self._rows.pop(key)
        self._removed(key, old)
        self._journal.record(lambda: self._put_back(key, old))

    def _put_back(self, key: K, old: V) -> None:
        if old is _ABSENT:
            del self[key]
        else:
            self[key] = old

    def _added(self, key: K, value: V) -> None:
        """Index a row just stored."""

    def _removed(self, key: K, value: V) -> None:
        """Forget a row just replaced or deleted."""


def _link(index: dict[Any, set[int]], key: Any, user_id: int) -> None:
    index.setdefault(key, set()).add(user_id)


def _unlink(index: dict[Any, set[int]], key: Any, user_id: int) -> None:
    held = index.get(key)
    if held is not None:
        held.discard(user_id)
        if not held:
            del index[key]


class Users(Table[int, "FakeUser"]):
    """Users by id, indexed by username, email (lower-cased, as the uniqueness checks compare) and idnumber.

    Deleted users stay in the indexes: a deleted account still holds its username, as in Moodle's `user` table.
    """

    def __init__(self, journal: Journal, rows: Iterable[tuple[int, FakeUser]] = ()) -> None:
        self._by_username: dict[str, set[int]] = {}
        self._by_email: dict[str, set[int]] = {}
        self._by_idnumber: dict[str, set[int]] = {}
        super().__init__(journal, rows)

    def named(self, username: str) -> list[FakeUser]:
        return self._find(self._by_username, username, lambda user: user.username == username)

    def with_email(self, email: str) -> list[FakeUser]:
        """Users whose email equals `email` ignoring case (`str.lower`, as the fake's uniqueness checks)."""
        return self._find(self._by_email, email.lower(), lambda user: True)

    def with_idnumber(self, idnumber: str) -> list[FakeUser]:
        return self._find(self._by_idnumber, idnumber, lambda user: user.idnumber == idnumber)

    def _find(self, index: dict[Any, set[int]], key: Any, keep: Callable[[FakeUser], bool]) -> list[FakeUser]:
        users = (self._rows[user_id] for user_id in sorted(index.get(key, ())))
        return [user for user in users if keep(user)]

    def _added(self, key: int, value: FakeUser) -> None:
        if key != value.id:
            raise ValueError(f"user {value.id} stored under id {key}: the indexes name users by their id")
        value.attach(self)
        self._index(value)

    def _removed(self, key: int, value: FakeUser) -> None:
        self._unindex(value)
        value.attach(None)

    def _index(self, user: FakeUser) -> None:
        _link(self._by_username, user.username, user.id)
        _link(self._by_email, user.email.lower(), user.id)
        _link(self._by_idnumber, user.idnumber, user.id)

    def _unindex(self, user: FakeUser) -> None:
        _unlink(self._by_username, user.username, user.id)
        _unlink(self._by_email, user.email.lower(), user.id)
        _unlink(self._by_idnumber, user.idnumber, user.id)

    def changed(self, user: FakeUser, name: str, old: Any, set_value: Callable[[], None]) -> None:
        """A user's attribute is being set (by `FakeUser.__setattr__`): re-index it and journal the old value."""
        indexed = name in INDEXED_USER_FIELDS
        if indexed:
            self._unindex(user)
        set_value()
        if indexed:
            self._index(user)
        self._journal.record(lambda: setattr(user, name, old))


class Enrolments(Table[tuple[int, int], dict[str, int]]):
    """(user id, course id) -> enrolment status, indexed by course (its roster) and by user."""

    def __init__(self, journal: Journal, rows: Iterable[tuple[tuple[int, int], dict[str, int]]] = ()) -> None:
        self._by_course: dict[int, set[int]] = {}
        self._by_user: dict[int, set[int]] = {}
        super().__init__(journal, rows)

    def users_in(self, course_id: int) -> set[int]:
        return set(self._by_course.get(course_id, ()))

    def courses_of(self, user_id: int) -> set[int]:
        return set(self._by_user.get(user_id, ()))

    def _added(self, key: tuple[int, int], value: dict[str, int]) -> None:
        user_id, course_id = key
        _link(self._by_course, course_id, user_id)
        _link(self._by_user, user_id, course_id)

    def _removed(self, key: tuple[int, int], value: dict[str, int]) -> None:
        user_id, course_id = key
        _unlink(self._by_course, course_id, user_id)
        _unlink(self._by_user, user_id, course_id)


class Assignments(MutableSet[Assignment]):
    """Role assignments, indexed by (user, context level, instance) and by user."""

    def __init__(self, journal: Journal, rows: Iterable[Assignment] = ()) -> None:
        self._journal = journal
        self._rows: set[Assignment] = set()
        self._by_context: dict[tuple[int, str, int], set[int]] = {}  # -> role ids
        self._by_user: dict[int, set[Assignment]] = {}
        for row in rows:
            self.add(row)

    def __contains__(self, row: object) -> bool:
        return row in self._rows

    def __iter__(self) -> Iterator[Assignment]:
        return iter(self._rows)

    def __len__(self) -> int:
        return len(self._rows)

    def __repr__(self) -> str:
        return f"Assignments({self._rows!r})"

    def add(self, row: Assignment) -> None:
        if row in self._rows:
            return
        role_id, user_id, level, instance = row
        self._rows.add(row)
        self._by_context.setdefault((user_id, level, instance), set()).add(role_id)
        self._by_user.setdefault(user_id, set()).add(row)
        self._journal.record(lambda: self.discard(row))

    def discard(self, row: Assignment) -> None:
        if row not in self._rows:
            return
        role_id, user_id, level, instance = row
        self._rows.discard(row)
        _unlink(self._by_context, (user_id, level, instance), role_id)
        held = self._by_user[user_id]
        held.discard(row)
        if not held:
            del self._by_user[user_id]
        self._journal.record(lambda: self.add(row))

    def update(self, rows: Iterable[Assignment]) -> None:
        for row in rows:
            self.add(row)

    def difference_update(self, rows: Iterable[Assignment]) -> None:
        for row in list(rows):
            self.discard(row)

    def roles_at(self, user_id: int, level: str, instance: int) -> set[int]:
        """Ids of the roles `user_id` holds in one context."""
        return set(self._by_context.get((user_id, level, instance), ()))

    def of_user(self, user_id: int) -> set[Assignment]:
        return set(self._by_user.get(user_id, ()))
