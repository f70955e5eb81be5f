"""The gateway's 500 path over real HTTP (uvicorn): an unexpected exception answers the error
envelope with a generic message and the seed's `error_type: "unknown"`; the traceback, with
whatever the exception carried, goes to the log only."""

from __future__ import annotations

import logging

import pytest

from services.gateway.deps import backends

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

DETAIL = "boom in /srv/mandi/internal_module.py line 42"


def broken_backends():
    raise RuntimeError(DETAIL)


@pytest.mark.parametrize(("method", "path", "kwargs"), [
    ("get", "/api/data/lookup/NSE/INFY", {}),
    ("post", "/api/data/fetch-equity",
     {"json": {"symbol": "INFY", "from_date": "2024-01-01", "to_date": "2024-01-31"}}),
])
async def test_unexpected_error_when_a_dependency_raises_is_generic_500_traceback_in_log(
    stack, caplog, method: str, path: str, kwargs: dict,
) -> None:
    stack.app.dependency_overrides[backends] = broken_backends
    try:
        with caplog.at_level(logging.ERROR, logger="services.gateway.errors"):
            r = await getattr(stack.http, method)(path, **kwargs)
    finally:
        stack.app.dependency_overrides.pop(backends, None)
    assert r.status_code == 500
    assert r.json() == {"success": False, "error": "internal error", "error_type": "unknown"}
    assert "internal_module" not in r.text and "Traceback" not in r.text

    ours = [rec for rec in caplog.records if rec.name == "services.gateway.errors"]
    assert len(ours) == 1
    assert ours[0].getMessage() == f"unhandled error on {method.upper()} {path}"
    assert ours[0].exc_info is not None and ours[0].exc_info[1].args == (DETAIL,)
    assert "Traceback (most recent call last)" in caplog.text
    assert f"RuntimeError: {DETAIL}" in caplog.text

    # the same route answers normally once the dependency is whole again
    if method == "get":
        ok = await stack.http.get(path)
        assert ok.status_code == 200 and ok.json()["symbol"] == "INFY"
