"""The web UI (web/, SvelteKit built by `make setup` into web/build) served at `/` from the
gateway's own origin, so the browser's session cookie and CSRF header reach the API with no CORS.

It is the router's fallback (`app.router.default`), not a route: it answers only what no API
route matched, so it can never shadow one and an API route's 405 stays a 405. A GET or HEAD of a
file under the build sends it (`/_app/immutable/*` cached for a year: their names carry a
hash); any other GET is a client-side route and gets the SPA's `index.html`. Paths under the
API's own prefixes (/api, /ws, /openapi.json, /docs, /redoc, /metrics, /health…) and every
other method keep the API's 404 in its error envelope. Without a build the page says to run
`make setup` (503), never a 500. Public: static files carry no data (auth/policy.py)."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.types import Receive, Scope, Send

BUILD_DIR = Path(__file__).resolve().parents[2] / "web" / "build"
API_PREFIXES = ("api", "ws", "openapi.json", "docs", "redoc", "metrics", "health", "healthz")
IMMUTABLE = "public, max-age=31536000, immutable"
# a trading UI is never framed (clickjacking), nor sniffed, nor leaks its paths in Referer
SAFETY = {"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff",
          "Referrer-Policy": "same-origin"}


class _WebRoute:
    """What the metrics label the UI's answers with (http_metrics reads scope["route"])."""

    path_format = path = "<web-ui>"


WEB_ROUTE = _WebRoute()

NO_BUILD_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Mandi: web UI not built</title></head>
<body style="font-family:sans-serif;background:#0A0B14;color:#eee;padding:2rem">
<h1 style="color:#E6B865">The web UI is not built yet</h1>
<p>Run <code>make setup</code> (or <code>make run</code>, which runs it) in the Mandi checkout:
it installs the UI's packages from web/package-lock.json and builds web/build.</p>
<p>The API is up: see <a style="color:#E6B865" href="/docs">/docs</a>.</p></body></html>"""


def is_api_path(path: str) -> bool:
    first = path.lstrip("/").split("/", 1)[0]
    return first in API_PREFIXES


def web_response(root: Path, path: str) -> Response | None:
    """What GET `path` (without its leading slash) answers from the build; None for a 404."""
    index = root / "index.html"
    if not index.is_file():
        return HTMLResponse(NO_BUILD_PAGE, status_code=503)
    if path:
        target = (root / path).resolve()
        if target.is_relative_to(root) and target.is_file():
            cache = IMMUTABLE if path.startswith("_app/immutable/") else "no-cache"
            return FileResponse(target, headers={"Cache-Control": cache, **SAFETY})
        if "." in path.rsplit("/", 1)[-1]:  # a missing asset, not a client route
            return None
    return FileResponse(index, headers={"Cache-Control": "no-cache", **SAFETY})


def install(app: FastAPI, build_dir: Path | None = None) -> None:
    root = (build_dir or BUILD_DIR).resolve()
    not_found = app.router.default

    async def fallback(scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and scope["method"] in ("GET", "HEAD") \
                and not is_api_path(path):
            response = web_response(root, path.lstrip("/"))
            if response is not None:
                scope["route"] = WEB_ROUTE
                await response(scope, receive, send)
                return
        await not_found(scope, receive, send)

    app.router.default = fallback
