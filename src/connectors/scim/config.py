"""Configuration of a SCIM 2.0 connection: the service provider's base URL, its bearer token, and role groups."""

from __future__ import annotations

from pydantic import Field, SecretStr

from enrolsync.connectors.base import ConnectorConfig


class ScimConfig(ConnectorConfig):
    """A SCIM 2.0 service provider (RFC 7644) reached with a bearer token.

    `base_url` is the SCIM root, the URL under which `/ServiceProviderConfig`, `/Users` and `/Groups` answer
    (e.g. `https://lms.example.com/scim/v2/`). What the server supports (PATCH, Bulk, ETags, filters) is read
    from its `/ServiceProviderConfig`, never assumed.
    """

    token: SecretStr = Field(description="Bearer token of the SCIM client the LMS issued.")
    role_groups: dict[str, str] = Field(
        default_factory=dict,
        description="Logical role (instructor, admin, ...) -> id of the SCIM Group whose members hold it "
        "system-wide. A role without a group cannot be granted.",
    )
    manager_role: str = Field(
        default="manager",
        description="Logical role written as the enterprise extension's `manager` of each direct report.",
    )
    page_size: int = Field(default=100, ge=1, le=1000, description="Resources per list page (`count`).")
    use_bulk: bool = Field(
        default=True, description="Send creates and profile changes through /Bulk when the server offers it."
    )
    bulk_size: int = Field(
        default=100,
        ge=1,
        le=1000,
        description="Operations per Bulk request at most (the server's maxOperations lowers it further).",
    )
