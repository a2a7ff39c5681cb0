"""The SFTP server: generated host key, users with a password or an authorised public key, a chrooted folder."""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import asyncssh


@dataclass(frozen=True)
class SftpUser:
    """A login the server accepts: by password, by this public key (OpenSSH text), or either."""

    password: str | None = None
    public_key: str | None = None


class _Logins(asyncssh.SSHServer):
    def __init__(self, server: SftpExportServer) -> None:
        self._server = server

    def begin_auth(self, username: str) -> bool:
        return True  # every login must authenticate

    def password_auth_supported(self) -> bool:
        return True

    def validate_password(self, username: str, password: str) -> bool:
        user = self._server.users.get(username)
        ok = user is not None and user.password is not None and hmac.compare_digest(user.password, password)
        self._server.logins.append((username, "password", ok))
        return ok

    def public_key_auth_supported(self) -> bool:
        return True

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        user = self._server.users.get(username)
        ok = user is not None and user.public_key is not None and asyncssh.import_public_key(user.public_key) == key
        self._server.logins.append((username, "publickey", ok))
        return ok


class SftpExportServer:
    """Serves `root` over SFTP on 127.0.0.1 (a free port), chrooted: `/people.csv` is `root / "people.csv"`.

    `logins` records (username, method, accepted) per attempt. Use as `async with SftpExportServer(...) as s:`.
    """

    def __init__(self, root: Path, users: Mapping[str, SftpUser], *, host_key: asyncssh.SSHKey | None = None) -> None:
        self.root = root
        self.users = dict(users)
        self.host_key = host_key or asyncssh.generate_private_key("ssh-ed25519")
        self.logins: list[tuple[str, str, bool]] = []
        self._listener: asyncssh.SSHAcceptor | None = None

    @property
    def port(self) -> int:
        if self._listener is None:
            raise RuntimeError("the server is not started")
        return int(self._listener.get_port())

    @property
    def host_key_line(self) -> str:
        """The public host key as a connection's `host_key` pins it."""
        return self.host_key.export_public_key().decode().strip()

    @property
    def known_hosts_line(self) -> str:
        """The host key as `ssh-keyscan -p PORT 127.0.0.1` would print it for a known_hosts file."""
        return f"[127.0.0.1]:{self.port} {self.host_key_line}"

    def url(self, path: str) -> str:
        return f"sftp://127.0.0.1:{self.port}/{path.lstrip('/')}"

    def write(self, name: str, content: str | bytes, *, encoding: str = "utf-8") -> Path:
        """Put an export into the served folder (as an HR system's scheduled export would)."""
        target = self.root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content.encode(encoding) if isinstance(content, str) else content)
        return target

    def _sftp(self, chan: Any) -> asyncssh.SFTPServer:
        return asyncssh.SFTPServer(chan, chroot=str(self.root).encode())

    async def start(self) -> SftpExportServer:
        self._listener = await asyncssh.listen(
            "127.0.0.1",
            0,
            server_host_keys=[self.host_key],
            server_factory=lambda: _Logins(self),
            sftp_factory=self._sftp,
            allow_scp=False,
        )
        return self

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.close()
            await self._listener.wait_closed()
            self._listener = None

    async def __aenter__(self) -> SftpExportServer:
        return await self.start()

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        await self.close()
