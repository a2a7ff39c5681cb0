"""A Docebo connection's config for a fake platform (connector tests)."""

from __future__ import annotations

from enrolsync.connectors.docebo.config import DoceboConfig
from enrolsync.connectors.docebo.fake import DoceboFake


def docebo_config(fake: DoceboFake, **options: object) -> DoceboConfig:
    """The HR id in additional field 1 (the fake's "Employee ID"), the platform signing in through SAML."""
    return DoceboConfig.model_validate(
        {
            "base_url": f"https://{fake.domain}/",
            "client_id": fake.client_id,
            "client_secret": fake.client_secret,
            "external_id_field": 1,
            "sso_auth": "saml2",
            **options,
        }
    )
