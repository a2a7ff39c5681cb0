"""HiBob (Bob) HR source connector."""

from enrolsync.connectors.hibob.connector import HiBobSource

__all__ = ["HiBobSource"]
