"""The SAML 2.0 bearer assertion SuccessFactors' `POST /oauth/token` takes, signed with the OAuth client's key.

An admin registers an OAuth client in *Manage OAuth2 Client Applications* with an X.509 certificate; whoever holds
the matching private key can sign assertions naming an API user, and SF trades each for a bearer token
(https://help.sap.com/docs/SAP_SUCCESSFACTORS_PLATFORM/d599f15995d348a1b45ba5603e2aba9b, "Authentication Using OAuth
2.0"; SAP KBA 2920680 deprecates the `/oauth/idp` helper that would sign it server-side with the key sent along).
The assertion's audience is `www.successfactors.com`, its recipient the OData root, and an `api_key` attribute
carries the client id. Signing (XML-DSig, enveloped, RSA-SHA256, exclusive c14n) is signxml's work.
"""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime, timedelta

from lxml import etree
from signxml.algorithms import SignatureConstructionMethod
from signxml.signer import XMLSigner

GRANT_TYPE = "urn:ietf:params:oauth:grant-type:saml2-bearer"
AUDIENCE = "www.successfactors.com"
LIFETIME = timedelta(minutes=10)
_SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
_DS = "http://www.w3.org/2000/09/xmldsig#"
_XSI = "http://www.w3.org/2001/XMLSchema-instance"
_EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def build_assertion(*, user: str, client_id: str, recipient: str, now: datetime) -> etree._Element:
    """The unsigned assertion naming `user` for `client_id`, valid for ten minutes from `now`."""
    s = f"{{{_SAML}}}"
    assertion_id = f"_{uuid.uuid4().hex}"
    until = _iso(now + LIFETIME)
    root = etree.Element(
        f"{s}Assertion", nsmap={"saml2": _SAML, "xsi": _XSI, "xs": "http://www.w3.org/2001/XMLSchema"},
        ID=assertion_id, IssueInstant=_iso(now), Version="2.0",
    )  # fmt: skip
    etree.SubElement(root, f"{s}Issuer").text = client_id
    # signxml puts the enveloped signature here, after Issuer, where SAML's schema wants it.
    etree.SubElement(root, f"{{{_DS}}}Signature", Id="placeholder", nsmap={"ds": _DS})
    subject = etree.SubElement(root, f"{s}Subject")
    name_id = etree.SubElement(subject, f"{s}NameID", Format="urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified")
    name_id.text = user
    confirmation = etree.SubElement(subject, f"{s}SubjectConfirmation", Method="urn:oasis:names:tc:SAML:2.0:cm:bearer")
    etree.SubElement(confirmation, f"{s}SubjectConfirmationData", NotOnOrAfter=until, Recipient=recipient)
    conditions = etree.SubElement(
        root, f"{s}Conditions", NotBefore=_iso(now - timedelta(minutes=1)), NotOnOrAfter=until
    )
    audience = etree.SubElement(etree.SubElement(conditions, f"{s}AudienceRestriction"), f"{s}Audience")
    audience.text = AUDIENCE
    statement = etree.SubElement(root, f"{s}AuthnStatement", AuthnInstant=_iso(now), SessionIndex=assertion_id)
    context = etree.SubElement(etree.SubElement(statement, f"{s}AuthnContext"), f"{s}AuthnContextClassRef")
    context.text = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"
    attribute = etree.SubElement(etree.SubElement(root, f"{s}AttributeStatement"), f"{s}Attribute", Name="api_key")
    value = etree.SubElement(attribute, f"{s}AttributeValue", {f"{{{_XSI}}}type": "xs:string"})
    value.text = client_id
    return root


def signed_assertion(
    *, user: str, client_id: str, recipient: str, private_key: str, certificate: str | None, now: datetime
) -> str:
    """The signed assertion, base64-encoded as the token request's `assertion` form field wants it."""
    root = build_assertion(user=user, client_id=client_id, recipient=recipient, now=now)
    signer = XMLSigner(
        method=SignatureConstructionMethod.enveloped,
        signature_algorithm="rsa-sha256",
        digest_algorithm="sha256",
        c14n_algorithm=_EXC_C14N,
    )
    signed = signer.sign(root, key=private_key.encode(), cert=certificate, reference_uri=root.get("ID"))
    return base64.b64encode(etree.tostring(signed)).decode()
