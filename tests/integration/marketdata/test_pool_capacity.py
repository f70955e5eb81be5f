"""3,500 instruments over the real kitesim ticker: 3,000 on socket 0, 500 on socket 1, and
ticks for every one of them (kitesim with a larger option chain so the universe has them)."""

from __future__ import annotations

import asyncio
import random

import pytest

from mandi.testing.kitesim import start_kitesim
from services.marketdata.pool import TickerPool
from tests.integration.marketdata.feed import Recorder, until


@pytest.fixture(scope="module")
def big_kitesim():
    server = start_kitesim(rate_limits=False, strikes_each_side=65)  # ~3,700 instruments
    server.login()
    try:
        yield server
    finally:
        server.stop()


async def test_3500_instruments_fill_socket_0_then_socket_1(big_kitesim):
    s = big_kitesim
    tokens = [i.token for i in s.sim.universe.instruments][:3500]
    assert len(tokens) == 3500

    async def token() -> str:
        return s.access_token

    rec = Recorder()
    pool = TickerPool(s.ws_url, s.api_key, token, on_ticks=rec.on_ticks, on_state=rec.on_state,
                      backoff_base_s=0.2, backoff_max_s=1.0, stall_s=10, rng=random.Random(1))
    await pool.start()
    try:
        where = await pool.subscribe(tokens, "ltp")
        assert [where[t] for t in tokens] == [0] * 3000 + [1] * 500
        assert [c["instruments"] for c in pool.status()] == [3000, 500, 0]
        await until(lambda: len(rec.conn_of) == 3500, 60, "ticks for all 3,500 instruments")
        assert {t: rec.conn_of[t] for t in tokens} == where
        # kitesim, like Kite, snapshots a fresh subscription in quote mode before the "mode"
        # message lands: after that, every instrument ticks in the mode asked for
        rec.mark()
        await until(lambda: len(rec.since) == 3500, 30, "a second round of ticks")
        assert set(rec.modes.values()) == {"ltp"}
        served = await asyncio.to_thread(s.admin, "ticker")
        assert sorted(c["tokens"] for c in served["connections"]) == [500, 3000]
        assert [c["state"] for c in pool.status()] == ["connected", "connected", "stopped"]
        # emptying socket 1 closes it; socket 0 keeps its 3,000
        await pool.unsubscribe(tokens[3000:])
        assert [c["instruments"] for c in pool.status()] == [3000, 0, 0]
        assert pool.status()[1]["state"] == "stopped"
        await until(lambda: len((s.admin("ticker"))["connections"]) == 1, 10, "socket 1 closed")
    finally:
        await pool.close()
