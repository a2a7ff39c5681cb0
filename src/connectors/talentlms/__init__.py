"""TalentLMS LMS target connector (API v2)."""

from enrolsync.connectors.talentlms.connector import TalentLMSTarget

__all__ = ["TalentLMSTarget"]
