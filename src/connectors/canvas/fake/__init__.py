"""A Canvas LMS instance's REST API imitated in memory: shipped with the connector for tests, the demo, the
benchmarks and third-party authors."""

from enrolsync.connectors.canvas.fake.server import DEFAULT_TOKEN, FakeCanvas

__all__ = ["DEFAULT_TOKEN", "FakeCanvas"]
