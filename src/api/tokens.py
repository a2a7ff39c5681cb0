"""API tokens: random bearer tokens with a role, shown once at creation and stored only as a SHA-256 digest.

A plain SHA-256 is enough here, unlike for passwords: a token carries 256 random bits, so a stolen digest
cannot be reversed by guessing, and slow hashes (bcrypt, argon2) only defend low-entropy secrets while costing
CPU on every request. The digest is also the lookup key, so no token is ever compared character by character.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from enrolsync.sync.store.tables import ApiRole, ApiToken, utcnow

PREFIX = "esk_"  # recognisable by secret scanners, and never contains a dot, unlike a JWT
# Writing `last_used_at` on every request would turn every read into a write; a minute is precise enough.
LAST_USED_GRANULARITY = timedelta(minutes=1)
MAX_TOKEN_LENGTH = 4096


class TokenRejected(Exception):
    """The token is unknown, revoked or expired; the message says which (it never contains the token)."""


@dataclass(frozen=True)
class IssuedToken:
    """A new token: `secret` is shown to the user once and is not stored anywhere."""

    token: ApiToken
    secret: str


def digest(secret: str) -> str:
    """The stored form of a token: hex SHA-256."""
    return hashlib.sha256(secret.encode()).hexdigest()


def looks_like_api_token(secret: str) -> bool:
    """True for the shape of our tokens (a JWT has dots; ours has the prefix and none)."""
    return secret.startswith(PREFIX) and "." not in secret


async def issue_token(
    session: AsyncSession,
    *,
    name: str,
    role: ApiRole,
    expires_in: timedelta | None = None,
    now: datetime | None = None,
    hr_id: str | None = None,
) -> IssuedToken:
    """Create a token; the caller commits. Returns the row and the secret, which cannot be recovered later.

    Args:
        name: what the token is for (a person, a script); shown in listings and the audit trail.
        role: what the token may do.
        expires_in: lifetime; None means it never expires (revoke it when no longer needed).
        now: the creation time (tests pin it).
        hr_id: the manager's HR id, for (and only for) a `manager` token: it sees only their reports.

    Raises:
        ValueError: a manager token without an HR id, or another role's token with one.
    """
    hr_id = hr_id.strip() if hr_id else None
    if (role is ApiRole.MANAGER) != (hr_id is not None):
        raise ValueError("a manager token needs the manager's HR id (--hr-id), and only a manager token takes one")
    moment = now or utcnow()
    secret = PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        name=name,
        role=role.value,
        hr_id=hr_id,
        token_hash=digest(secret),
        created_at=moment,
        expires_at=moment + expires_in if expires_in is not None else None,
    )
    session.add(token)
    await session.flush()
    return IssuedToken(token=token, secret=secret)


async def list_tokens(session: AsyncSession) -> list[ApiToken]:
    """Every token, oldest first (their digests are useless to a reader, but callers should not show them)."""
    return list((await session.exec(select(ApiToken).order_by(col(ApiToken.created_at), col(ApiToken.id)))).all())


async def revoke_token(session: AsyncSession, *, token_id: str) -> ApiToken | None:
    """Revoke a token for good; None when there is no such token. The caller commits."""
    token = await session.get(ApiToken, token_id)
    if token is None:
        return None
    token.revoked = True
    session.add(token)
    await session.flush()
    return token


def _is_past(moment: datetime | None, now: datetime) -> bool:
    return moment is not None and moment <= now


async def check_token(session: AsyncSession, *, secret: str, now: datetime) -> ApiToken:
    """The live token whose secret this is; marks it used (at most once a minute) and commits that.

    Raises:
        TokenRejected: unknown, revoked or expired.
    """
    if len(secret) > MAX_TOKEN_LENGTH or not looks_like_api_token(secret):
        raise TokenRejected("the token is malformed")
    token = (await session.exec(select(ApiToken).where(ApiToken.token_hash == digest(secret)))).first()
    if token is None:
        raise TokenRejected("the token is not known")
    if token.revoked:
        raise TokenRejected("the token was revoked")
    if _is_past(token.expires_at, now):
        raise TokenRejected("the token has expired")
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_GRANULARITY:
        token.last_used_at = now
        session.add(token)
        await session.commit()
    return token


def token_state(token: ApiToken, now: datetime) -> str:
    """`active`, `revoked` or `expired`, for listings."""
    if token.revoked:
        return "revoked"
    return "expired" if _is_past(token.expires_at, now) else "active"


async def mint_token(
    sessions: async_sessionmaker[AsyncSession],
    *,
    name: str,
    role: ApiRole,
    expires_in: timedelta | None = None,
    hr_id: str | None = None,
) -> str:
    """Issue a token in its own transaction and return the secret: for the demo, tests and scripts that drive the
    API of an app they built (`app.state.services.sessions`)."""
    async with sessions() as session:
        issued = await issue_token(session, name=name, role=role, expires_in=expires_in, hr_id=hr_id)
        await session.commit()
    return issued.secret
