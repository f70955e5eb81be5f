"""Kite's JSON envelope: `{"status":"success","data":...}` and the error shape the client maps
to its exception classes (`error_type` must always be present on errors)."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web


class KiteError(Exception):
    """Raised anywhere in a handler; rendered as Kite's error envelope."""

    http_status = 400
    error_type = "GeneralException"

    def __init__(self, message: str, http_status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if http_status is not None:
            self.http_status = http_status


class TokenException(KiteError):
    http_status, error_type = 403, "TokenException"


class PermissionException(KiteError):
    http_status, error_type = 403, "PermissionException"


class InputException(KiteError):
    http_status, error_type = 400, "InputException"


class OrderException(KiteError):
    http_status, error_type = 400, "OrderException"


class NetworkException(KiteError):
    http_status, error_type = 429, "NetworkException"


class GeneralException(KiteError):
    http_status, error_type = 500, "GeneralException"


class DataException(KiteError):
    http_status, error_type = 502, "DataException"


def _dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"))


def success(data: Any) -> web.Response:
    return web.Response(text=_dumps({"status": "success", "data": data}),
                        content_type="application/json")


def error(exc: KiteError) -> web.Response:
    body = {"status": "error", "message": exc.message, "error_type": exc.error_type,
            "data": None}
    return web.Response(status=exc.http_status, text=_dumps(body),
                        content_type="application/json")


def rupees(paise: int) -> float:
    """Paise as the float rupees Kite puts on the wire (exact: shortest repr of p/100)."""
    return paise / 100
