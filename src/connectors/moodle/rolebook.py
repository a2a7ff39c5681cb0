"""Which Moodle role a logical role is, and which id that role has on this site.

Core web services offer no function that lists roles, and ids differ between sites (a fresh install numbers
manager 1 ... student 5, custom roles follow). Ids therefore come from the connection's `role_ids`, and are
learned from every course roster read (core_enrol_get_enrolled_users returns `roleid` with `shortname`): a
configured id that Moodle contradicts is recorded as a conflict for `check()` to report.
"""

from __future__ import annotations

from collections.abc import Iterable

from enrolsync.connectors.model import RoleScope
from enrolsync.connectors.moodle.config import MoodleConfig
from enrolsync.connectors.moodle.models import RoleRef


class RoleBook:
    def __init__(self, config: MoodleConfig) -> None:
        self._config = config
        self._learned: dict[str, int] = {}
        self._conflicts: set[str] = set()

    @property
    def learner(self) -> str:
        """The Moodle role manual enrolments give."""
        return self._config.role_map["learner"]

    def shortname(self, role: str, scope: RoleScope) -> str:
        """The Moodle role for a logical role; a name that is not mapped is taken as a Moodle shortname."""
        if scope is RoleScope.USER and role in self._config.user_scope_role_map:
            return self._config.user_scope_role_map[role]
        return self._config.role_map.get(role, role)

    def logical(self, shortname: str, scope: RoleScope) -> str:
        """The logical role a Moodle role stands for in a scope (the shortname itself if none is mapped to it)."""
        maps = [self._config.role_map]
        if scope is RoleScope.USER:
            maps.insert(0, self._config.user_scope_role_map)
        for mapping in maps:
            for logical, mapped in mapping.items():
                if mapped == shortname:
                    return logical
        return shortname

    def learn(self, roles: Iterable[RoleRef]) -> None:
        configured = self._config.role_ids
        for role in roles:
            self._learned[role.shortname] = role.roleid
            if configured.get(role.shortname, role.roleid) != role.roleid:
                self._conflicts.add(f"{role.shortname} is configured as {configured[role.shortname]}")
            for shortname, role_id in configured.items():
                if role_id == role.roleid and shortname != role.shortname:
                    self._conflicts.add(f"role id {role_id} is {role.shortname}, not {shortname}")

    def role_id(self, shortname: str) -> int | None:
        return self._config.role_ids.get(shortname) or self._learned.get(shortname)

    def needed(self) -> set[str]:
        """Every Moodle role the mappings name."""
        return set(self._config.role_map.values()) | set(self._config.user_scope_role_map.values())

    def unresolved(self) -> set[str]:
        return {shortname for shortname in self.needed() if self.role_id(shortname) is None}

    @property
    def conflicts(self) -> set[str]:
        return set(self._conflicts)
