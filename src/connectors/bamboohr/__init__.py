"""BambooHR HR source connector."""

from enrolsync.connectors.bamboohr.connector import BambooHRSource

__all__ = ["BambooHRSource"]
