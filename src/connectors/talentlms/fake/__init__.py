"""TalentLMS v2 API fake (shipped: tests, demo and benchmarks use it)."""

from enrolsync.connectors.talentlms.fake.server import TalentLMSFake

__all__ = ["TalentLMSFake"]
