"""One error tree for the whole platform.

Errors are grouped by what the caller should do about them (freqtrade's lesson): fix the
request, retry later, or stop and fix configuration. `mandi.platform.status` maps each class to
one gRPC status code and the gateway maps them to one HTTP status, each in a single table.
"""

from __future__ import annotations


class MandiError(Exception):
    """Base of every domain error. `field` names the offending input when there is one;
    `reason` is a stable code for why (snake_case) and `params` the values the message names,
    for a client that says it in its own words (the UI's translations) instead of parsing
    the English message."""

    def __init__(self, message: str, *, field: str | None = None, reason: str | None = None,
                 params: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.reason = reason
        self.params = dict(params or {})


# --- the caller must change the request -------------------------------------------------
class InvalidInput(MandiError):
    """Malformed or out-of-range input (bad symbol, from > to, quantity not a lot multiple)."""


class NotFound(MandiError):
    """The named thing does not exist (or belongs to another account)."""


class PreconditionFailed(MandiError):
    """The request is well-formed but the system state forbids it (modify a filled order)."""


class AlreadyExists(MandiError):
    """A unique thing was created twice."""


class PermissionDenied(MandiError):
    """The caller may not do this (admin-only, other tenant)."""


class CapacityExceeded(MandiError):
    """A hard capacity limit, not a rate: more instruments than Kite's sockets carry (3 × 3,000),
    or a stream reader too slow for its bounded queue. Waiting does not help; shedding load does."""


class AuthError(MandiError):
    """Credentials missing, wrong or expired. Never retried."""


class BrokerLoginNeeded(AuthError):
    """The broker session (the day's Kite access token) is missing, expired or was refused
    (Kite's TokenException): someone must do the daily Kite login. Not the caller's own
    credential — the gateway answers 409 `kite_login_needed`, not 401, so a UI does not sign
    its user out."""


# --- try again later ----------------------------------------------------------------------
class TemporaryError(MandiError):
    """A dependency failed transiently (network, 5xx). Safe to retry with backoff."""


class RateLimited(TemporaryError):
    """A rate limit was hit (ours or the broker's 429)."""


# --- stop: configuration ------------------------------------------------------------------
class ConfigError(MandiError):
    """The process is misconfigured (bad environment variable). Fails at start."""
