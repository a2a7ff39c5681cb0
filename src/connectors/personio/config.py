"""Configuration of a Personio connection: API credentials (client credentials), webhook token, paging."""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import Field, HttpUrl, SecretStr

from enrolsync.connectors.base import ConnectorConfig

API_URL = "https://api.personio.de/"


class PersonioConfig(ConnectorConfig):
    """A Personio connection, read through the v2 persons and employments API."""

    base_url: HttpUrl = Field(default=HttpUrl(API_URL), description="API root holding `v2/`.")
    client_id: str = Field(min_length=1, description="Client ID of the API credential (Settings > API credentials).")
    client_secret: SecretStr = Field(description="Client secret of the API credential (shown once on creation).")
    webhook_token: SecretStr | None = Field(
        default=None,
        description="The webhook's TOKEN, exactly as entered in Personio (it is sent verbatim in Authorization, "
        "so include a `Bearer ` prefix here if you typed one there).",
    )
    page_size: int = Field(default=50, ge=1, le=50, description="Persons per request (Personio allows 1..50).")
    scan_employment_changes: bool = Field(
        default=True,
        description="Incremental reads also ask every person's employments for changes (one request per person): "
        "Personio lists employments per person only. Turn off when webhooks deliver employment.* events.",
    )
    username_attribute: str | None = Field(
        default=None, description="Custom attribute id (e.g. `dynamic_1234`) holding the sign-in name; none by default."
    )
    custom: Mapping[str, str] = Field(
        default_factory=dict,
        description="Canonical custom key -> Personio custom attribute id, e.g. {'cost_centre': 'dynamic_987'}.",
    )
