"""What answering costs a real Moodle site, so a benchmark on the fake can weigh requests as a site does.

A PHP worker spends a fixed time on every web-service call (bootstrap, token and capability checks) and then
time per record it returns (core_user_get_users formats every user with user_get_user_details), and a site has a
few workers: requests beyond them queue. Measured on a Moodle 4.3 site with 4 PHP-FPM workers on loopback
(issue 19): one unpaged read of every user took 1.95 s at 709 users and 7.6 s at 2,606, about 3 ms per user.
The fake answers at once unless `FakeMoodle.cost` is set; then, served over ASGI (the demo and the benchmarks),
each answer holds one of `workers` slots for `request_ms + item_ms * items` before it is sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class SiteCost:
    """A worker's time per call and per record returned, and how many workers answer at once."""

    request_ms: float = 0.0
    item_ms: float = 0.0
    workers: int = 4

    def seconds(self, items: int) -> float:
        return (self.request_ms + self.item_ms * items) / 1000


def items_in(answer: Any) -> int:
    """Records an answer carries: a list's entries, or core_user_get_users' `users`; writes answer none."""
    if isinstance(answer, list):
        return len(answer)
    if isinstance(answer, dict) and isinstance(answer.get("users"), list):
        return len(answer["users"])
    return 0
