"""Credential values: access JWTs (HS256, short-lived, carrying the refresh family), and the
opaque random values of refresh tokens, session cookies, CSRF tokens and API keys, of which
only the SHA-256 is stored."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt

from mandi.core.errors import AuthError

ALGORITHM = "HS256"
ISSUER = "mandi-gateway"
API_KEY_PREFIX = "mk_"


@dataclass(frozen=True)
class AccessClaims:
    username: str
    family: str


def issue_access(secret: str, username: str, family: str, ttl_s: int,
                 now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    return jwt.encode({"sub": username, "fam": family, "typ": "access", "iss": ISSUER,
                       "iat": now, "exp": now + timedelta(seconds=ttl_s)},
                      secret, algorithm=ALGORITHM)


def read_access(secret: str, token: str) -> AccessClaims:
    """The claims of a valid, unexpired access token; AuthError otherwise (no detail of why
    beyond expiry, and never the token)."""
    try:
        claims = jwt.decode(token, secret, algorithms=[ALGORITHM], issuer=ISSUER,
                            options={"require": ["sub", "exp", "iat", "fam"]})
    except jwt.ExpiredSignatureError:
        raise AuthError("access token expired; refresh it or log in again") from None
    except jwt.PyJWTError:
        raise AuthError("invalid access token") from None
    if claims.get("typ") != "access" or not isinstance(claims["sub"], str):
        raise AuthError("invalid access token")
    return AccessClaims(claims["sub"], str(claims["fam"]))


def opaque() -> str:
    return secrets.token_urlsafe(32)


def new_api_key() -> tuple[str, str]:
    """(the key as shown once, its listing prefix)."""
    body = secrets.token_urlsafe(32)
    return f"{API_KEY_PREFIX}{body}", f"{API_KEY_PREFIX}{body[:6]}"


def digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def same(a: str, b: str) -> bool:
    return secrets.compare_digest(a.encode(), b.encode())
