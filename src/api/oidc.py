"""OIDC access tokens: JWTs signed by a configured issuer, verified with joserfc against the issuer's JWKS.

The signing keys are fetched through an injected httpx client (tests serve them from a local key pair through a
`MockTransport`), discovered from the issuer's `/.well-known/openid-configuration` unless a JWKS URL is set,
and cached. A token naming a key id the cache lacks triggers one refetch (the issuer rotated its keys), at most
once per `_MIN_REFETCH`, so random key ids cannot make us hammer the issuer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from joserfc.jwt import JWTClaimsRegistry

from enrolsync.connectors.kit.egress import bare_host
from enrolsync.settings import Settings
from enrolsync.sync.store.tables import ApiRole

_MIN_REFETCH = timedelta(seconds=30)
_DISCOVERY = "/.well-known/openid-configuration"


class OidcRejected(Exception):
    """The token is not a valid access token of the issuer; the message says why (never the token)."""


class OidcUnavailable(Exception):
    """The issuer's signing keys could not be fetched, so no token can be checked right now."""


@dataclass(frozen=True)
class OidcConfig:
    """What verifying needs; built from the settings."""

    issuer: str
    audience: str
    role_claim: str
    jwks_url: str | None
    algorithms: tuple[str, ...]
    cache: timedelta
    leeway: int
    hr_id_claim: str = "hr_id"

    @classmethod
    def from_settings(cls, settings: Settings) -> OidcConfig | None:
        """None when no issuer is configured (API tokens only).

        Raises:
            ValueError: an issuer without an audience (every token of the issuer, for any client, would pass), or
                an issuer or JWKS URL that is not https (except the hosts allowed plain http, for local fakes).
        """
        if not settings.oidc_issuer:
            return None
        if not settings.oidc_audience:
            raise ValueError("ENROLSYNC_OIDC_AUDIENCE is required when ENROLSYNC_OIDC_ISSUER is set")
        for url in (settings.oidc_issuer, settings.oidc_jwks_url):
            parsed = urlsplit(url or "https://")
            plain_http_ok = {bare_host(host) for host in settings.allowed_http_hosts}  # `[::1]` and `::1` alike
            if parsed.scheme != "https" and bare_host(parsed.hostname or "") not in plain_http_ok:
                # Keys fetched over plain http could be swapped on the way: anyone could then sign tokens.
                raise ValueError(f"the OIDC issuer and JWKS must be https URLs: {url}")
        return cls(
            issuer=settings.oidc_issuer,
            audience=settings.oidc_audience,
            role_claim=settings.oidc_role_claim,
            hr_id_claim=settings.oidc_hr_id_claim,
            jwks_url=settings.oidc_jwks_url,
            algorithms=tuple(settings.oidc_algorithms),
            cache=timedelta(seconds=settings.oidc_jwks_cache_seconds),
            leeway=settings.oidc_leeway_seconds,
        )


@dataclass(frozen=True)
class OidcIdentity:
    """Who a verified token speaks for, and the enrolsync roles its role claim names."""

    subject: str
    name: str
    roles: frozenset[ApiRole]
    hr_id: str | None = None  # the manager's HR id, from `OidcConfig.hr_id_claim`


def claim_roles(claims: dict[str, Any], path: str) -> frozenset[ApiRole]:
    """The known roles named at `path` (dotted for nested claims); a string or a list of strings."""
    value: Any = claims
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    names: Sequence[Any] = [value] if isinstance(value, str) else value if isinstance(value, list) else []
    known = {role.value: role for role in ApiRole}
    return frozenset(known[name] for name in names if isinstance(name, str) and name in known)


def _claim_text(claims: dict[str, Any], path: str) -> str | None:
    value: Any = claims
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value.strip() if isinstance(value, str) and value.strip() else None


