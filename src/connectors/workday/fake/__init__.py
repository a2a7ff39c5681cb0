"""Workday's Get_Workers SOAP service, RaaS report and OAuth token endpoint imitated in memory: shipped with the
connector for tests, the demo, the benchmarks and third-party authors."""

from enrolsync.connectors.workday.fake.server import WorkdayFake

__all__ = ["WorkdayFake"]
