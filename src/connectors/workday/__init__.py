"""Workday HR source connector: a RaaS custom report (JSON) or the SOAP Human_Resources `Get_Workers` operation."""

from enrolsync.connectors.workday.connector import WorkdaySource

__all__ = ["WorkdaySource"]
