"""In-memory source and target: the reference implementation, the contract suite's self-test, and engine tests."""

from enrolsync.connectors.memory.connector import MemorySource, MemoryTarget

__all__ = ["MemorySource", "MemoryTarget"]
