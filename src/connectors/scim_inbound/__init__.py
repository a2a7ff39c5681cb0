"""SCIM 2.0 inbound HR source: people an identity provider (Entra ID, Okta) provisions into enrolsync."""

from enrolsync.connectors.scim_inbound.connector import ScimInboundSource

__all__ = ["ScimInboundSource"]
