"""The gateway's request guards over a real socket (security review S2, S13): body size limits
(declared and chunked), security headers, and CORS only for configured origins.

The gateway runs as `python -m services.gateway` runs it (`serve(build_spec(settings))`), with
small limits so the tests send little; no backend is needed — every request here is answered
before a route would call one, or by a route that needs none."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio

from mandi.platform.config import load_settings
from mandi.testing.kitesim import free_port
from services.gateway.app import create_app
from services.gateway.server import build_spec
from tests.integration.market_stack import start_service

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

ALLOWED = "https://desk.example.test"
MAX_BODY, MAX_UPLOAD = 4096, 16384


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def http() -> AsyncIterator[httpx.AsyncClient]:
    port = free_port()
    settings = load_settings({"MANDI_GATEWAY_PORT": str(port),
                              "MANDI_GATEWAY_CORS_ORIGINS": f"{ALLOWED}, http://127.0.0.1:3000/",
                              "MANDI_GATEWAY_MAX_BODY_BYTES": str(MAX_BODY),
                              "MANDI_GATEWAY_MAX_UPLOAD_BYTES": str(MAX_UPLOAD)})
    gateway = await start_service(build_spec(settings), settings, "gateway")
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            yield client
    finally:
        await gateway.close()


async def raw_post(http: httpx.AsyncClient, path: str, head: dict[str, str], body: bytes,
                   content_type: str = "application/json") -> tuple[int, dict]:
    """POST with a raw socket: the headers and only `body` (the start of what they announce),
    then read the answer — as a client that never sends the rest would see it."""
    reader, writer = await asyncio.open_connection(http.base_url.host, http.base_url.port)
    lines = [f"POST {path} HTTP/1.1", f"host: {http.base_url.host}",
             f"content-type: {content_type}", *(f"{k}: {v}" for k, v in head.items())]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
    await writer.drain()
    try:
        status_line = await asyncio.wait_for(reader.readline(), 10)
        headers = {}
        while (line := await asyncio.wait_for(reader.readline(), 10)) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            headers[name.strip().lower()] = value.strip()
        payload = await asyncio.wait_for(reader.readexactly(int(headers["content-length"])), 10)
    finally:
        writer.close()
    return int(status_line.split()[1]), json.loads(payload)


async def test_body_over_the_declared_limit_is_refused_before_it_is_read(http):
    # 100 MB announced, 10 bytes sent: the answer comes without waiting for the rest.
    status, body = await raw_post(http, "/api/v1/orders", {"content-length": "100000000"},
                                  b'{"a": 1234')
    assert status == 413
    assert body == {"success": False, "error_type": "validation",
                    "error": f"request body is larger than the limit of {MAX_BODY} bytes"}


async def test_chunked_body_is_cut_off_at_the_limit(http):
    chunk = b"x" * 1000
    framed = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(MAX_BODY // 1000 + 2))
    status, body = await raw_post(http, "/api/v1/orders", {"transfer-encoding": "chunked"},
                                  framed)  # no final 0-chunk: the stream is still open
    assert status == 413 and str(MAX_BODY) in body["error"]


async def test_body_within_the_limit_reaches_the_route(http):
    r = await http.post("/api/v1/orders", content=b"{not json",
                        headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json()["error_type"] == "validation"


async def test_upload_gets_the_upload_limit_not_the_body_limit(http):
    csv = b"date,open,high,low,close,volume\n" + b"x" * (MAX_BODY * 2)
    r = await http.post("/api/data/import-candles/NSE/INFY/day", files={"file": ("c.csv", csv)})
    assert r.status_code != 413  # over the JSON limit, under the upload limit: the route answers
    status, body = await raw_post(http, "/api/data/import-candles/NSE/INFY/day",
                                  {"content-length": str(MAX_UPLOAD + 1)}, b"--b\r\n",
                                  content_type="multipart/form-data; boundary=b")
    assert status == 413 and str(MAX_UPLOAD) in body["error"]


@pytest.mark.parametrize("path", ["/healthz", "/api/v1/no-such-route"])
async def test_every_response_carries_the_security_headers(http, path):
    r = await http.get(path)
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["referrer-policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    assert (r.headers.get("cache-control") == "no-store") == path.startswith("/api/")


async def test_cors_preflight_from_a_configured_origin_is_allowed(http):
    for origin in (ALLOWED, "http://127.0.0.1:3000"):
        r = await http.options("/api/v1/orders", headers={
            "origin": origin, "access-control-request-method": "POST",
            "access-control-request-headers": "content-type,authorization"})
        assert r.status_code == 200
        assert r.headers["access-control-allow-origin"] == origin
        assert r.headers["access-control-allow-credentials"] == "true"


async def test_cors_from_any_other_origin_gets_no_allow_header(http):
    r = await http.options("/api/v1/orders", headers={
        "origin": "https://evil.example.test", "access-control-request-method": "POST"})
    assert r.status_code == 400 and "access-control-allow-origin" not in r.headers
    r = await http.get("/healthz", headers={"origin": "https://evil.example.test"})
    assert r.status_code == 200 and "access-control-allow-origin" not in r.headers


async def test_cors_by_default_allows_no_origin():
    app = create_app(load_settings({}))  # no lifespan: nothing here reaches a backend
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
        r = await client.options("/api/v1/orders", headers={
            "origin": ALLOWED, "access-control-request-method": "POST"})
        assert "access-control-allow-origin" not in r.headers
        r = await client.get("/healthz", headers={"origin": ALLOWED})
        assert r.status_code == 200 and "access-control-allow-origin" not in r.headers
        assert r.headers["x-frame-options"] == "DENY"


@pytest.mark.parametrize(("where", "path", "body"), [
    ("body", "/api/v1/orders", rb'{"account_id": "PAPER1\u0000"}'),
    ("body", "/api/v1/orders", rb'{"symbol": "\ud800x"}'),  # a lone high surrogate
    ("body", "/api/v1/orders", rb'{"symbol": "x\uDC00"}'),  # a lone low surrogate
    ("query", "/api/v1/reconcile?account_id=PAPER1%00", b"{}"),
    ("query", "/api/v1/reconcile?account_id=%ED%A0%80", b"{}"),  # UTF-8 of a surrogate
    ("path", "/api/v1/orders/abc%00/x", b"{}"),
])
async def test_text_no_database_can_store_is_refused_naming_where(http, where, path, body):
    r = await http.post(path, content=body, headers={"content-type": "application/json"})
    assert r.status_code == 400, r.text
    assert r.json()["error"].startswith(f"{where}: holds text that cannot be stored")


@pytest.mark.parametrize("body", [
    rb'{"symbol": "\ud83d\ude00"}',  # a surrogate pair (an emoji) is text
    rb'{"symbol": "a\\u0000 as typed"}',  # an escaped backslash, then "u0000"
    '{"symbol": "निफ्टी"}'.encode(),
])
async def test_text_that_is_text_reaches_the_route(http, body):
    r = await http.post("/api/v1/orders", content=body,
                        headers={"content-type": "application/json"})
    assert "cannot be stored" not in r.text
    assert r.status_code in (400, 401, 422), r.text  # the route's own answer (no credential)
