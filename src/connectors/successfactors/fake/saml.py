"""The fake tenant's side of the SAML bearer grant: a test signing key, and the checks SF makes of an assertion.

The fake trusts one certificate (what an admin uploads when registering the OAuth client) and refuses an assertion
whose signature does not verify against it (signxml), whose audience is not `www.successfactors.com`, whose
recipient is not an OData root, whose `api_key` attribute is not the client id, or whose NameID is no API user.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from lxml import etree
from signxml.exceptions import InvalidInput, InvalidSignature
from signxml.verifier import XMLVerifier

GRANT_TYPE = "urn:ietf:params:oauth:grant-type:saml2-bearer"
_NS = {"saml2": "urn:oasis:names:tc:SAML:2.0:assertion"}
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)


@dataclass(frozen=True)
class SigningKey:
    private_key_pem: str
    certificate_pem: str


@cache
def signing_key(common_name: str = "enrolsync-fake-idp") -> SigningKey:
    """An RSA key and its self-signed certificate, made once per process (the fake's stand-in for an IdP key)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    start = datetime(2025, 1, 1, tzinfo=UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(start)
        .not_valid_after(start + timedelta(days=3650)).sign(key, hashes.SHA256())
    )  # fmt: skip
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return SigningKey(private, cert.public_bytes(serialization.Encoding.PEM).decode())


def verify(assertion: str, certificate: str, *, client_id: str, users: set[str]) -> str | None:
    """Why SF would refuse this base64 assertion, or None when it is good."""
    try:
        xml = base64.b64decode(assertion, validate=True)
    except (binascii.Error, ValueError):
        return "The assertion is not base64"
    try:
        verified = XMLVerifier().verify(xml, x509_cert=certificate, parser=_PARSER)
    except (InvalidSignature, InvalidInput, etree.XMLSyntaxError) as exc:
        return f"Unable to verify the assertion's signature: {type(exc).__name__}"
    root = verified.signed_xml  # type: ignore[union-attr]
    if root is None:
        return "The assertion signs nothing"

    def text(path: str) -> str | None:
        found = root.find(path, _NS)
        return found.text if found is not None else None

    recipient = root.find("saml2:Subject/saml2:SubjectConfirmation/saml2:SubjectConfirmationData", _NS)
    if text("saml2:Conditions/saml2:AudienceRestriction/saml2:Audience") != "www.successfactors.com":
        return "The assertion's audience is not www.successfactors.com"
    if recipient is None or not str(recipient.get("Recipient", "")).rstrip("/").endswith("/odata/v2"):
        return "The assertion's recipient is not the OData API"
    if text("saml2:AttributeStatement/saml2:Attribute[@Name='api_key']/saml2:AttributeValue") != client_id:
        return "The assertion's api_key is not this client's"
    if text("saml2:Subject/saml2:NameID") not in users:
        return "The assertion names no API user of this company"
    return None
