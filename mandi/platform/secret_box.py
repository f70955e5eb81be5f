"""Secrets at rest (broker credentials in execution's `accounts`, the daily Kite access tokens in
Redis) are sealed with Fernet under a key of Mandi's own — not one derived from the Kite API
secret, whose simulator default is public and whose rotation made stored accounts unreadable.

Keys: `MANDI_SECRET_KEY`, comma-separated, each >= 32 characters (any text; the Fernet key is
SHA-256 of it). The first key encrypts; every key decrypts (MultiFernet). When unset, a random key
is generated once into `MANDI_SECRET_KEY_FILE` (default `~/.mandi/secret-key`, mode 0600) by the
same helper as the service-token key, and every process on the host shares it. A multi-host
deployment must set `MANDI_SECRET_KEY` on every host.

Rotation: put the new key first (`MANDI_SECRET_KEY=new,old`), restart, run
`python -m services.execution.accounts_cli rotate-secrets` (re-encrypts every stored secret with
the first key; idempotent), then drop the old key.

Upgrade path: data sealed before this module (key = SHA-256("mandi-execution-credentials:" +
MANDI_KITE_API_SECRET)) still opens — the legacy key is the last decrypt key — and the rotation
command re-seals it under the new key.

The keys never appear in an error, a repr or a log line (they are registered for redaction).
"""

from __future__ import annotations

import base64
import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from mandi.core.errors import AuthError, ConfigError
from mandi.platform.logging import register_secret
from mandi.platform.service_auth import key_from_file

log = logging.getLogger(__name__)

SETTING = "MANDI_SECRET_KEY"
_LEGACY_PREFIX = b"mandi-execution-credentials:"


def _fernet(material: bytes) -> Fernet:
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(material).digest()))


@dataclass(frozen=True)
class RotationCount:
    """What a rotation did to one store: re-sealed, already under the first key, unreadable."""

    rotated: int = 0
    current: int = 0
    unreadable: int = 0

    def __add__(self, other: RotationCount) -> RotationCount:
        return RotationCount(self.rotated + other.rotated, self.current + other.current,
                             self.unreadable + other.unreadable)


class SecretBox:
    """Fernet under the first key; decrypts with any key, then the legacy derived key."""

    def __init__(self, keys: Sequence[str], *, legacy_secrets: Sequence[str] = ()) -> None:
        keys = [k for k in keys if k]
        if not keys:
            raise ConfigError("no key to seal secrets at rest", field=SETTING)
        register_secret(*keys)
        configured = [_fernet(b"mandi-secret-key:" + k.encode()) for k in keys]
        legacy = [_fernet(_LEGACY_PREFIX + s.encode()) for s in legacy_secrets if s]
        self._primary = configured[0]
        self._keys = MultiFernet(configured)
        self._legacy = MultiFernet(legacy or configured)
        self._all = MultiFernet(configured + legacy)
        self._count = len(keys)
        self._warned = False

    def __repr__(self) -> str:
        return f"SecretBox({self._count} key{'s' * (self._count != 1)})"

    def seal(self, data: bytes) -> bytes:
        return self._primary.encrypt(data)

    def open(self, token: bytes, what: str = "a stored secret") -> bytes:
        try:
            return self._keys.decrypt(bytes(token))
        except InvalidToken:
            pass
        try:
            clear = self._legacy.decrypt(bytes(token))
        except InvalidToken:
            raise ConfigError(f"{what} cannot be decrypted with any key of {SETTING} (or its "
                              "key file): the key that sealed it is not configured",
                              field=SETTING) from None
        if not self._warned:
            self._warned = True
            log.warning("%s is still sealed with the legacy key derived from the Kite API "
                        "secret; run `python -m services.execution.accounts_cli rotate-secrets`",
                        what)
        return clear

    def rotate(self, token: bytes, what: str = "a stored secret") -> bytes | None:
        """`token` re-sealed under the first key, or None when it already is (idempotence)."""
        token = bytes(token)
        try:
            self._primary.decrypt(token)
            return None
        except InvalidToken:
            pass
        self.open(token, what)  # the clear error when no key opens it
        return self._all.rotate(token)


def secret_box(settings: Any) -> SecretBox:
    """The host's box: MANDI_SECRET_KEY's keys, else the generated key file; the legacy key
    (derived from MANDI_KITE_API_SECRET) last, so data sealed before upgrading still opens."""
    keys = settings.secret_keys()
    if not keys:
        try:
            keys = [key_from_file(settings.secret_key_file, "secret key").decode()]
        except AuthError as exc:
            raise ConfigError(exc.message, field="MANDI_SECRET_KEY_FILE") from None
    return SecretBox(keys, legacy_secrets=(settings.kite_api_secret,))
