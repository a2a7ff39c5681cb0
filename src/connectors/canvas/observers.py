"""Managers over their reports as Canvas observers (the User Observees API, /doc/api/user_observees.html).

A link from a manager to a report makes Canvas give the manager an `ObserverEnrollment` tied to the report
(`associated_user_id`) in every course the report is a student in, now and as they join more, and removing the
link removes those enrolments: the manager sees exactly their reports' courses, grades and progress, nothing else.
An account-level admin role would instead grant rights over every user of an account, not over named people.
"""

from __future__ import annotations

from enrolsync.connectors.canvas.client import CanvasClient
from enrolsync.connectors.canvas.models import CanvasUser
from enrolsync.connectors.errors import NotFound
from enrolsync.connectors.model import ExternalRef
from enrolsync.connectors.ops import OpResult


def link_ref(observer: str, observee: str) -> ExternalRef:
    return ExternalRef(kind="role", id=f"observer:{observer}:{observee}")


class Observers:
    def __init__(self, client: CanvasClient) -> None:
        self._client = client

    async def observees(self, observer: str) -> set[str]:
        return {str(u.id) for u in await self._client.every(CanvasUser, f"users/{observer}/observees")}

    async def ensure(self, observer: str, observee: str, *, linked: bool) -> OpResult:
        """Link (or unlink) `observer` to `observee`; `already` when the link is as wanted."""
        ref = link_ref(observer, observee)
        try:
            if (observee in await self.observees(observer)) == linked:
                return OpResult.already(ref)
            await self._client.write("PUT" if linked else "DELETE", f"users/{observer}/observees/{observee}")
        except NotFound:
            return OpResult.failed("account not found", status=404)
        return OpResult.done(ref)
