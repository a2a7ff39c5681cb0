"""A connection's config as stored: plain options in JSON, `SecretStr` fields encrypted apart.

The API writes through `split_config` and never returns secrets; the engine reads through `load_config`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import SecretStr, ValidationError

from enrolsync.connectors.base import ConnectorConfig
from enrolsync.connectors.kit.egress import bare_host
from enrolsync.sync.store.crypto import SecretBox


class UnsafeBaseUrl(ValueError):
    pass


class SecretsRequired(ValueError):
    """A change of where a connection points that does not send its stored secrets again."""

    def __init__(self, names: list[str]) -> None:
        super().__init__(f"changing where the connection points requires its secrets again: {', '.join(names)}")
        self.names = names


def location_fields(model: type[ConnectorConfig]) -> set[str]:
    """Names of the config fields that say where the connection points (URL-typed: `base_url`, token URLs)."""
    return {name for name, f in model.model_fields.items() if "Url" in repr(f.annotation)}


def secret_fields(model: type[ConnectorConfig]) -> set[str]:
    """Names of the config fields typed `SecretStr` (or optional `SecretStr`)."""
    return {name for name, f in model.model_fields.items() if "SecretStr" in repr(f.annotation)}


def check_base_url(config: ConnectorConfig, *, allowed_http_hosts: Sequence[str]) -> None:
    """https only, except for hosts on the local allow-list (fakes, demo); never credentials in the URL."""
    url = config.base_url
    if url.username or url.password:
        raise UnsafeBaseUrl("base_url must not carry credentials; use the secret fields")
    if url.scheme != "https" and bare_host(url.host or "") not in {bare_host(h) for h in allowed_http_hosts}:
        raise UnsafeBaseUrl(f"base_url must use https (plain http is allowed only for {', '.join(allowed_http_hosts)})")


def split_config(
    model: type[ConnectorConfig], data: Mapping[str, Any], *, allowed_http_hosts: Sequence[str]
) -> tuple[dict[str, Any], dict[str, str]]:
    """Validate `data` as a whole, then split it into (public options, secret values).

    Raises `pydantic.ValidationError` for a bad config and `UnsafeBaseUrl` for a base URL we refuse.
    """
    config = model.model_validate(dict(data))
    check_base_url(config, allowed_http_hosts=allowed_http_hosts)
    secrets = secret_fields(model)
    public = config.model_dump(mode="json", exclude=secrets)
    hidden = {
        name: value.get_secret_value() for name in secrets if isinstance(value := getattr(config, name), SecretStr)
    }
    return public, hidden


def merge_update(
    model: type[ConnectorConfig],
    public: Mapping[str, Any],
    secrets: Mapping[str, str],
    patch: Mapping[str, Any],
    *,
    allowed_http_hosts: Sequence[str],
) -> tuple[dict[str, Any], dict[str, str]]:
    """Apply a partial update: secrets left out of `patch` keep their stored value, unless the update changes
    where the connection points. Stored secrets are never sent to a host they were not given for, so such a
    change must send them again (or clear an optional one with null).

    Raises:
        SecretsRequired: the update moves the connection and leaves out stored secrets (named).
        ValidationError, UnsafeBaseUrl: as `split_config`.
    """
    new_public, new_secrets = split_config(model, {**public, **secrets, **patch}, allowed_http_hosts=allowed_http_hosts)
    moved = any(new_public.get(name) != public.get(name) for name in location_fields(model))
    missing = sorted(name for name, value in secrets.items() if value and name not in patch)
    if moved and missing:
        raise SecretsRequired(missing)
    return new_public, new_secrets


def load_config(model: type[ConnectorConfig], public: Mapping[str, Any], token: str, box: SecretBox) -> ConnectorConfig:
    """The connector config of a stored connection, secrets decrypted."""
    try:
        return model.model_validate({**public, **(box.decrypt(token) if token else {})})
    except ValidationError as error:
        # A stored config that no longer validates means the connector's schema changed under it.
        raise ValueError(f"stored connection config is no longer valid: {error.error_count()} error(s)") from None
