"""What a Moodle site has installed that writes depend on, learnt from the site itself.

`auth` is validated as PARAM_AUTH (an installed plugin: exists_auth_plugin()) and `lang` as PARAM_LANG (an installed
language pack) while Moodle validates a call's parameters, so one absent plugin in a batch fails the whole
core_user_create_users or core_user_update_users call with `invalidparameter`, every user of it untouched (measured
on 4.3 and 4.5, issue 11). Core web services list neither plugins nor languages, so the connector asks the way the
validation answers: core_user_update_users for user id 0 with the value. Validation refuses an absent value for the
whole call; a present one passes, and the function answers the warning `invaliduserid` for id 0 and changes
nothing. Several values go in one call, bisected (`isolate.send_isolated`) only when one is absent.

Whether an installed plugin is also *enabled* (Site administration > Plugins > Authentication) cannot be read
through core web services: an installed but disabled plugin accepts the write, and its users cannot sign in.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Literal

from enrolsync.connectors.errors import ConnectorError
from enrolsync.connectors.moodle.client import MoodleClient
from enrolsync.connectors.moodle.errors import error_code
from enrolsync.connectors.moodle.isolate import send_isolated

Probed = Literal["auth", "lang"]
PROBE_USER_ID = 0  # no Moodle user has id 0: the update is refused or skipped, never made
# Core auth plugins Moodle cannot do without (manual and nologin back its own accounts; email is core): never probed.
ALWAYS_INSTALLED = frozenset({"manual", "nologin", "email"})


class SiteFacts:
    """Which auth plugins and languages the site has, probed once per value and remembered."""

    def __init__(self, client: MoodleClient) -> None:
        self._client = client
        self._known: dict[tuple[Probed, str], bool] = {}

    async def installed(self, field: Probed, values: Iterable[str]) -> dict[str, bool]:
        """Whether each value is installed. Raises `AuthError` when the token may not update users."""
        wanted = sorted(set(values))
        if field == "auth":
            self._known.update({(field, v): True for v in ALWAYS_INSTALLED})
        unknown = [v for v in wanted if (field, v) not in self._known]

        def record(value: str, answer: bool | ConnectorError) -> None:
            if isinstance(answer, ConnectorError):
                if error_code(answer) != "invalidparameter":
                    raise answer
                answer = False
            self._known[(field, value)] = answer

        async def send(batch: Sequence[str]) -> list[bool]:
            # Sent as a read: it changes nothing, so a lost answer or a 503 is simply asked again.
            users = [{"id": PROBE_USER_ID, field: value} for value in batch]
            await self._client.read("core_user_update_users", {"users": users})
            return [True] * len(batch)

        await send_isolated(unknown, send, record)
        return {v: self._known[(field, v)] for v in wanted}

    async def absent(self, field: Probed, values: Iterable[str]) -> list[str]:
        """The values the site does not have, sorted."""
        return sorted(v for v, ok in (await self.installed(field, values)).items() if not ok)


def absent_reason(field: Probed, value: str) -> str:
    """The reason an op fails for a value the site lacks (plugin and language names are not personal data)."""
    what = "auth plugin" if field == "auth" else "language pack"
    return f"{what} {value!r} is not installed on this Moodle site: Moodle would refuse the whole call"
