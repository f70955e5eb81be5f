"""The command line entry point and the fault switch."""

from __future__ import annotations

import time

import pytest
from kiteconnect.exceptions import GeneralException, NetworkException

from mandi.testing.kitesim import kitesim_process


def test_command_starts_with_start_speed_and_env_credentials():
    env = {"MANDI_KITE_API_KEY": "k123", "MANDI_KITE_API_SECRET": "s3cr3t-value"}
    with kitesim_process("--start", "2025-11-20T10:00:00+05:30", "--speed", "10",
                         env=env) as server:
        clock = server.admin("clock")
        assert clock["speed"] == 10 and clock["now"].startswith("2025-11-20T10:0")
        assert server.api_key == "k123"
        kite = server.kite()
        assert kite.profile()["user_id"]
        assert kite.ltp(["NSE:RELIANCE"])["NSE:RELIANCE"]["last_price"] > 0


def test_fault_switch_adds_latency_and_errors(kitesim_server):
    kite = kitesim_server.kite()
    try:
        kitesim_server.admin("faults", {"latency_ms": 300})
        t0 = time.monotonic()
        kite.profile()
        assert time.monotonic() - t0 >= 0.3
        kitesim_server.admin("faults", {"latency_ms": 0, "error_rate": 1.0})
        with pytest.raises((NetworkException, GeneralException)) as exc:
            kite.profile()
        assert exc.value.code in (500, 502, 503)
    finally:
        kitesim_server.admin("faults", {"enabled": False})
    assert kite.profile()["user_id"]
