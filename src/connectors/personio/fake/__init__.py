"""Personio's API imitated in memory: shipped with the connector for tests, the demo, the benchmarks and
third-party authors."""

from enrolsync.connectors.personio.fake.server import PersonioFake

__all__ = ["PersonioFake"]
