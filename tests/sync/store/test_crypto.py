"""Connection secrets at rest: round-trip, key rotation, clear failures, a private key file, no leaks."""

from __future__ import annotations

import logging
import stat
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from pydantic import SecretStr

from enrolsync.settings import Settings
from enrolsync.sync.store.crypto import (
    KEY_FILE_NAME,
    SecretBox,
    SecretsUndecryptable,
    generate_key,
    load_or_create_keys,
)

SECRETS = {"api_key": "s3cr3t-ÄPI-key", "password": "hunter2"}


@dataclass
class KeySettings:
    data_dir: Path
    secret_keys: list[SecretStr] = field(default_factory=list)


def test_round_trip_and_no_plain_text_in_the_token() -> None:
    box = SecretBox([generate_key()])
    token = box.encrypt(SECRETS)
    assert box.decrypt(token) == SECRETS
    assert "hunter2" not in token and "password" not in token


def test_empty_token_means_no_secrets() -> None:
    assert SecretBox([generate_key()]).decrypt("") == {}


def test_rotation_keeps_old_tokens_readable_and_moves_them_to_the_new_key() -> None:
    old_key, new_key = generate_key(), generate_key()
    old_token = SecretBox([old_key]).encrypt(SECRETS)
    rotated_box = SecretBox([new_key, old_key])
    assert rotated_box.decrypt(old_token) == SECRETS
    rotated = rotated_box.rotate(old_token)
    # Once rotated, the old key can be retired.
    assert SecretBox([new_key]).decrypt(rotated) == SECRETS
    with pytest.raises(SecretsUndecryptable):
        SecretBox([old_key]).decrypt(rotated)


def test_wrong_key_fails_clearly() -> None:
    token = SecretBox([generate_key()]).encrypt(SECRETS)
    with pytest.raises(SecretsUndecryptable, match="cannot be decrypted with the configured secret keys"):
        SecretBox([generate_key()]).decrypt(token)


def test_tampered_token_fails_clearly() -> None:
    box = SecretBox([generate_key()])
    token = box.encrypt(SECRETS)
    with pytest.raises(SecretsUndecryptable):
        box.decrypt(token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB"))


def test_invalid_key_is_refused_without_echoing_it() -> None:
    with pytest.raises(ValueError, match="#2 is not a valid Fernet key") as caught:
        SecretBox([generate_key(), "not-a-key-but-maybe-a-password"])
    assert "not-a-key-but-maybe-a-password" not in str(caught.value)
    with pytest.raises(ValueError, match="at least one"):
        SecretBox([])


def test_box_never_shows_its_keys(caplog: pytest.LogCaptureFixture) -> None:
    key = generate_key()
    box = SecretBox([key])
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("test").info("box %r %s", box, box)
    assert key not in repr(box) and key not in str(box) and key not in caplog.text


def test_configured_keys_win_and_no_file_is_written(tmp_path: Path) -> None:
    first, second = generate_key(), generate_key()
    settings = KeySettings(data_dir=tmp_path, secret_keys=[SecretStr(first), SecretStr(second)])
    assert load_or_create_keys(settings) == [first, second]
    assert not (tmp_path / KEY_FILE_NAME).exists()


def test_key_file_is_created_private_on_first_use_and_reused(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", secret_keys=[])
    keys = load_or_create_keys(settings)
    path = tmp_path / "data" / KEY_FILE_NAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_keys(settings) == keys
    # The key works, and a token made now still opens after a restart.
    token = SecretBox(keys).encrypt(SECRETS)
    assert SecretBox(load_or_create_keys(settings)).decrypt(token) == SECRETS
    assert [p.name for p in path.parent.iterdir()] == [KEY_FILE_NAME]  # no temporary file left behind


def test_key_file_may_list_several_keys_for_rotation(tmp_path: Path) -> None:
    new_key, old_key = generate_key(), generate_key()
    (tmp_path / KEY_FILE_NAME).write_text(f"{new_key}\n{old_key}\n")
    assert load_or_create_keys(KeySettings(data_dir=tmp_path)) == [new_key, old_key]


def test_empty_key_file_is_an_error(tmp_path: Path) -> None:
    (tmp_path / KEY_FILE_NAME).write_text("\n")
    with pytest.raises(ValueError, match="holds no key"):
        load_or_create_keys(KeySettings(data_dir=tmp_path))
