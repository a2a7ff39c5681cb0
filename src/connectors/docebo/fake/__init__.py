"""Docebo REST API fake (shipped: tests, demo and benchmarks use it)."""

from enrolsync.connectors.docebo.fake.server import DoceboFake

__all__ = ["DoceboFake"]
