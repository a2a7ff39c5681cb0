"""A LearnUpon portal's REST API imitated in memory: shipped with the connector for tests, the demo and benchmarks."""

from enrolsync.connectors.learnupon.fake.server import DEFAULT_KEY, DEFAULT_SECRET, FakeLearnUpon

__all__ = ["DEFAULT_KEY", "DEFAULT_SECRET", "FakeLearnUpon"]
