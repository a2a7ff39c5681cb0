"""Fault injection for the memory systems with the `FakeServer` interface the contract suites drive."""

from __future__ import annotations

import httpx

from enrolsync.connectors.errors import AuthError, ConnectorError, TransientError
from enrolsync.connectors.memory.state import Dataset
from enrolsync.connectors.testing.fakes import FakeServer, Predicate


def _error(status: int, retry_after: float | None) -> ConnectorError:
    if status in (401, 403):
        return AuthError("injected", status=status)
    return TransientError("injected", status=status, retry_after=retry_after)


class MemoryFake(FakeServer):
    """No HTTP is involved: injected faults become the errors a remote system's answers would map to."""

    def __init__(self, data: Dataset) -> None:
        super().__init__()
        self.data = data

    def handle(self, request: httpx.Request) -> httpx.Response:
        raise AssertionError("the memory connectors make no HTTP requests")

    def _push(self, error: ConnectorError, n: int, when: Predicate | None) -> None:
        # `when=is_write` targets writes: memory writes go through `apply`, which checks the LMS queue only.
        for _ in range(n):
            if when is None:
                self.data.hris.fail_next.append(error)
            self.data.lms.fail_next.append(error)

    def fail_next(
        self,
        n: int = 1,
        *,
        status: int = 503,
        retry_after: float | None = None,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
        when: Predicate | None = None,
    ) -> None:
        self._push(_error(status, retry_after), n, when)

    def timeout_next(self, n: int = 1, *, when: Predicate | None = None) -> None:
        self._push(TransientError("timeout: injected"), n, when)

    @property
    def writes(self) -> list[httpx.Request]:
        return [httpx.Request("POST", "http://memory.invalid/")] * self.data.lms.write_calls
