"""Docebo LMS target connector (REST API with OAuth2 client credentials)."""

from enrolsync.connectors.docebo.connector import DoceboTarget

__all__ = ["DoceboTarget"]
