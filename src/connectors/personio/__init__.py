"""Personio HR source connector."""

from enrolsync.connectors.personio.connector import PersonioSource

__all__ = ["PersonioSource"]
