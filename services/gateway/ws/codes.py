"""WebSocket close codes, the REST status codes they stand for plus 4000 (RFC 6455 leaves
4000-4999 to applications), so a client handles both transports with one table:

4400 bad input (a malformed `since`, no `account_id` where one is needed), 4401 no or a bad
credential, 4403 a role below the channel's, 4404 an account or object the caller does not
hold (worded as for one that does not exist, as REST's 404), 1013 try again later (a slow client
dropped, or a backend away), 1011 anything else."""

from __future__ import annotations

from mandi.core import errors

SLOW = 1013  # RFC 6455 "Try Again Later": this client fell behind (or a backend is away)

_BY_TYPE: tuple[tuple[type[errors.MandiError], int], ...] = (
    (errors.AuthError, 4401),
    (errors.PermissionDenied, 4403),
    (errors.NotFound, 4404),
    (errors.InvalidInput, 4400),
    (errors.TemporaryError, SLOW),
)


def close_code_of(exc: errors.MandiError) -> int:
    for kind, code in _BY_TYPE:
        if isinstance(exc, kind):
            return code
    return 1011
