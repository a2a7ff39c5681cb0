"""Configuration of a `scim-inbound` connection."""

from __future__ import annotations

from pydantic import Field, SecretStr

from enrolsync.connectors.base import ConnectorConfig


class ScimInboundConfig(ConnectorConfig):
    """`base_url`: the SCIM service the people are read from. For people an identity provider pushes to enrolsync,
    this is enrolsync's own `/scim/v2` URL as the identity provider reaches it (its "tenant URL"); the engine
    then serves the reads from the connection's stored SCIM state, without a network call. The identity
    provider authenticates with the connection's SCIM token (`POST /connections/{id}/scim-token`), which is not
    part of this config. `base_url` may also name another SCIM service to read people from, with its `token`.
    """

    token: SecretStr | None = Field(
        default=None,
        description="Bearer token for reading a remote SCIM service; not needed (nor used) for the stored state.",
    )
    page_size: int = Field(default=200, ge=1, le=1000, description="Users per page of a full read.")
    inactive_status: str = Field(
        default="terminated",
        pattern="^(terminated|leave)$",
        description="What a user the identity provider deactivates (`active: false`) is in HR terms.",
    )
