"""Connection secrets at rest: a JSON object of secret fields, encrypted with Fernet (AES-128-CBC + HMAC-SHA256).

Keys rotate with MultiFernet: the first key encrypts, every key decrypts, and `rotate` re-encrypts an old token
under the first key. Without configured keys a key file is made in the data directory, so the embedded default
needs no set-up; deployments that share a database between hosts set `ENROLSYNC_SECRET_KEYS` instead.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from pydantic import SecretStr

KEY_FILE_NAME = "secret.key"


class SecretsUndecryptable(Exception):
    """A stored token cannot be read with the configured keys (wrong or missing key, or a damaged token)."""


class KeySettings(Protocol):
    """The part of `enrolsync.settings.Settings` that key loading reads."""

    @property
    def secret_keys(self) -> list[SecretStr]: ...

    @property
    def data_dir(self) -> Path: ...


class SecretBox:
    """Encrypts and decrypts the secret fields of a connection. Holds keys, so it never shows them."""

    __slots__ = ("_fernet",)

    def __init__(self, keys: Sequence[str]) -> None:
        """Build a box from Fernet keys, newest first.

        Raises:
            ValueError: no key given, or a key that is not a urlsafe-base64 32-byte Fernet key.
        """
        if not keys:
            raise ValueError("at least one secret key is needed")
        fernets: list[Fernet] = []
        for position, key in enumerate(keys):
            try:
                fernets.append(Fernet(key))
            except ValueError:
                # The key itself must not reach the message: say which one by position only.
                raise ValueError(f"secret key #{position + 1} is not a valid Fernet key") from None
        self._fernet = MultiFernet(fernets)

    def __repr__(self) -> str:
        return "SecretBox(<keys hidden>)"

    def encrypt(self, secrets: Mapping[str, str]) -> str:
        """Encrypt a mapping of secret field names to values under the newest key."""
        plain = json.dumps(dict(secrets), sort_keys=True, separators=(",", ":")).encode()
        return self._fernet.encrypt(plain).decode("ascii")

    def decrypt(self, token: str) -> dict[str, str]:
        """Decrypt a token made by `encrypt` with any configured key. An empty token means no secrets.

        Raises:
            SecretsUndecryptable: no configured key opens the token, or it was altered.
        """
        if not token:
            return {}
        try:
            plain = self._fernet.decrypt(token.encode("ascii"))
        except (InvalidToken, UnicodeEncodeError):
            raise SecretsUndecryptable(
                "stored connection secrets cannot be decrypted with the configured secret keys; "
                "was a key removed from ENROLSYNC_SECRET_KEYS or the key file replaced?"
            ) from None
        loaded = json.loads(plain)
        return {str(name): str(value) for name, value in loaded.items()}

    def opens(self, token: str) -> bool:
        """True when a configured key decrypts `token` (an empty token holds nothing to open)."""
        try:
            self.decrypt(token)
        except SecretsUndecryptable:
            return False
        return True

    def rotate(self, token: str) -> str:
        """Re-encrypt a token under the newest key (for key rotation); an empty token stays empty.

        Raises:
            SecretsUndecryptable: as `decrypt`.
        """
        if not token:
            return token
        try:
            return self._fernet.rotate(token.encode("ascii")).decode("ascii")
        except (InvalidToken, UnicodeEncodeError):
            raise SecretsUndecryptable("stored connection secrets cannot be re-encrypted: no key opens them") from None


def generate_key() -> str:
    """A new random Fernet key (for `ENROLSYNC_SECRET_KEYS` or the key file)."""
    return Fernet.generate_key().decode("ascii")


def load_or_create_keys(settings: KeySettings) -> list[str]:
    """The Fernet keys to use, newest first.

    Configured `secret_keys` win. Otherwise the keys come from `data_dir/secret.key` (one per line, newest
    first), which is created with a fresh key and mode 0600 the first time.

    Raises:
        ValueError: the key file exists but holds no key.
    """
    configured = [key.get_secret_value() for key in settings.secret_keys]
    if configured:
        return configured
    path = Path(settings.data_dir) / KEY_FILE_NAME
    if not path.exists():
        _create_key_file(path)
    keys = [line.strip() for line in path.read_text(encoding="ascii").splitlines() if line.strip()]
    if not keys:
        raise ValueError(f"{path} holds no key")
    return keys


def _create_key_file(path: Path) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)  # a new data folder is the owner's only
    # Written aside, then linked into place: when the API and the worker start together, exactly one key wins
    # and neither ever reads a half-written file. mkstemp creates the file with mode 0600.
    fd, temp_name = tempfile.mkstemp(dir=path.parent, prefix=".secret-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(generate_key() + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(FileExistsError):
            os.link(temp_name, path)
    finally:
        os.unlink(temp_name)
