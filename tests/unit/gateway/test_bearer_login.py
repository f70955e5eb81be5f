"""mandi.testing.gateway_auth.bearer, the login the fuzz, the load bench and the soak share,
against a real HTTP server standing in for a gateway that is still opening its auth store:
503s are waited out, then the token comes back as a header; a refusal is raised at once."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from mandi.testing.gateway_auth import LOGIN_PATH, bearer


class Gateway(ThreadingHTTPServer):
    opening = 2  # logins answered 503 before the auth store is open
    calls = 0


class Handler(BaseHTTPRequestHandler):
    server: Gateway

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.calls += 1
        if self.path != LOGIN_PATH:
            code, out = 404, {"error": "no route"}
        elif self.server.calls <= self.server.opening:
            code, out = 503, {"error": "auth store opening"}
        elif body == {"username": "ann", "password": "pw-1"}:
            code, out = 200, {"access_token": f"tok-{self.server.calls}"}
        else:
            code, out = 401, {"error": "bad credentials"}
        data = json.dumps(out).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def gateway() -> Iterator[Gateway]:
    server = Gateway(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def _client(server: Gateway) -> httpx.Client:
    return httpx.Client(base_url=f"http://127.0.0.1:{server.server_address[1]}", timeout=5)


def test_bearer_when_gateway_opening_waits_out_503_then_header(gateway: Gateway) -> None:
    started = time.monotonic()
    with _client(gateway) as http:
        header = bearer(http, "ann", "pw-1")
    assert header == {"Authorization": "Bearer tok-3"}
    assert gateway.calls == 3
    assert time.monotonic() - started < 5


def test_bearer_when_refused_or_never_open_raises(gateway: Gateway) -> None:
    with _client(gateway) as http, pytest.raises(httpx.HTTPStatusError) as refused:
        bearer(http, "ann", "wrong")
    assert refused.value.response.status_code == 401
    gateway.calls, gateway.opening = 0, 10**6
    with _client(gateway) as http, pytest.raises(httpx.HTTPStatusError) as closed:
        bearer(http, "ann", "pw-1", wait_s=0.5)
    assert closed.value.response.status_code == 503
