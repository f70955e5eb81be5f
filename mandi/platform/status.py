"""The one table between domain errors and gRPC status codes, in both directions.

Servers turn a `MandiError` raised by a servicer into a status code the caller can act on
(fix the request / retry / stop); clients turn the status back into the same error class so the
gateway can map it to HTTP with its own single table. The error's class name and `field` ride
in trailing metadata so the round trip is lossless. Anything that is not a `MandiError` is a bug:
the caller gets INTERNAL with a generic message, the traceback goes to our log only.
"""

from __future__ import annotations

import json

import asyncpg
import grpc
import redis.exceptions

from mandi.core import errors

# Order matters only for the reverse direction: the first class listed for a code is what a
# client gets back when the server sent no class name.
STATUS_OF: dict[type[errors.MandiError], grpc.StatusCode] = {
    errors.InvalidInput: grpc.StatusCode.INVALID_ARGUMENT,
    errors.NotFound: grpc.StatusCode.NOT_FOUND,
    errors.PreconditionFailed: grpc.StatusCode.FAILED_PRECONDITION,
    errors.AlreadyExists: grpc.StatusCode.ALREADY_EXISTS,
    errors.PermissionDenied: grpc.StatusCode.PERMISSION_DENIED,
    errors.AuthError: grpc.StatusCode.UNAUTHENTICATED,
    errors.RateLimited: grpc.StatusCode.RESOURCE_EXHAUSTED,
    errors.CapacityExceeded: grpc.StatusCode.RESOURCE_EXHAUSTED,
    errors.TemporaryError: grpc.StatusCode.UNAVAILABLE,
    errors.ConfigError: grpc.StatusCode.FAILED_PRECONDITION,
    errors.BrokerLoginNeeded: grpc.StatusCode.FAILED_PRECONDITION,
}

INTERNAL_MESSAGE = "internal error"

# Trailing-metadata keys carrying the error class and field.
ERROR_TYPE_KEY = "mandi-error-type"
ERROR_FIELD_KEY = "mandi-error-field"
ERROR_REASON_KEY = "mandi-error-reason"
ERROR_PARAMS_KEY = "mandi-error-params"  # JSON object of strings

# Codes with no domain class of their own that are still worth retrying.
_RETRYABLE_TRANSPORT = {grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.ABORTED}

_CLASS_BY_NAME: dict[str, type[errors.MandiError]] = {cls.__name__: cls for cls in STATUS_OF}
_CLASS_BY_CODE: dict[grpc.StatusCode, type[errors.MandiError]] = {}
for _cls, _code in STATUS_OF.items():
    _CLASS_BY_CODE.setdefault(_code, _cls)


# A store the service needs gone away (PostgreSQL or Redis refusing or dropping connections):
# not a bug but an outage worth retrying, as the gateway answers it with 503.
STORE_UNAVAILABLE: tuple[type[BaseException], ...] = (
    ConnectionError, asyncpg.PostgresConnectionError, asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError, asyncpg.ConnectionDoesNotExistError,
    redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)
STORE_UNAVAILABLE_MESSAGE = "a database or Redis this service needs is unavailable, try again"


def status_of(exc: BaseException) -> grpc.StatusCode:
    """The status code for an exception: the nearest mapped class in its MRO, UNAVAILABLE for a
    store outage, else INTERNAL."""
    for cls in type(exc).__mro__:
        code = STATUS_OF.get(cls)
        if code is not None:
            return code
    if isinstance(exc, STORE_UNAVAILABLE):
        return grpc.StatusCode.UNAVAILABLE
    return grpc.StatusCode.INTERNAL


def details_of(exc: BaseException) -> str:
    """The message the caller sees: `field: message` for domain errors, a generic one otherwise."""
    if isinstance(exc, STORE_UNAVAILABLE) and not isinstance(exc, errors.MandiError):
        return STORE_UNAVAILABLE_MESSAGE
    if status_of(exc) is grpc.StatusCode.INTERNAL or not isinstance(exc, errors.MandiError):
        return INTERNAL_MESSAGE
    return f"{exc.field}: {exc.message}" if exc.field else exc.message


def trailers_of(exc: BaseException) -> tuple[tuple[str, str], ...]:
    """Trailing metadata that lets `grpc_error_to_domain` rebuild the same error class."""
    if not isinstance(exc, errors.MandiError) or status_of(exc) is grpc.StatusCode.INTERNAL:
        return ()
    mapped = next(cls for cls in type(exc).__mro__ if cls in STATUS_OF)
    trailers = [(ERROR_TYPE_KEY, mapped.__name__)]
    if exc.field:
        trailers.append((ERROR_FIELD_KEY, exc.field))
    if exc.reason:
        trailers.append((ERROR_REASON_KEY, exc.reason))
        if exc.params:
            trailers.append((ERROR_PARAMS_KEY, json.dumps(exc.params, ensure_ascii=False)))
    return tuple(trailers)


def grpc_error_to_domain(exc: grpc.aio.AioRpcError | grpc.RpcError) -> errors.MandiError:
    """Rebuild the domain error a server raised, for clients to re-raise (`raise ... from exc`).

    Unmapped codes become TemporaryError when retrying can help (deadline, aborted,
    unavailable) and plain MandiError otherwise (INTERNAL, UNKNOWN, UNIMPLEMENTED...).
    """
    code = exc.code() if hasattr(exc, "code") else grpc.StatusCode.UNKNOWN
    details = (exc.details() if hasattr(exc, "details") else None) or ""
    trailers = dict(_metadata_pairs(exc))
    cls = _CLASS_BY_NAME.get(str(trailers.get(ERROR_TYPE_KEY, "")))
    if cls is None or STATUS_OF[cls] != code:
        cls = _CLASS_BY_CODE.get(code)
    field = trailers.get(ERROR_FIELD_KEY)
    field = str(field) if field else None
    message = details
    if field and message.startswith(f"{field}: "):
        message = message[len(field) + 2 :]
    if cls is None:
        cls = errors.TemporaryError if code in _RETRYABLE_TRANSPORT else errors.MandiError
        message = f"{code.name.lower() if code else 'unknown'}: {details}" if details else str(code)
    reason = str(trailers.get(ERROR_REASON_KEY) or "") or None
    return cls(message, field=field, reason=reason,
               params=_params(trailers.get(ERROR_PARAMS_KEY)) if reason else None)


def _params(raw: object) -> dict[str, str]:
    """The error's params trailer, or {} when it is absent or not a JSON object."""
    try:
        value = json.loads(raw if isinstance(raw, str | bytes) else "")
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


def _metadata_pairs(exc: object) -> list[tuple[str, str | bytes]]:
    getter = getattr(exc, "trailing_metadata", None)
    if getter is None:
        return []
    try:
        md = getter()
    except Exception:
        return []
    return [(k, v) for k, v in (md or ())]
