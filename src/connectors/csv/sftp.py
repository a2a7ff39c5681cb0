"""Fetching the export from an SFTP server with asyncssh: log in by key or password, trust only the configured
host key, pick the file (the newest match of a pattern), and copy it to local disk in blocks, size-capped.

Every asyncssh failure becomes the connector error taxonomy here, in one place: a refused login is `AuthError`,
an untrusted host key or a missing file `PermanentError`, a dropped or refused connection `TransientError`.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import asyncssh
from pydantic import AnyUrl

from enrolsync.connectors.csv.config import CsvConfig
from enrolsync.connectors.errors import AuthError, Invalid, NotFound, PermanentError, TransientError

PATTERN_CHARS = frozenset("*?[")
# asyncssh pipelines reads: up to IN_FLIGHT blocks of BLOCK bytes are requested ahead. Its defaults (128 requests
# of up to 256 KiB) buffer a whole export of several MB in memory; 16 x 64 KiB keeps at most 1 MiB in flight.
BLOCK, IN_FLIGHT = 64 * 1024, 16


@dataclass(frozen=True)
class RemoteFile:
    path: str
    size: int
    mtime: int


class TooLarge(Exception):
    """Raised from the copy's progress callback to stop a file that grew past the cap."""


def _url(config: CsvConfig) -> AnyUrl:
    if config.url is None:  # the config's validator requires it for `origin: sftp`, the only caller of this module
        raise Invalid("no SFTP url configured")
    return config.url


def _known_hosts(config: CsvConfig) -> Any:
    if not config.verify_host_key:
        return None  # asyncssh: None disables host key validation (the admin chose so, see the config field)
    keys: list[asyncssh.SSHKey] = []
    if config.host_key:
        keys.append(asyncssh.import_public_key(config.host_key))
    if config.known_hosts:
        if not keys:
            return asyncssh.import_known_hosts(config.known_hosts)
        # Both given: the pinned key, plus whatever the known_hosts lines trust for this host.
        trusted, ca_keys, revoked, *_ = asyncssh.import_known_hosts(config.known_hosts).match(
            _url(config).host or "", "", _url(config).port
        )
        return ([*keys, *trusted], ca_keys, revoked)
    return (keys, [], [])


def _client_keys(config: CsvConfig) -> list[asyncssh.SSHKey] | None:
    if config.private_key is None:
        return None  # None: no public key authentication (never the keys of the account running enrolsync)
    passphrase = config.private_key_passphrase.get_secret_value() if config.private_key_passphrase else None
    try:
        return [asyncssh.import_private_key(config.private_key.get_secret_value(), passphrase)]
    except (asyncssh.KeyImportError, asyncssh.KeyEncryptionError):
        raise Invalid("private_key could not be read (wrong format or passphrase)") from None


@contextmanager
def _translated(host: str) -> Iterator[None]:
    """asyncssh and socket errors as connector errors, never carrying a credential."""
    try:
        yield
    except asyncssh.PermissionDenied:
        raise AuthError(f"the SFTP server {host} refused the login (username, key or password)") from None
    except asyncssh.HostKeyNotVerifiable:
        raise PermanentError(
            f"the SFTP server {host} presented a host key that known_hosts / host_key does not trust: refused"
        ) from None
    except asyncssh.SFTPNoSuchFile:
        raise NotFound(f"no export file found at the configured path on {host}") from None
    except asyncssh.SFTPPermissionDenied:
        raise AuthError(f"the SFTP user may not read the export on {host}") from None
    except asyncssh.SFTPError as error:
        raise PermanentError(f"SFTP error on {host}: {error.reason}") from None
    except (asyncssh.ConnectionLost, asyncssh.DisconnectError, OSError, TimeoutError) as error:
        raise TransientError(f"SFTP connection to {host} failed: {type(error).__name__}") from None


async def _pick(sftp: asyncssh.SFTPClient, path: str) -> RemoteFile:
    folder, name = posixpath.split(path)
    if not PATTERN_CHARS & set(name):
        attrs = await sftp.stat(path)
        return RemoteFile(path=path, size=attrs.size or 0, mtime=attrs.mtime or 0)
    found = []
    for entry in await sftp.readdir(folder or "."):
        entry_name = entry.filename if isinstance(entry.filename, str) else entry.filename.decode()
        if fnmatchcase(entry_name, name) and entry.attrs.type == asyncssh.FILEXFER_TYPE_REGULAR:
            size, mtime = entry.attrs.size or 0, entry.attrs.mtime or 0
            found.append(RemoteFile(path=posixpath.join(folder, entry_name), size=size, mtime=mtime))
    if not found:
        raise asyncssh.SFTPNoSuchFile(f"no file matches {name}")
    # The newest export; two written in the same second are told apart by name (dated names sort by date).
    return max(found, key=lambda f: (f.mtime, f.path))


def _connect(config: CsvConfig) -> Any:
    return asyncssh.connect(
        _url(config).host or "",
        _url(config).port or 22,
        username=config.username,
        password=config.password.get_secret_value() if config.password else None,
        client_keys=_client_keys(config),
        known_hosts=_known_hosts(config),
        agent_path=None,  # never an ssh-agent of the process: only the credentials configured
        config=[],  # nor its ~/.ssh/config
        connect_timeout=config.connect_timeout_seconds,
        login_timeout=config.connect_timeout_seconds,
    )


async def probe(config: CsvConfig, sample_bytes: int) -> tuple[RemoteFile, bytes]:
    """Log in, find the export file and read its first `sample_bytes` (no download). Raises connector errors as
    `_translated` says."""
    host = _url(config).host or ""
    with _translated(host):
        async with _connect(config) as conn, conn.start_sftp_client() as sftp:
            remote = await _pick(sftp, _url(config).path or "/")
            async with sftp.open(remote.path, "rb") as opened:
                sample = await opened.read(sample_bytes)
    return remote, bytes(sample)


async def download(config: CsvConfig, local: Path) -> RemoteFile:
    """Copy the export to `local`, block by block (never whole in memory).

    Raises:
        Invalid: the file is larger than `max_file_bytes`.
        AuthError, NotFound, PermanentError, TransientError: as `_translated` says.
    """
    host, cap = _url(config).host or "", config.max_file_bytes

    def watch(_src: bytes, _dst: bytes, copied: int, _total: int) -> None:
        if copied > cap:
            raise TooLarge

    with _translated(host):
        async with _connect(config) as conn, conn.start_sftp_client() as sftp:
            remote = await _pick(sftp, _url(config).path or "/")
            if remote.size > cap:
                raise Invalid(f"the export is {remote.size} bytes, over max_file_bytes ({cap}): refused")
            try:
                await sftp.get(
                    remote.path, str(local), block_size=BLOCK, max_requests=IN_FLIGHT, progress_handler=watch
                )
            except TooLarge:
                raise Invalid(f"the export grew past max_file_bytes ({cap}) while it was read: refused") from None
    return remote
