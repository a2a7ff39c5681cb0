"""HiBob's API imitated in memory: shipped with the connector for tests, the demo, the benchmarks and
third-party authors."""

from enrolsync.connectors.hibob.fake.server import HiBobFake

__all__ = ["HiBobFake"]
