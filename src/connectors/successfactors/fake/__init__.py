"""SuccessFactors' OData v2 API imitated in memory: shipped with the connector for tests, the demo, the benchmarks
and third-party authors."""

from enrolsync.connectors.successfactors.fake.server import SuccessFactorsFake

__all__ = ["SuccessFactorsFake"]
