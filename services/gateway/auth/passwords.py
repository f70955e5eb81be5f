"""Password hashing (argon2id, argon2-cffi's defaults: 64 MiB, 3 passes) and strength rules for
new passwords. A hash or check takes tens to hundreds of milliseconds of CPU, so the event loop
calls `hash_off_loop` / `verify_off_loop`, which run it in a worker thread.

The cost comes from MANDI_PASSWORD_HASH_TIME_COST / _MEMORY_KIB (mandi.platform.config), read
once per process on first use; only tests lower it. A check reads the cost from the stored hash,
so hashes made at any cost keep verifying."""

from __future__ import annotations

import asyncio
import secrets
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from mandi.core.errors import InvalidInput
from mandi.platform.config import password_hash_cost

MIN_LENGTH = 12
MAX_LENGTH = 256


@cache
def _hasher() -> PasswordHasher:
    time_cost, memory_kib = password_hash_cost()
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_kib)


@cache
def _dummy() -> str:
    """Verified against when the user does not exist, so an unknown name costs the same time."""
    return _hasher().hash(secrets.token_urlsafe(16))


def check_new(password: str, field: str = "password") -> str:
    if not MIN_LENGTH <= len(password) <= MAX_LENGTH:
        raise InvalidInput(f"{field} must be {MIN_LENGTH} to {MAX_LENGTH} characters",
                           field=field)
    return password


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def verify(stored_hash: str | None, password: str) -> bool:
    """True when `password` matches; a missing user (None) takes as long and is False."""
    try:
        return _hasher().verify(stored_hash or _dummy(), password) and stored_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


async def hash_off_loop(password: str) -> str:
    return await asyncio.to_thread(hash_password, password)


async def verify_off_loop(stored_hash: str | None, password: str) -> bool:
    return await asyncio.to_thread(verify, stored_hash, password)


def generate() -> str:
    return secrets.token_urlsafe(18)
