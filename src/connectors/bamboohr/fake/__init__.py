"""BambooHR's API imitated in memory: shipped with the connector for tests, the demo, the benchmarks and
third-party authors."""

from enrolsync.connectors.bamboohr.fake.server import BambooHRFake

__all__ = ["BambooHRFake"]
