"""Any SCIM 2.0 LMS as a target: Users for accounts, Groups for courses, roles and cohorts, the enterprise manager."""

from enrolsync.connectors.scim.connector import ScimTarget

__all__ = ["ScimTarget"]
