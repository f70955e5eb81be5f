"""TickerPool assignment and the connection's pure helpers (no sockets: the pool is not
started, so subscriptions are only recorded)."""

from __future__ import annotations

import random

import pytest

from mandi.core.errors import CapacityExceeded, InvalidInput
from services.marketdata.pool import TickerPool
from services.marketdata.ticker import backoff_delay, chunks, redact


async def _token() -> str:
    return "secret-token"


def _pool(**kw) -> TickerPool:
    return TickerPool("ws://127.0.0.1:1/ws", "key", _token, on_ticks=lambda b, i: None, **kw)


async def test_fills_connection_0_then_1_then_2():
    pool = _pool()
    where = await pool.subscribe(range(1, 3502), "quote")
    assert sum(1 for i in where.values() if i == 0) == 3000
    assert [where[3001], where[3501]] == [1, 1]
    where = await pool.subscribe(range(3502, 9001), "ltp")
    assert set(where.values()) == {1, 2}
    assert [c["instruments"] for c in pool.status()] == [3000, 3000, 3000]


async def test_9001_instruments_exceed_capacity_naming_how_many_were_refused():
    pool = _pool()
    with pytest.raises(CapacityExceeded) as exc:
        await pool.subscribe(range(1, 9002), "full")
    assert "1 of 9001 instruments refused" in exc.value.message
    assert exc.value.field == "tokens" and exc.value.refused == [9001]
    assert len(pool.modes()) == 9000  # the ones that fit stay subscribed
    # freed slots are reused by the next subscription, wherever they are
    await pool.unsubscribe([5])
    assert await pool.subscribe([9001], "full") == {9001: 0}


async def test_resubscribing_changes_mode_in_place():
    pool = _pool(max_per_connection=2)
    await pool.subscribe([1, 2, 3], "quote")
    assert await pool.subscribe([3, 1], "full") == {3: 1, 1: 0}
    assert pool.modes() == {1: "full", 2: "quote", 3: "full"}


async def test_bad_mode_names_the_field():
    with pytest.raises(InvalidInput) as exc:
        await _pool().subscribe([1], "fast")
    assert exc.value.field == "mode"


def test_full_jitter_backoff_is_bounded_and_grows():
    rng = random.Random(3)
    first = [backoff_delay(0, 1.0, 60.0, rng) for _ in range(500)]
    assert max(first) <= 1.0 and min(first) >= 0.0
    late = [backoff_delay(10, 1.0, 60.0, rng) for _ in range(500)]
    assert max(late) <= 60.0 and max(late) > 30.0  # capped, but spread over the whole range


def test_redact_hides_the_token_in_urls_and_text():
    url = "ws://h/ws?api_key=k&access_token=abc123&x=1"
    assert redact(f"403, url='{url}'") == "403, url='ws://h/ws?api_key=k&access_token=***&x=1'"
    assert "abc123" not in redact("token abc123 failed", "abc123")


def test_chunks_of_1000():
    assert [len(c) for c in chunks(list(range(2500)))] == [1000, 1000, 500]
