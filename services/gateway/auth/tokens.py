"""Credential values: access JWTs (HS256, short-lived, carrying the refresh family), and the
opaque random values of refresh tokens, session cookies, CSRF tokens and API keys, of which
only the SHA-256 is stored."""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt

from mandi.core.errors import AuthError
from mandi.platform.bounded import drop_oldest

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


# (signing key, token) -> (claims, expiry epoch s) of tokens already verified: a client sends
# the same access token with every request, and PyJWT's parse and check cost ~5 % of the
# gateway's CPU on the order path. Expiry is still checked on each use; revocation is not a
# property of the token (the principal lookup checks its family on every request).
_VERIFIED: dict[tuple[str, str], tuple[AccessClaims, float]] = {}
VERIFIED_MAX = 10_000


def read_access(secret: str, token: str) -> AccessClaims:
    """The claims of a valid, unexpired access token; AuthError otherwise (no detail of why
    beyond expiry, and never the token)."""
    hit = _VERIFIED.get((secret, token))
    if hit is not None:
        if time.time() < hit[1]:
            return hit[0]
        del _VERIFIED[(secret, token)]
    claims = _decode(secret, token)
    drop_oldest(_VERIFIED, VERIFIED_MAX - 1)  # the oldest tokens, nearest their expiry
    _VERIFIED[(secret, token)] = (AccessClaims(claims["sub"], str(claims["fam"])),
                                  float(claims["exp"]))
    return _VERIFIED[(secret, token)][0]


def _decode(secret: str, token: str) -> dict:
    try:
        claims = jwt.decode(token, secret, algorithms=[ALGORITHM], issuer=ISSUER,
                            options={"require": ["sub", "exp", "iat", "fam"]})
    except jwt.ExpiredSignatureError:
        raise AuthError("access token expired; refresh it or log in again") from None
    except jwt.PyJWTError:
        raise AuthError("invalid access token") from None
    if claims.get("typ") != "access" or not isinstance(claims["sub"], str) \
            or not isinstance(claims["exp"], int | float):
        raise AuthError("invalid access token")
    return claims


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
