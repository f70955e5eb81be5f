"""Login flow, token errors, profile and margins — through the unmodified kiteconnect client."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from kiteconnect import KiteConnect
from kiteconnect.exceptions import TokenException

from mandi.core.clock import IST
from mandi.testing.kitesim import kite_sample as sample
from mandi.testing.kitesim import shape_diff, start_kitesim


def test_login_flow_returns_access_token_the_client_can_use(kitesim_server):
    kite = KiteConnect(kitesim_server.api_key, root=kitesim_server.url)
    data = kite.generate_session(kitesim_server.request_token(), kitesim_server.api_secret)
    assert data["access_token"] and data["api_key"] == kitesim_server.api_key
    assert isinstance(data["login_time"], datetime)
    assert kite.profile()["broker"] == "ZERODHA"


def test_generate_session_when_checksum_wrong_raises_token_exception(kitesim_server):
    kite = KiteConnect(kitesim_server.api_key, root=kitesim_server.url)
    with pytest.raises(TokenException) as exc:
        kite.generate_session(kitesim_server.request_token(), "not-the-secret")
    assert exc.value.code == 403


def test_request_token_when_reused_raises_token_exception(kitesim_server):
    kite = KiteConnect(kitesim_server.api_key, root=kitesim_server.url)
    token = kitesim_server.request_token()
    kite.generate_session(token, kitesim_server.api_secret)
    with pytest.raises(TokenException):
        kite.generate_session(token, kitesim_server.api_secret)


def test_bad_access_token_raises_token_exception_403(kitesim_server):
    kite = KiteConnect(kitesim_server.api_key, root=kitesim_server.url)
    kite.set_access_token("bogus")
    with pytest.raises(TokenException) as exc:
        kite.profile()
    assert exc.value.code == 403 and "access_token" in str(exc.value)


def test_invalidated_token_is_rejected(kitesim_server):
    kite = KiteConnect(kitesim_server.api_key, root=kitesim_server.url)
    kite.generate_session(kitesim_server.request_token(), kitesim_server.api_secret)
    assert kite.invalidate_access_token() is True
    with pytest.raises(TokenException):
        kite.margins()


def test_token_expires_at_six_ist_next_morning_by_the_sim_clock():
    server = start_kitesim(rate_limits=False)
    try:
        kite = server.kite()
        assert kite.profile()["user_id"]
        server.admin("clock", {"now": "2025-11-21T05:59:00+05:30"})
        assert kite.profile()["user_id"]
        server.admin("clock", {"now": "2025-11-21T06:00:01+05:30"})
        with pytest.raises(TokenException):
            kite.profile()
    finally:
        server.stop()


def test_margins_segment_and_whole(kitesim_server):
    kite = kitesim_server.kite()
    whole = kite.margins()
    assert set(whole) == {"equity", "commodity"}
    assert kite.margins("equity")["available"]["opening_balance"] == 1_000_000


@pytest.mark.parametrize(("path", "name"), [
    ("/user/profile", "profile"), ("/user/margins", "margins"),
    ("/user/margins/equity", "margins_equity"),
])
def test_raw_user_responses_carry_sample_keys(kitesim_server, path, name):
    ours = kitesim_server.raw(path)
    assert ours["status"] == "success"
    assert shape_diff(ours, sample(name)) == []


def test_raw_session_response_carries_sample_keys(kitesim_server):
    kite = KiteConnect(kitesim_server.api_key, root=kitesim_server.url)
    data = kite.generate_session(kitesim_server.request_token(), kitesim_server.api_secret)
    expected = sample("generate_session")["data"]
    assert set(expected) - set(data) == set()
    now = kitesim_server.now().astimezone(IST).replace(tzinfo=None)
    assert abs(data["login_time"] - now) < timedelta(minutes=1)
