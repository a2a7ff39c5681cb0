"""Moodle LMS target: accounts, manual enrolments, roles and SSO auth through core web services."""

from enrolsync.connectors.moodle.connector import MoodleTarget

__all__ = ["MoodleTarget"]
