"""A whole replayed kitesim day through the real marketdata service, with every fault at once.

kitesim (a process replaying the day at 400× from 09:10), history, and two marketdata replicas
(A, then B) on one API key, real Redis and PostgreSQL. A client on replica B subscribes 50
instruments (40 NSE equities, 10 NFO futures) with minute and 15-minute candles mid-session and
reads both candle streams to the close while the feed is abused:

* on subscribing (about 09:45 IST), the minutes since 09:15 are backfilled (a mid-session start);
* 30 minutes later kitesim drops every ticker socket and refuses new ones for 30 s;
* an hour after that every open socket goes silently mute (no ticks, no heartbeats);
* an hour later the active ingester (A) is SIGKILLed; B must hold the lease within 10 s.

The clock runs at one speed throughout: every service follows kitesim's clock by extrapolating
its last reading at its last speed, so a speed change mid-run would leave them minutes apart.

At the end, every bar of the day is in the stream exactly once and equals kitesim's historical
candle: OHLC and volume exactly, 100 % of the bars. Bars the feed missed arrive from history
(source "history"), the rest from ticks.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import Counter
from datetime import datetime, timedelta

import grpc
import pytest

from mandi.core.clock import IST
from mandi.platform.protoconv import to_timestamp
from mandi.testing.kitesim import free_port, kitesim_process
from mandi.testing.services import service_process
from mandi.testing.signed_channel import signed_channel
from mandi.v1 import common_pb2, history_pb2, history_pb2_grpc, marketdata_pb2, marketdata_pb2_grpc
from tests.e2e.history.kit import fresh_db, history_env, own_api_key

pytestmark = [pytest.mark.e2e, pytest.mark.heavy]

DAY = "2026-03-04"
SPEED = 400.0
EQUITIES, FUTURES = 40, 10
BARS = {"minute": 375, "15minute": 25}


def _at(hhmm: str) -> datetime:
    return datetime.fromisoformat(f"{DAY}T{hhmm}:00+05:30")


def _pick(sim) -> list[int]:
    kite = sim.kite()
    eq = [r for r in kite.instruments("NSE") if r["instrument_type"] == "EQ"
          and r["segment"] == "NSE"][:EQUITIES]
    fut = [r for r in kite.instruments("NFO") if r["instrument_type"] == "FUT"][:FUTURES]
    return [int(r["instrument_token"]) for r in eq + fut]


class Reader(threading.Thread):
    """Reads one StreamCandles stream into `items` until stopped."""

    def __init__(self, addr: str, interval: str) -> None:
        super().__init__(daemon=True)
        self.channel = signed_channel(addr)
        self.stub = marketdata_pb2_grpc.MarketdataServiceStub(self.channel)
        self.interval = interval
        self.items: list[marketdata_pb2.StreamCandlesResponse] = []
        self.error: grpc.RpcError | None = None
        self.call = None

    def run(self) -> None:
        self.call = self.stub.StreamCandles(marketdata_pb2.StreamCandlesRequest(
            interval=self.interval))
        try:
            for msg in self.call:
                self.items.append(msg)
        except grpc.RpcError as exc:
            if exc.code() != grpc.StatusCode.CANCELLED:
                self.error = exc

    def stop(self) -> None:
        if self.call is not None:
            self.call.cancel()
        self.channel.close()


def _wait_sim(sim, when: str | datetime, deadline_s: float = 300) -> None:
    at = _at(when) if isinstance(when, str) else when
    end = time.monotonic() + deadline_s
    while sim.now() < at:
        assert time.monotonic() < end, f"sim clock never reached {at:%H:%M}"
        time.sleep(0.05)


def _missing(items, n_tokens: int) -> list[str]:
    """The minutes not every instrument has (for a failure message)."""
    per_minute = Counter(m.candle.ts.seconds for m in items if m.HasField("candle"))
    start = int(_at("09:15").timestamp())
    return [datetime.fromtimestamp(start + 60 * k, IST).strftime("%H:%M")
            + f"({per_minute[start + 60 * k]})" for k in range(375)
            if per_minute[start + 60 * k] < n_tokens]


def _status(addr: str) -> marketdata_pb2.GetStatusResponse:
    with signed_channel(addr) as ch:
        return marketdata_pb2_grpc.MarketdataServiceStub(ch).GetStatus(
            marketdata_pb2.GetStatusRequest(), timeout=5)


def test_replayed_day_when_socket_drops_stalls_and_ingester_dies_candles_equal_history(
    tmp_path,
) -> None:
    key = own_api_key()
    prefix = f"e2e-md-{key['MANDI_KITE_API_KEY']}"
    with contextlib.ExitStack() as stack:
        sim = stack.enter_context(kitesim_process(
            "--start", f"{DAY}T09:10:00+05:30", "--speed", str(SPEED), "--no-rate-limits",
            seed=11, env=key))
        dsn = stack.enter_context(fresh_db())
        env = history_env(sim, dsn, MANDI_KITE_HISTORICAL_RATE="50",
                          MANDI_HISTORY_CONCURRENCY="4", MANDI_REDIS_PREFIX=prefix)
        history = stack.enter_context(service_process("history", env, tmp_path))
        md_env = {**env, "MANDI_HISTORY_ADDR": history.addr,
                  "MANDI_MARKETDATA_STALL_S": "2.5", "MANDI_MARKETDATA_LEASE_S": "4",
                  "MANDI_MARKETDATA_CANDLE_GRACE_S": "120"}
        a = stack.enter_context(service_process(
            "marketdata", {**md_env, "MANDI_MARKETDATA_REPLICA_ID": "A",
                           "MANDI_MARKETDATA_ADDR": f"127.0.0.1:{free_port()}"}, tmp_path))
        deadline = time.monotonic() + 20
        while not _status(a.addr).active:
            assert time.monotonic() < deadline, a.log()[-3000:]
            time.sleep(0.1)
        b = stack.enter_context(service_process(
            "marketdata", {**md_env, "MANDI_MARKETDATA_REPLICA_ID": "B",
                           "MANDI_MARKETDATA_ADDR": f"127.0.0.1:{free_port()}"}, tmp_path))
        assert not _status(b.addr).active and _status(b.addr).active_replica_id == "A"

        tokens = _pick(sim)
        assert len(tokens) == EQUITIES + FUTURES
        with signed_channel(b.addr) as ch:
            marketdata_pb2_grpc.MarketdataServiceStub(ch).Subscribe(
                marketdata_pb2.SubscribeRequest(
                    instruments=[common_pb2.InstrumentRef(instrument_token=t) for t in tokens],
                    mode=marketdata_pb2.TICK_MODE_FULL, candle_intervals=list(BARS)),
                timeout=30)
        readers = {iv: Reader(b.addr, iv) for iv in BARS}
        for r in readers.values():
            r.start()
            stack.callback(r.stop)
        deadline = time.monotonic() + 20
        while sum(c.instruments for c in _status(a.addr).connections) < len(tokens):
            assert time.monotonic() < deadline, a.log()[-3000:]
            time.sleep(0.1)

        # the faults follow the moment the stack is ready (a loaded machine starts it later)
        ready = sim.now()
        down, stall, kill = (ready + timedelta(minutes=m) for m in (30, 90, 150))
        assert kill < _at("14:30"), f"the stack took until {ready:%H:%M} to start"
        _wait_sim(sim, down)
        sim.admin("ws/fault", {"down_for_s": 30})
        _wait_sim(sim, stall)
        sim.admin("ws/fault", {"stall": True})
        _wait_sim(sim, kill)
        a.kill()
        killed = time.monotonic()
        while not _status(b.addr).active:
            assert time.monotonic() - killed < 10, "standby did not take over within 10 s"
            time.sleep(0.05)
        takeover_s = time.monotonic() - killed
        _wait_sim(sim, "15:31")

        want = {iv: len(tokens) * n for iv, n in BARS.items()}
        deadline = time.monotonic() + 120
        while any(sum(1 for m in readers[iv].items if m.HasField("candle")) < want[iv]
                  for iv in BARS):
            assert time.monotonic() < deadline, (
                {iv: sum(1 for m in r.items if m.HasField("candle")) for iv, r in
                 readers.items()}, _missing(readers["minute"].items, len(tokens)),
                b.log()[-3000:])
            for r in readers.values():
                assert r.error is None, r.error
            time.sleep(0.25)
        time.sleep(1.0)  # anything emitted twice would show up now

        kite = sim.kite()
        for iv, reader in readers.items():
            got = [m for m in reader.items if m.HasField("candle")]
            assert not [m for m in reader.items if m.HasField("gap")]
            seen = Counter((m.instrument_token, m.candle.ts.seconds) for m in got)
            assert max(seen.values()) == 1, "a candle was emitted twice"
            assert len(seen) == want[iv]
            sources = Counter(m.source for m in got)
            assert sources["ticks"] > 0 and sources["history"] > 0, sources
            ours = {(m.instrument_token, m.candle.ts.seconds):
                    (round(m.candle.open * 100), round(m.candle.high * 100),
                     round(m.candle.low * 100), round(m.candle.close * 100), m.candle.volume)
                    for m in got}
            source = {(m.instrument_token, m.candle.ts.seconds): m.source for m in got}
            for tok in tokens:
                rows = kite.historical_data(tok, _at("09:15"), _at("15:30"), iv)
                assert len(rows) == BARS[iv]
                for row in rows:
                    k = (tok, int(row["date"].timestamp()))
                    assert ours[k] == (round(row["open"] * 100), round(row["high"] * 100),
                                       round(row["low"] * 100), round(row["close"] * 100),
                                       row["volume"]), (iv, tok, row["date"], ours[k], row,
                                                        source[k])
        assert takeover_s < 10

        # the last price of every subscribed instrument is in Redis, served by any replica
        with signed_channel(b.addr) as ch:
            ltps = marketdata_pb2_grpc.MarketdataServiceStub(ch).GetLtp(
                marketdata_pb2.GetLtpRequest(instruments=[
                    common_pb2.InstrumentRef(instrument_token=t) for t in tokens]), timeout=10)
        assert {p.instrument_token for p in ltps.prices} == set(tokens)
        closes = {t: round(kite.historical_data(t, _at("15:29"), _at("15:29"), "minute")[0]
                           ["close"] * 100) for t in tokens[:3]}
        assert {p.instrument_token: p.last_price_paise for p in ltps.prices
                if p.instrument_token in closes} == closes

        # Closed candles also reached history (tick-built ones provisional, backfilled ones
        # final): the day's minute bars of a few instruments, read back, equal Kite's.
        with signed_channel(history.addr) as ch:
            stub = history_pb2_grpc.HistoryServiceStub(ch)
            for tok in tokens[:3] + tokens[-2:]:
                deadline = time.monotonic() + 20
                while True:  # the ingester writes to history every couple of seconds
                    batches = [r.batch for r in stub.GetCandles(history_pb2.GetCandlesRequest(
                        instrument=common_pb2.InstrumentRef(instrument_token=tok),
                        interval="minute", **{"from": to_timestamp(_at("09:15")),
                                              "to": to_timestamp(_at("15:30"))}), timeout=30)]
                    stored = {ms // 1000: (round(o * 100), round(c * 100), v) for b in batches
                              for ms, o, c, v in zip(b.ts_unix_ms, b.open, b.close, b.volume,
                                                     strict=True)}
                    if len(stored) >= BARS["minute"] or time.monotonic() > deadline:
                        break
                    time.sleep(0.5)
                rows = kite.historical_data(tok, _at("09:15"), _at("15:30"), "minute")
                assert stored == {int(r["date"].timestamp()): (
                    round(r["open"] * 100), round(r["close"] * 100), r["volume"]) for r in rows}