class OidcVerifier:
    """Verifies access tokens of one issuer. One per app; safe for concurrent requests."""

    def __init__(self, config: OidcConfig, http: httpx.AsyncClient, *, now: Callable[[], datetime]) -> None:
        self.config = config
        self._http = http
        self._now = now
        self._keys: KeySet | None = None
        self._fetched_at: datetime | None = None
        self._lock = asyncio.Lock()

    async def verify(self, token: str) -> OidcIdentity:
        """Check signature, `iss`, `aud`, `exp` and `nbf`; return the identity and roles the token carries.

        Raises:
            OidcRejected: the token is malformed, badly signed, from another issuer or audience, or out of date.
            OidcUnavailable: the issuer's keys could not be fetched.
        """
        try:
            header = jws.extract_compact(token.encode()).protected
        except (JoseError, ValueError) as error:
            raise OidcRejected("the token is not a well-formed JWT") from error
        keys = await self._key_set(header.get("kid"))
        try:
            decoded = jwt.decode(token, keys, algorithms=list(self.config.algorithms))
            self._claims_registry().validate(decoded.claims)
        except JoseError as error:
            raise OidcRejected(f"the token was refused ({error.error})") from error
        except ValueError as error:  # joserfc reports some malformed payloads as ValueError
            raise OidcRejected("the token is not a well-formed JWT") from error
        claims = decoded.claims
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject:
            raise OidcRejected("the token names no subject")
        name = claims.get("preferred_username")
        return OidcIdentity(
            subject=subject,
            name=name if isinstance(name, str) and name else subject,
            roles=claim_roles(claims, self.config.role_claim),
            hr_id=_claim_text(claims, self.config.hr_id_claim),
        )

    @property
    def http(self) -> httpx.AsyncClient:
        """The client that reaches the issuer (the web page's sign-in redeems its codes with it)."""
        return self._http

    async def endpoints(self) -> tuple[str, str]:
        """The issuer's authorization and token endpoints, from its discovery document.

        Raises:
            OidcUnavailable: the document cannot be read, names another issuer or lacks either endpoint.
        """
        document = await self._get_json(self.config.issuer.rstrip("/") + _DISCOVERY)
        authorize, token = document.get("authorization_endpoint"), document.get("token_endpoint")
        if document.get("issuer") != self.config.issuer or not isinstance(authorize, str) or not isinstance(token, str):
            raise OidcUnavailable("the issuer's discovery document names another issuer or no authorization endpoint")
        return authorize, token

    def _claims_registry(self) -> JWTClaimsRegistry:
        return JWTClaimsRegistry(
            now=lambda: int(self._now().timestamp()),
            leeway=self.config.leeway,
            iss={"essential": True, "value": self.config.issuer},
            aud={"essential": True, "value": self.config.audience},
            exp={"essential": True},
        )

    def _has(self, kid: object) -> bool:
        assert self._keys is not None  # noqa: S101 - only called once keys are loaded
        return not isinstance(kid, str) or any(key.kid == kid for key in self._keys.keys)

    async def _key_set(self, kid: object) -> KeySet:
        async with self._lock:
            now = self._now()
            age = now - self._fetched_at if self._fetched_at is not None else None
            stale = age is None or age >= self.config.cache
            rotated = self._keys is not None and not self._has(kid) and age is not None and age >= _MIN_REFETCH
            if self._keys is None or stale or rotated:
                try:
                    self._keys = await self._fetch()
                except OidcUnavailable:
                    if self._keys is None:
                        raise
                    # Known keys stay good while the issuer is down; try again after the refetch pause.
                    self._fetched_at = now - self.config.cache + _MIN_REFETCH
                    return self._keys
                self._fetched_at = now
            return self._keys

    async def _get_json(self, url: str) -> dict[str, Any]:
        try:
            response = await self._http.get(url)
            response.raise_for_status()
            body = response.json()
        except (httpx.HTTPError, ValueError) as error:
            raise OidcUnavailable(f"could not read {url}: {type(error).__name__}") from error
        if not isinstance(body, dict):
            raise OidcUnavailable(f"{url} did not answer a JSON object")
        return body

    async def _jwks_url(self) -> str:
        if self.config.jwks_url:
            return self.config.jwks_url
        document = await self._get_json(self.config.issuer.rstrip("/") + _DISCOVERY)
        # OpenID Connect Discovery 1.0 section 4.3: the document must name the issuer it was fetched for.
        if document.get("issuer") != self.config.issuer or not isinstance(document.get("jwks_uri"), str):
            raise OidcUnavailable("the issuer's discovery document names another issuer or no jwks_uri")
        return str(document["jwks_uri"])

    async def _fetch(self) -> KeySet:
        body = await self._get_json(await self._jwks_url())
        try:
            return KeySet.import_key_set(body)  # type: ignore[arg-type]
        except (JoseError, ValueError, TypeError, KeyError) as error:
            raise OidcUnavailable(f"the issuer's JWKS is unusable: {type(error).__name__}") from error
