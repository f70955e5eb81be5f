"""What the gateway does to every HTTP request before a route sees it (security review S2, S13):

- a request body limit: `MANDI_GATEWAY_MAX_BODY_BYTES` for ordinary bodies (JSON), and the
  larger `MANDI_GATEWAY_MAX_UPLOAD_BYTES` for multipart uploads (candle and P&L imports).
  A declared Content-Length over it is refused before anything is read; a chunked body is
  counted as it streams and cut off when it passes the limit. Either way the answer is 413 with
  the error envelope, naming the limit;
- security headers on every response: no MIME sniffing, no framing, no referrer, and
  `Cache-Control: no-store` on `/api/` answers unless the route set its own;
- CORS only for the origins listed in `MANDI_GATEWAY_CORS_ORIGINS` (none by default, so a
  browser page of another origin cannot read the API at all);
- text no database or gRPC message can hold — a NUL character or a lone UTF-16 surrogate —
  anywhere in the path, the query string or a JSON body is refused with a 400 naming where it
  was, before any route sees it (PostgreSQL refuses NUL in text, protobuf refuses surrogates:
  unguarded, each was a 500; the review's fuzzing found both).

WebSocket connections pass through untouched (their messages are bounded by uvicorn's own
`ws_max_size`). Not built here: TLS; rate limits and authentication are the guard's
(auth/enforce.py, auth/rest_limits.py).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import unquote_to_bytes

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware

from mandi.platform.config import Settings
from services.gateway.errors import envelope

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

SECURITY_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"content-security-policy", b"frame-ancestors 'none'"),
    (b"cross-origin-opener-policy", b"same-origin"),
)
CORS_HEADERS = ("Authorization", "Content-Type", "X-API-Key", "X-CSRF-Token")


class BodyLimit:
    """413 for a request body over the limit (see the module docstring)."""

    def __init__(self, app: ASGIApp, max_body: int, max_upload: int) -> None:
        self.app, self.max_body, self.max_upload = app, max_body, max_upload

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        multipart = headers.get(b"content-type", b"").lower().startswith(b"multipart/")
        limit = self.max_upload if multipart else self.max_body
        declared = headers.get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            await self._refuse(limit, scope, receive, send)
            return
        seen = 0
        started = refused = False

        async def counted() -> Message:
            nonlocal seen, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    # Answer now (routes turn any body error into a 400 of their own) and
                    # tell the app the client left, so it stops; its answer is dropped.
                    refused = True
                    if not started:
                        await self._refuse(limit, scope, receive, send)
                    return {"type": "http.disconnect"}
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            if refused:
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        await self.app(scope, counted, watched)

    @staticmethod
    async def _refuse(limit: int, scope: Scope, receive: Receive, send: Send) -> None:
        response = envelope(f"request body is larger than the limit of {limit} bytes",
                            "validation", 413)
        response.headers["connection"] = "close"  # the rest of the body is never read
        await response(scope, receive, send)


# a JSON escape of NUL, or of a high surrogate not followed by a low one, or of a low one not
# preceded by a high one — each only when the backslash is not itself escaped
_BAD_JSON_TEXT = re.compile(
    rb"(?<!\\)(?:\\\\)*\\u(?:0000|[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F][0-9a-fA-F]{2}))"
    rb"|(?<!\\u[dD][89abAB][0-9a-fA-F]{2})(?<!\\)(?:\\\\)*\\u[dD][c-fC-F][0-9a-fA-F]{2}")


def bad_text(raw: bytes) -> bool:
    """URL-decoded bytes that are not UTF-8 text a database can store (NUL, invalid UTF-8
    such as an encoded surrogate)."""
    if b"\x00" in raw:
        return True
    try:
        raw.decode()
    except UnicodeDecodeError:
        return True
    return False


def bad_json_text(body: bytes) -> bool:
    """A JSON body whose strings hold NUL or a lone surrogate (or raw bytes that are not
    UTF-8)."""
    return _BAD_JSON_TEXT.search(body) is not None or bad_text(body)


class TextGuard:
    """400 for NUL or a lone surrogate in the path, the query or a JSON body."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        where = ""
        raw_path = scope.get("raw_path") or scope.get("path", "").encode(
            "utf-8", "surrogateescape")
        if bad_text(unquote_to_bytes(raw_path)):
            where = "path"
        elif bad_text(unquote_to_bytes(scope.get("query_string", b"").replace(b"+", b" "))):
            where = "query"
        if not where and scope["type"] == "http" and _is_json(scope):
            chunks, more = [], True
            while more:
                message = await receive()
                if message["type"] != "http.request":  # the client left
                    await self.app(scope, _replay(message), send)
                    return
                chunks.append(message.get("body", b""))
                more = message.get("more_body", False)
            body = b"".join(chunks)
            if bad_json_text(body):
                where = "body"
            else:
                await self.app(scope, _replay({"type": "http.request", "body": body,
                                               "more_body": False}), send)
                return
        if where:
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1007})
                return
            response = envelope(f"{where}: holds text that cannot be stored (a NUL "
                                "character, a lone surrogate or bytes that are not UTF-8)",
                                "validation", 400)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _is_json(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"content-type":
            v = value.lower()
            return v.startswith(b"application/json") or b"+json" in v
    return False


def _replay(first: Message) -> Receive:
    """A receive that hands the app the message already read, then the real channel's end."""
    pending = [first]

    async def receive() -> Message:
        return pending.pop() if pending else {"type": "http.disconnect"}

    return receive


class SecurityHeaders:
    """Adds SECURITY_HEADERS to every HTTP response, and no-store to API answers."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        api = scope.get("path", "").startswith("/api/")

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [(k, v) for k, v in SECURITY_HEADERS if k not in present]
                if api and b"cache-control" not in present:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)


def install(app: FastAPI, settings: Settings) -> None:
    """Wrap `app` in the guards; the body limit is outermost, so it runs first."""
    origins = list(settings.gateway_cors_origins)
    if origins:
        app.add_middleware(CORSMiddleware, allow_origins=origins, allow_credentials=True,
                           allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
                           allow_headers=list(CORS_HEADERS), max_age=600)
    app.add_middleware(TextGuard)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(BodyLimit, max_body=settings.gateway_max_body_bytes,
                       max_upload=settings.gateway_max_upload_bytes)
