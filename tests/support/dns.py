"""A resolver for tests: names map to fixed addresses, so no test asks the network's DNS.

`PUBLIC` is a globally routable address (it is never dialled: tests reach hosts through injected transports);
names under `.internal.test` resolve to private addresses, as a name an attacker controls might.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field

PUBLIC = "93.184.215.14"


@dataclass
class FakeDns:
    """`names` maps a host name to its addresses; any other name does not resolve (as `.invalid` never does)."""

    names: dict[str, list[str]] = field(
        default_factory=lambda: {
            "localhost": ["127.0.0.1", "::1"],
            "hr.example.com": [PUBLIC],
            "lms.example.com": [PUBLIC],
            "api.bamboohr.com": [PUBLIC],
            "moodle.internal.test": ["10.1.2.3"],
            "metadata.internal.test": ["169.254.169.254"],
            "half.internal.test": [PUBLIC, "10.9.9.9"],
        }
    )
    asked: list[str] = field(default_factory=list)

    async def __call__(self, host: str, port: int) -> list[str]:
        self.asked.append(host)
        if host not in self.names:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return list(self.names[host])
