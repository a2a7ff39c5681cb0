"""Canvas LMS target: accounts with SSO logins, course enrolments, course roles and managers as observers."""

from enrolsync.connectors.canvas.connector import CanvasTarget

__all__ = ["CanvasTarget"]
