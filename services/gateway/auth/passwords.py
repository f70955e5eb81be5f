"""Password hashing (argon2id, argon2-cffi's defaults: 64 MiB, 3 passes) and strength rules for
new passwords. A hash or check takes tens to hundreds of milliseconds of CPU, so the event loop
calls `hash_off_loop` / `verify_off_loop`, which run it in a worker thread."""

from __future__ import annotations

import asyncio
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from mandi.core.errors import InvalidInput

MIN_LENGTH = 12
MAX_LENGTH = 256
_HASHER = PasswordHasher()
# Verified against when the user does not exist, so an unknown name costs the same time.
_DUMMY = _HASHER.hash(secrets.token_urlsafe(16))


def check_new(password: str, field: str = "password") -> str:
    if not MIN_LENGTH <= len(password) <= MAX_LENGTH:
        raise InvalidInput(f"{field} must be {MIN_LENGTH} to {MAX_LENGTH} characters",
                           field=field)
    return password


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify(stored_hash: str | None, password: str) -> bool:
    """True when `password` matches; a missing user (None) takes as long and is False."""
    try:
        return _HASHER.verify(stored_hash or _DUMMY, password) and stored_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


async def hash_off_loop(password: str) -> str:
    return await asyncio.to_thread(hash_password, password)


async def verify_off_loop(stored_hash: str | None, password: str) -> bool:
    return await asyncio.to_thread(verify, stored_hash, password)


def generate() -> str:
    return secrets.token_urlsafe(18)
