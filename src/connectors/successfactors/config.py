"""Configuration of a SuccessFactors connection: the API server, how to authenticate, and how to read EC's codes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from pydantic import Field, HttpUrl, SecretStr, model_validator

from enrolsync.connectors.base import ConnectorConfig

AuthMode = Literal["oauth_saml", "basic"]


class SuccessFactorsConfig(ConnectorConfig):
    """A SuccessFactors Employee Central tenant read through OData v2.

    `oauth_saml` (SAP's recommended way): an OAuth client registered with your certificate; enrolsync signs a SAML
    assertion naming `api_user` with the private key and trades it for a token. `basic`: `api_user@company_id`
    and the user's password (SAP has deprecated it; some tenants have it switched off).
    """

    base_url: HttpUrl = Field(
        description="The tenant's OData root on its API server, e.g. https://api4.successfactors.com/odata/v2/ "
        "(the data centre's API host, not the UI host)."
    )
    company_id: str = Field(min_length=1, max_length=100, description="The company ID (shown at login).")
    auth: AuthMode = "oauth_saml"
    api_user: str = Field(
        min_length=1, max_length=100, description="The API user's user ID (the SAML NameID, or Basic's user name)."
    )
    password: SecretStr | None = Field(default=None, description="The API user's password (auth `basic` only).")
    client_id: str | None = Field(
        default=None, description="The OAuth client's API key (Admin Center > Manage OAuth2 Client Applications)."
    )
    private_key: SecretStr | None = Field(
        default=None, description="PEM private key of the certificate registered with the OAuth client (`oauth_saml`)."
    )
    certificate: str | None = Field(
        default=None, description="That certificate (PEM), sent in the assertion's KeyInfo; optional."
    )
    page_size: int = Field(default=500, ge=1, le=1000, description="Records per page (SF serves at most 1000).")
    leave_statuses: tuple[str, ...] = Field(
        default=("U", "P", "S", "F"),
        description="EmpJob `emplStatus` values that mean on leave: the standard `employee-status` picklist's "
        "codes (unpaid, paid leave, suspended, furlough). Tenants that answer with picklist option ids list those.",
    )
    terminated_statuses: tuple[str, ...] = Field(
        default=("T", "R", "D", "RP", "O"),
        description="EmpJob `emplStatus` values that mean the person left (terminated, retired, deceased, "
        "retired with pension, discarded).",
    )
    custom: Mapping[str, str] = Field(
        default_factory=dict,
        description="Canonical custom key -> EmpJob property, e.g. {'cost_centre': 'costCenter'}.",
    )

    @model_validator(mode="after")
    def _credentials_for_the_mode(self) -> SuccessFactorsConfig:
        if self.auth == "basic" and self.password is None:
            raise ValueError("auth 'basic' needs `password`")
        if self.auth == "oauth_saml" and (self.client_id is None or self.private_key is None):
            raise ValueError("auth 'oauth_saml' needs `client_id` and `private_key`")
        return self
