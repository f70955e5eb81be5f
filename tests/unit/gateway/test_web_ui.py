"""The gateway serves the web UI's build at `/` as the router's fallback: files, the SPA's
index.html for client routes, never an API path (those keep the API's 404 envelope), and a page
saying to run `make setup` when there is no build. The committed OpenAPI snapshot the UI's
types come from equals the live app's document."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from prometheus_client import generate_latest

from mandi.platform.config import load_settings
from scripts import openapi_snapshot
from services.gateway import web_ui
from services.gateway.app import create_app


def _client(build: Path, monkeypatch: pytest.MonkeyPatch) -> httpx.AsyncClient:
    monkeypatch.setattr(web_ui, "BUILD_DIR", build)
    app = create_app(load_settings({}))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


@pytest.fixture
def build(tmp_path: Path) -> Path:
    (tmp_path / "build" / "_app" / "immutable").mkdir(parents=True)
    (tmp_path / "build" / "index.html").write_text("<html>SPA</html>")
    (tmp_path / "build" / "_app" / "immutable" / "entry.abc.js").write_text("console.log(1)")
    (tmp_path / "build" / "favicon.svg").write_text("<svg/>")
    (tmp_path / "secret.txt").write_text("outside the build")
    return tmp_path / "build"


async def test_files_and_client_routes_are_served_api_paths_keep_their_404(
        build: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async with _client(build, monkeypatch) as c:
        for path in ("/", "/orders", "/bots/abc/logs"):
            r = await c.get(path)
            assert (r.status_code, r.text) == (200, "<html>SPA</html>"), path
            assert r.headers["cache-control"] == "no-cache"
            assert r.headers["x-frame-options"] == "DENY"  # never framed (clickjacking)
            assert r.headers["x-content-type-options"] == "nosniff"
        r = await c.get("/_app/immutable/entry.abc.js")
        assert (r.status_code, r.text) == (200, "console.log(1)")
        assert "immutable" in r.headers["cache-control"]
        assert "javascript" in r.headers["content-type"]
        assert (await c.get("/favicon.svg")).text == "<svg/>"
        assert (await c.head("/positions")).status_code == 200
        for path in ("/api/v1/nope", "/api", "/ws/nope", "/metrics", "/docsx/../docs/x",
                     "/health", "/_app/immutable/missing.js", "/%2e%2e/secret.txt"):
            r = await c.get(path)
            assert r.status_code == 404, path
            assert r.json() == {"success": False, "error": "Not Found",
                                "error_type": "not_found"}, path
        r = await c.post("/orders")  # only GETs reach the UI
        assert r.status_code == 404 and r.json()["error_type"] == "not_found"
        # API routes still answer as before: the fallback never shadows them
        assert (await c.get("/healthz")).json() == {"status": "ok"}
        assert (await c.get("/openapi.json")).json()["info"]["title"] == "Mandi gateway"
        assert (await c.get("/api/v1/auth/login")).status_code == 405  # a POST-only route
        metrics = generate_latest().decode()
        assert 'route="<web-ui>",status="200"' in metrics  # labelled, not <unmatched>


async def test_without_a_build_the_page_says_to_run_make_setup(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async with _client(tmp_path / "nothing", monkeypatch) as c:
        r = await c.get("/orders")
        assert r.status_code == 503
        assert "make setup" in r.text and "text/html" in r.headers["content-type"]
        assert (await c.get("/api/v1/nope")).status_code == 404


def test_committed_openapi_snapshot_equals_the_live_document() -> None:
    assert openapi_snapshot.SNAPSHOT.is_file(), "run .venv/bin/python -m scripts.openapi_snapshot"
    assert openapi_snapshot.SNAPSHOT.read_text() == \
        openapi_snapshot.render(openapi_snapshot.live_document()), \
        "the API changed: run .venv/bin/python -m scripts.openapi_snapshot and commit it"
