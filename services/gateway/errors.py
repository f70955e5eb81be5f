"""The one table between domain errors and HTTP, and the error envelope every endpoint uses:
`{"success": false, "error": "...", "error_type": "..."}`, plus `"field"` (the input at fault;
the message starts with `field: ` unless it already names it), `"reason"` (a stable code)
and `"params"` (the values the message names) when the domain error carries them, so a
client can say it in its own words without parsing the message.

`error_type` keeps the original API's words where they apply: `auth` (401), `api` (a backend or
Kite failure worth retrying, 503) and `unknown` (anything unexpected, 500); the other failures
name their kind (`validation`, `not_found`, `conflict`, `rate_limit`, `forbidden`, `config`).
`kite_login_needed` (409) means the broker session — the day's Kite access token — is missing,
expired (06:00 IST) or was refused: someone must do the Kite login (`/api/v1/kite/login`);
the caller's own credential is fine (401 would tell a UI to sign its user out), and retrying
without that login cannot help, so no Retry-After.

Downstream gRPC errors are first turned back into domain errors (mandi.platform.status), so a
history INVALID_ARGUMENT becomes the same 400 as a gateway-side validation failure. Losing the
gateway's own PostgreSQL or Redis (auth, notifications) is a 503 worth retrying. Anything
unexpected is a 500 with a generic message; the traceback goes to the log only.
"""

from __future__ import annotations

import logging
from typing import Any

import asyncpg
import grpc
import redis.exceptions
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from mandi.core import errors
from mandi.platform.status import grpc_error_to_domain

log = logging.getLogger(__name__)

# (HTTP status, error_type) per domain error class; the nearest class in the MRO wins.
HTTP_OF: dict[type[errors.MandiError], tuple[int, str]] = {
    errors.InvalidInput: (400, "validation"),
    errors.AuthError: (401, "auth"),
    errors.BrokerLoginNeeded: (409, "kite_login_needed"),
    errors.PermissionDenied: (403, "forbidden"),
    errors.NotFound: (404, "not_found"),
    errors.AlreadyExists: (409, "conflict"),
    errors.PreconditionFailed: (409, "conflict"),
    errors.RateLimited: (429, "rate_limit"),
    errors.CapacityExceeded: (409, "capacity"),
    errors.TemporaryError: (503, "api"),
    errors.ConfigError: (500, "config"),
}


# The gateway's own stores gone away: connection refused or lost, the server full.
STORE_UNAVAILABLE = (OSError, asyncpg.PostgresConnectionError, asyncpg.TooManyConnectionsError,
                     asyncpg.CannotConnectNowError, redis.exceptions.ConnectionError,
                     redis.exceptions.TimeoutError)


def envelope(message: str, error_type: str, status: int,
             reason: dict[str, Any] | None = None) -> JSONResponse:
    """The error body; `reason` adds the domain error's field, stable code and values."""
    return JSONResponse({"success": False, "error": message, "error_type": error_type,
                         **(reason or {})}, status_code=status)


def from_domain(exc: errors.MandiError) -> JSONResponse:
    for cls in type(exc).__mro__:
        if cls in HTTP_OF:
            status, kind = HTTP_OF[cls]
            msg = f"{exc.field}: {exc.message}" if exc.field and exc.field not in exc.message \
                else exc.message
            why = {"reason": exc.reason, "params": exc.params} if exc.reason else {}
            return envelope(msg, kind, status, {"field": exc.field, **why} if exc.field else why)
    return envelope(exc.message or "error", "unknown", 500)


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path"))
        parts.append(f"{loc or 'request'}: {err.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


def install(app: FastAPI) -> None:
    @app.exception_handler(errors.MandiError)
    async def _domain(_: Request, exc: errors.MandiError) -> JSONResponse:
        response = from_domain(exc)
        retry_after = getattr(exc, "retry_after_s", None)
        if isinstance(exc, errors.RateLimited) and retry_after:
            response.headers["Retry-After"] = str(retry_after)
        return response

    @app.exception_handler(grpc.aio.AioRpcError)
    async def _grpc(_: Request, exc: grpc.aio.AioRpcError) -> JSONResponse:
        if exc.code() == grpc.StatusCode.UNAVAILABLE:
            return envelope("a backend service is unavailable, try again", "api", 503)
        return from_domain(grpc_error_to_domain(exc))

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return envelope(_validation_message(exc), "validation", 400)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        kind = {404: "not_found", 405: "validation", 413: "validation"}.get(exc.status_code, "api")
        return envelope(str(exc.detail), kind, exc.status_code)

    async def _store_gone(request: Request, exc: Exception) -> JSONResponse:
        log.warning("store unavailable on %s %s: %s: %s", request.method, request.url.path,
                    type(exc).__name__, exc)
        return envelope("a database or Redis the gateway needs is unavailable, try again",
                        "api", 503)

    for cls in STORE_UNAVAILABLE:
        app.add_exception_handler(cls, _store_gone)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return envelope("internal error", "unknown", 500)
