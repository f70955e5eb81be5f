import hashlib
from datetime import date, datetime, timedelta

import pytest

from mandi.core.clock import IST
from services.kitesim.clock import SimClock
from services.kitesim.envelope import TokenException
from services.kitesim.ratelimit import RateLimiter, endpoint_class
from services.kitesim.session import Sessions
from services.kitesim.universe import SEG, Universe, base_instruments, derivatives


class Wall:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_sim_clock_runs_speed_times_wall():
    wall = Wall()
    start = datetime(2025, 11, 20, 9, 15, tzinfo=IST)
    clock = SimClock(start, 60, wall=wall)
    wall.t += 2
    assert clock.now_ist() == start + timedelta(minutes=2)
    with pytest.raises(ValueError):
        SimClock(datetime(2025, 1, 1), 1)


def test_sim_clock_speed_change_keeps_the_time_reached():
    wall = Wall()
    start = datetime(2025, 11, 20, 9, 13, tzinfo=IST)
    clock = SimClock(start, 1, wall=wall)
    wall.t += 10
    clock.set(speed=500)  # the 10 s ran at 1×: no jump to 09:13 + 10 × 500 s
    assert clock.now_ist() == start + timedelta(seconds=10)
    wall.t += 2
    assert clock.now_ist() == start + timedelta(seconds=1010)
    with pytest.raises(ValueError):
        clock.set(speed=0)
    assert clock.speed == 500


def test_rate_limiter_windows_per_class_and_key():
    wall = Wall()
    rl = RateLimiter(clock=wall)
    assert [rl.allow("k", "historical") for _ in range(4)] == [True, True, True, False]
    assert rl.allow("other-key", "historical")
    wall.t += 1.01
    assert rl.allow("k", "historical")
    assert endpoint_class("GET", "/quote/ltp") == "quote"
    assert endpoint_class("POST", "/orders/regular") == "orders"
    assert endpoint_class("GET", "/orders") == "other"
    assert endpoint_class("GET", "/sim/clock") is None


def test_order_limits_include_400_per_minute():
    wall = Wall()
    rl = RateLimiter(clock=wall)
    ok = 0
    for _ in range(50):  # 50 s × 10 attempts = 500 inside one minute
        ok += sum(rl.allow("k", "orders") for _ in range(10))
        wall.t += 1.0
    assert ok == 400  # Kite's 400/min (staff, 2025), not the older 200


def test_session_checksum_and_expiry_at_six():
    wall = Wall()
    clock = SimClock(datetime(2025, 11, 20, 22, 0, tzinfo=IST), 1, wall=wall)
    s = Sessions("key", "secret", clock)
    rt = s.issue_request_token("key")
    with pytest.raises(TokenException):
        s.exchange("key", rt, "bad")
    rt = s.issue_request_token("key")
    sess = s.exchange("key", rt, hashlib.sha256(b"key" + rt.encode() + b"secret").hexdigest())
    assert s.check(f"token key:{sess.access_token}") is sess
    wall.t += 8 * 3600 + 1  # 06:00:01 next day
    with pytest.raises(TokenException):
        s.check(f"token key:{sess.access_token}")


def test_universe_tokens_segments_and_csv():
    u = Universe(base_instruments() + derivatives(date(2025, 11, 20), lambda t: 2_590_000))
    for inst in u.instruments:
        assert inst.token == inst.exchange_token * 256 + SEG[inst.segment.split("-")[0]
                                                             if inst.kind != "INDEX"
                                                             else "INDICES"]
        assert inst.token < 2**32
    lines = u.csv().splitlines()
    assert all(",," not in line.split(",", 5)[-1].replace(",,0.0", "") for line in lines[1:])
    assert 2500 <= len(lines) - 1 <= 3500
