"""A TalentLMS connection's config for a fake portal (connector tests)."""

from __future__ import annotations

from enrolsync.connectors.talentlms.config import TalentLMSConfig
from enrolsync.connectors.talentlms.fake import TalentLMSFake


def talentlms_config(fake: TalentLMSFake, **options: object) -> TalentLMSConfig:
    """The HR id in custom field 1 (the fake's "Employee ID"), the portal signing in through SAML by login."""
    return TalentLMSConfig.model_validate(
        {
            "base_url": f"https://{fake.domain}/",
            "api_key": fake.api_key,
            "external_id_field": 1,
            "sso_auth": "saml2",
            **options,
        }
    )
