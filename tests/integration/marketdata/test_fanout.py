"""The fan-out end to end: a real Redis, a real grpc.aio server on a socket, real client stubs.
Ticks and candles go in through a second MarketBus (the ingester's side) and come out of
StreamTicks / StreamCandles; subscriptions, last prices and bad input through the unary RPCs."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import grpc
import numpy as np
import pytest
import pytest_asyncio
from google.protobuf.timestamp_pb2 import Timestamp

from mandi.core.errors import CapacityExceeded
from mandi.platform.redis import create_redis
from mandi.testing.redis import redis_namespace
from mandi.testing.ticks import NSE_TOKENS, make_batch
from mandi.v1 import common_pb2, marketdata_pb2
from services.marketdata.bus import MarketBus
from services.marketdata.candles import Bar, Gap
from services.marketdata.ticks import MODE_FULL, MODE_LTP, MODE_QUOTE
from tests.integration.marketdata.fanout_kit import Served, served, until

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

FOREVER = 3600.0
T0 = int(datetime(2026, 1, 5, 3, 45, tzinfo=UTC).timestamp())  # 09:15 IST


@pytest_asyncio.fixture(loop_scope="module")
async def md() -> AsyncIterator[Served]:
    async with served() as s:
        yield s


def _ref(token: int) -> common_pb2.InstrumentRef:
    return common_pb2.InstrumentRef(instrument_token=token)


def _bar(token: int, i: int, interval: str = "minute", source: str = "ticks") -> Bar:
    p = 100_000 + i
    return Bar(token, interval, T0 + 60 * i, p, p + 50, p - 50, p + 10, 1000 + i, 0, source)


async def _read(call, n_ticks: int) -> tuple[list[common_pb2.Tick], int]:
    """Messages from a StreamTicks call until n_ticks ticks (+ dropped) have been accounted."""
    ticks, dropped = [], 0
    while len(ticks) + dropped < n_ticks:
        msg = await asyncio.wait_for(call.read(), 10)
        assert msg is not grpc.aio.EOF
        ticks.extend(msg.ticks)
        dropped += msg.dropped
    return ticks, dropped


# --- ticks -----------------------------------------------------------------------------------
async def test_stream_ticks_when_published_delivers_every_tick_and_filters_by_token(
        md: Served) -> None:
    everything = md.stub.StreamTicks(marketdata_pb2.StreamTicksRequest(), timeout=FOREVER)
    one = md.stub.StreamTicks(marketdata_pb2.StreamTicksRequest(
        instrument_tokens=[NSE_TOKENS[1]]), timeout=FOREVER)
    base = md.app.hub.subscribers
    await until(lambda: len(md.app.hub.tick_subs) >= 2, "two tick subscribers", 10)
    batches = [make_batch(list(NSE_TOKENS), mode, seed=mode) for mode in
               (MODE_LTP, MODE_QUOTE, MODE_FULL)]
    for b in batches:
        assert await md.bus.publish_ticks(b) >= 1
    got, dropped = await _read(everything, 3 * len(NSE_TOKENS))
    assert dropped == 0
    assert [(t.instrument_token, t.last_price) for t in got] == [
        (int(tok), int(p) / 100) for b in batches for tok, p in zip(b.token, b.price,
                                                                     strict=True)]
    full = got[-1]
    assert full.exchange_ts.seconds == batches[2].exchange_ts[-1] and len(full.bids) == 5
    assert got[0].volume_traded == 0 and got[len(NSE_TOKENS)].volume_traded > 0  # ltp, quote
    mine, _ = await _read(one, 3)
    assert {t.instrument_token for t in mine} == {NSE_TOKENS[1]}
    everything.cancel()
    one.cancel()
    await until(lambda: md.app.hub.subscribers <= base - 2 or not md.app.hub.tick_subs,
                "streams closed")


async def test_stream_ticks_when_one_subscriber_is_stalled_the_other_gets_everything_and_the_slow_one_conflates(  # noqa: E501
        md: Served) -> None:
    tokens = np.arange(1, 401, dtype=np.int64) * 256 + 1  # 400 NSE-like tokens
    slow = md.stub.StreamTicks(marketdata_pb2.StreamTicksRequest(queue_size=4), timeout=FOREVER)
    fast = md.stub.StreamTicks(marketdata_pb2.StreamTicksRequest(), timeout=FOREVER)
    await until(lambda: len(md.app.hub.tick_subs) == 2, "both subscribers")
    sent = [make_batch(tokens, MODE_FULL, seed=i) for i in range(60)]
    fast_reader = asyncio.create_task(_read(fast, 60 * len(tokens)))
    for b in sent:  # ~8 MB of full ticks: far beyond what the stalled socket buffers
        await md.bus.publish_ticks(b)
    fast_ticks, fast_dropped = await asyncio.wait_for(fast_reader, 30)
    # the fast subscriber got every tick, in order, while the slow one had read nothing
    assert fast_dropped == 0 and len(fast_ticks) == 60 * len(tokens)
    assert [t.last_price for t in fast_ticks[-len(tokens):]] == list(sent[-1].price / 100)
    slow_sub = next(s for s in md.app.hub.tick_subs if s.limit == 4)
    assert slow_sub.dropped_total > 0  # conflation happened for the stalled one only
    # the slow one, once it reads: nothing lost that was not counted, latest prices win
    slow_ticks, slow_dropped = await _read(slow, 60 * len(tokens))
    assert len(slow_ticks) + slow_dropped == 60 * len(tokens)
    assert slow_dropped == slow_sub.dropped_total > 0
    latest = {}
    for t in slow_ticks:
        latest[t.instrument_token] = t.last_price
    assert latest == {int(k): p / 100 for k, p in zip(tokens, sent[-1].price, strict=True)}
    slow.cancel()
    fast.cancel()


# --- candles ---------------------------------------------------------------------------------
async def _candles(call, n: int) -> list[marketdata_pb2.StreamCandlesResponse]:
    out = []
    while len(out) < n:
        msg = await asyncio.wait_for(call.read(), 10)
        assert msg is not grpc.aio.EOF
        out.append(msg)
    return out


async def test_stream_candles_when_since_given_replays_then_continues_live(md: Served) -> None:
    tok = 500_001 * 256 + 1
    assert await md.bus.append_candles([_bar(tok, i) for i in range(5)]) == [True] * 5
    assert await md.bus.append_candles([_bar(tok, 0, "5minute")]) == [True]
    since = Timestamp(seconds=T0 + 60 * 1, nanos=500)
    call = md.stub.StreamCandles(marketdata_pb2.StreamCandlesRequest(
        instrument_tokens=[tok], interval="minute", since=since), timeout=FOREVER)
    replayed = await _candles(call, 3)
    assert [m.candle.ts.seconds for m in replayed] == [T0 + 60 * i for i in (2, 3, 4)]
    assert replayed[0].candle.open == 1000.02 and replayed[0].source == "ticks"
    assert replayed[0].candle.volume == 1002 and replayed[0].closed
    await md.bus.append_candle(_bar(tok, 5, source="history"))
    assert await md.bus.append_gap(Gap(tok, T0 + 360, T0 + 420, "history empty"))
    live = await _candles(call, 2)
    assert live[0].candle.ts.seconds == T0 + 300 and live[0].source == "history"
    assert live[1].HasField("gap") and not live[1].HasField("candle")
    assert getattr(live[1].gap, "from").seconds == T0 + 360
    assert live[1].gap.reason == "history empty"
    call.cancel()


async def test_stream_candles_when_reader_is_slow_resource_exhausted_then_resume_loses_nothing(
        md: Served) -> None:
    tok = 500_002 * 256 + 1
    n = 4000
    call = md.stub.StreamCandles(marketdata_pb2.StreamCandlesRequest(
        instrument_tokens=[tok], interval="minute", queue_size=3), timeout=FOREVER)
    await until(lambda: any(s.limit == 3 for s in md.app.hub.candle_subs), "candle subscriber")
    for lo in range(0, n, 500):
        await md.bus.append_candles([_bar(tok, i) for i in range(lo, lo + 500)])
    seen = []
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        while True:
            msg = await asyncio.wait_for(call.read(), 10)
            assert msg is not grpc.aio.EOF
            seen.append(msg.candle.ts.seconds)
    assert exc.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert 0 < len(seen) < n
    m = re.search(r"since=(\S+)", exc.value.details())
    assert m, exc.value.details()
    resume = datetime.fromisoformat(m.group(1).replace("Z", "+00:00"))
    assert int(resume.timestamp()) == seen[-1]  # one instrument: exactly the last one seen
    again = md.stub.StreamCandles(marketdata_pb2.StreamCandlesRequest(
        instrument_tokens=[tok], interval="minute", since=Timestamp(
            seconds=int(resume.timestamp()))), timeout=FOREVER)
    rest = await _candles(again, n - len(seen))
    again.cancel()
    starts = seen + [r.candle.ts.seconds for r in rest]
    assert starts == [T0 + 60 * i for i in range(n)]  # every bar once, in order


async def test_append_candle_when_two_buses_race_logs_each_bar_once() -> None:
    async with redis_namespace() as ns:
        prefix = ns.prefix.rstrip(":")
        r1, r2 = (create_redis(ns.url, decode_responses=False) for _ in range(2))
        try:
            a, b = MarketBus(r1, prefix), MarketBus(r2, prefix)
            bars = [_bar(408065, i) for i in range(20)]

            async def ingest(bus: MarketBus) -> list[bool]:  # each in order, as an ingester
                return [await bus.append_candle(bar) for bar in bars]

            got_a, got_b = await asyncio.gather(ingest(a), ingest(b))
            assert [x + y for x, y in zip(got_a, got_b, strict=True)] == [1] * 20
            assert await a.append_candle(bars[5]) is False  # older than the last logged
            assert await b.append_gap(Gap(408065, T0, T0 + 60, "x"))
            assert not await a.append_gap(Gap(408065, T0, T0 + 60, "x"))
            logged = [e async for e in a.read_log()]
            assert [e.bar.start for e in logged if e.bar] == [bar.start for bar in bars]
            assert await r1.xlen(a.candle_log) == 21
        finally:
            await r1.aclose()
            await r2.aclose()


# --- subscriptions, last prices, status ------------------------------------------------------
async def test_subscriptions_when_two_clients_hold_a_token_it_stays_until_both_leave(
        md: Served) -> None:
    tok, other = 700_001 * 256 + 1, 700_002 * 256 + 1
    await md.stub.Subscribe(marketdata_pb2.SubscribeRequest(
        instruments=[_ref(tok)], mode=marketdata_pb2.TICK_MODE_LTP))
    await md.stub.Subscribe(marketdata_pb2.SubscribeRequest(
        instruments=[_ref(tok), _ref(other)], mode=marketdata_pb2.TICK_MODE_QUOTE,
        candle_intervals=["5min"]))
    reg = await md.bus.registry()
    assert reg[tok].refs == 2 and reg[tok].mode == "full" and reg[tok].intervals == ("5minute",)
    assert reg[other].refs == 1
    r = await md.stub.Unsubscribe(marketdata_pb2.UnsubscribeRequest(
        instruments=[_ref(tok), _ref(other)]))
    assert r.unsubscribed == 2
    listed = await md.stub.ListSubscriptions(marketdata_pb2.ListSubscriptionsRequest())
    subs = {s.instrument.instrument_token: s for s in listed.subscriptions}
    assert tok in subs and other not in subs
    assert subs[tok].mode == marketdata_pb2.TICK_MODE_FULL
    await md.stub.Unsubscribe(marketdata_pb2.UnsubscribeRequest(instruments=[_ref(tok)]))
    assert tok not in await md.bus.registry()
    r = await md.stub.Unsubscribe(marketdata_pb2.UnsubscribeRequest(instruments=[_ref(tok)]))
    assert r.unsubscribed == 0  # nothing held: no negative counts


async def test_registry_when_changed_notifies_and_refuses_past_the_instrument_limit(
        md: Served) -> None:
    small = MarketBus(md.bus.redis, md.app.settings.redis_prefix, max_instruments=3)
    ready = asyncio.Event()
    changes = small.registry_changes(ready)
    first = await anext(changes)
    await small.subscribe([11 * 256 + 1], "quote")
    assert await asyncio.wait_for(anext(changes), 5) > first
    before = await small.registry()
    with pytest.raises(CapacityExceeded) as exc:
        await small.subscribe([t * 256 + 1 for t in range(20, 40)], "ltp")
    assert exc.value.field == "instruments"
    assert await small.registry() == before  # all or nothing
    await small.unsubscribe([11 * 256 + 1])
    await changes.aclose()


async def test_get_ltp_when_ticks_published_returns_latest_price_in_paise(md: Served) -> None:
    toks = [800_001 * 256 + 1, 800_002 * 256 + 3]  # NSE, CDS
    b1 = make_batch(toks, MODE_FULL, seed=1)
    b2 = make_batch(toks[:1], MODE_QUOTE, seed=2)
    await md.bus.publish(b1)
    await md.bus.publish(b2)
    r = await md.stub.GetLtp(marketdata_pb2.GetLtpRequest(
        instruments=[_ref(t) for t in [*toks, 900_009 * 256 + 1]]))
    got = {p.instrument_token: p for p in r.prices}
    assert set(got) == set(toks)  # never-ticked instruments are left out
    assert got[toks[0]].last_price_paise == b2.price[0]
    assert got[toks[0]].ts.ToNanoseconds() == b2.received_ns[0]
    assert got[toks[1]].last_price_paise == round(b1.price[1] / 100_000)
    assert got[toks[1]].ts.seconds == b1.exchange_ts[1]


async def test_get_status_when_no_ingester_reports_standby(md: Served) -> None:
    r = await md.stub.GetStatus(marketdata_pb2.GetStatusRequest())
    assert not r.active and r.replica_id and not r.connections


# --- bad input -------------------------------------------------------------------------------
BAD = [
    ("Subscribe", marketdata_pb2.SubscribeRequest(), "instruments"),
    ("Subscribe", marketdata_pb2.SubscribeRequest(instruments=[_ref(0)]),
     "instruments[0].instrument_token"),
    ("Subscribe", marketdata_pb2.SubscribeRequest(instruments=[_ref(256 + 1),
                                                               common_pb2.InstrumentRef()]),
     "instruments[1]"),
    ("Subscribe", marketdata_pb2.SubscribeRequest(instruments=[_ref(257)],
                                                  candle_intervals=["minute", "7minute"]),
     "candle_intervals[1]"),
    ("Subscribe", marketdata_pb2.SubscribeRequest(instruments=[_ref(257)],
                                                  candle_intervals=["day"]),
     "candle_intervals[0]"),
    ("Subscribe", marketdata_pb2.SubscribeRequest(instruments=[_ref(257)], mode=9), "mode"),
    ("Unsubscribe", marketdata_pb2.UnsubscribeRequest(), "instruments"),
    ("GetLtp", marketdata_pb2.GetLtpRequest(instruments=[_ref(-5)]),
     "instruments[0].instrument_token"),
]
BAD_STREAMS = [
    ("StreamTicks", marketdata_pb2.StreamTicksRequest(queue_size=-1), "queue_size"),
    ("StreamTicks", marketdata_pb2.StreamTicksRequest(instrument_tokens=[257, 0]),
     "instrument_tokens[1]"),
    ("StreamCandles", marketdata_pb2.StreamCandlesRequest(interval="fortnight"), "interval"),
    ("StreamCandles", marketdata_pb2.StreamCandlesRequest(interval="day"), "interval"),
    ("StreamCandles", marketdata_pb2.StreamCandlesRequest(interval="minute",
                                                          include_forming=True),
     "include_forming"),
]


@pytest.mark.parametrize("method,request_,field", BAD)
async def test_unary_when_bad_input_invalid_argument_names_field(
        md: Served, method: str, request_, field: str) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await getattr(md.stub, method)(request_)
    assert exc.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert exc.value.details().startswith(f"{field}: "), exc.value.details()


@pytest.mark.parametrize("method,request_,field", BAD_STREAMS)
async def test_stream_when_bad_input_invalid_argument_names_field(
        md: Served, method: str, request_, field: str) -> None:
    call = getattr(md.stub, method)(request_, timeout=10)
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await call.read()
    assert exc.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert exc.value.details().startswith(f"{field}: "), exc.value.details()


async def test_tick_channel_skips_the_readers_own_origin() -> None:
    """A replica's ingester hands its ticks to its own hub directly; its bus must not deliver
    them a second time from Redis, while another replica's ticks still arrive."""
    async with redis_namespace() as ns:
        redis = create_redis(ns.url, decode_responses=False)
        prefix = ns.prefix.rstrip(":")
        mine = MarketBus(redis, prefix, origin="replica-a")
        other = MarketBus(redis, prefix, origin="replica-b")
        ready = asyncio.Event()
        reader = mine.ticks(ready)
        first = asyncio.ensure_future(reader.__anext__())
        await asyncio.wait_for(ready.wait(), 5)
        assert await mine.publish_ticks(make_batch(list(NSE_TOKENS)[:1], MODE_LTP)) == 1
        assert await other.publish_ticks(make_batch(list(NSE_TOKENS)[1:3], MODE_LTP)) == 1
        got = await asyncio.wait_for(first, 5)
        assert got.token.tolist() == list(NSE_TOKENS)[1:3]
        await reader.aclose()
        # a bus without an origin (tests, benches) skips nothing, not every origin-less message
        anon, ready = MarketBus(redis, prefix), asyncio.Event()
        reader = anon.ticks(ready)
        first = asyncio.ensure_future(reader.__anext__())
        await asyncio.wait_for(ready.wait(), 5)
        assert await MarketBus(redis, prefix).publish_ticks(
            make_batch(list(NSE_TOKENS)[:1], MODE_LTP)) == 1
        got = await asyncio.wait_for(first, 5)
        assert got.token.tolist() == list(NSE_TOKENS)[:1]
        await reader.aclose()
        await redis.aclose()
