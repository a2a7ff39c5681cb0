"""CSV export (over SFTP) HR source connector."""

from enrolsync.connectors.csv.connector import CsvSource

__all__ = ["CsvSource"]
