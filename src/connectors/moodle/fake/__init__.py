"""A Moodle site's web services imitated in memory: shipped with the connector for tests, the demo, the
benchmarks and third-party authors."""

from enrolsync.connectors.moodle.fake.server import PAYLOADS, FakeMoodle

__all__ = ["PAYLOADS", "FakeMoodle"]
