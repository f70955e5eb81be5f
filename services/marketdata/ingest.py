"""The ingester: what the replica holding the ingest lease runs.

    registry (Redis) ─▶ TickerPool (≤3 KiteTicker sockets) ─▶ ticks ─▶ this replica's hub
                                                                  ├─▶ bus pub/sub (other replicas)
                                                                  └─▶ CandleBuilder ─▶ candle log
    clock step (CLOCK_STEP_S) ─▶ LTP hash (the step's last price per instrument, one HSET)
    socket down/up, mid-session start ─▶ gaps ─▶ Backfiller (history) ─▶ CandleBuilder.fill

Ticks are published before candles are built so tick latency does not wait on candle work.
Closed tick-built bars also go to history (`WriteCandles`, source "ticks": provisional until
the daily update replaces them with Kite's). The candle log's de-dup (bus.append_candle) is
what keeps a takeover from emitting a bar twice: a new ingester's builder starts mid-session,
its backfilled and rebuilt bars for minutes the old one already logged are refused there.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from google.protobuf.timestamp_pb2 import Timestamp

from mandi.core.clock import IST, Clock
from mandi.kite import ticker_codec as tc
from mandi.platform.config import Settings
from mandi.v1 import common_pb2, history_pb2, history_pb2_grpc
from services.marketdata import metrics
from services.marketdata.backfill import Backfiller
from services.marketdata.candles import Bar, CandleBuilder, Gap
from services.marketdata.fanout import Hub
from services.marketdata.metrics import observe_ticks
from services.marketdata.pool import TickerPool
from services.marketdata.ticks import TickBatch

log = logging.getLogger(__name__)
CLOCK_STEP_S = 0.1
FLUSH_S = 2.0
REGISTRY_POLL_S = 2.0
ALIVE_S = 1.5  # a heartbeat older than this no longer shows an idle socket alive
# Ticks read off the sockets and not yet processed: past the high mark (the process starved of
# CPU) a socket's ticks are shed as if it were down — its minutes become gaps, filled from
# history — until the backlog is back under the low mark; memory stays bounded, bars exact.
BACKLOG_HIGH = 400_000
BACKLOG_LOW = 40_000
LAGGING = "lagging"


@dataclass(frozen=True, slots=True)
class _StateChange:
    conn: int
    state: str
    detail: str


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, IST).isoformat(timespec="seconds")


def candle_proto(bar: Bar) -> common_pb2.Candle:
    div = tc.price_divisor(bar.token)
    ts = Timestamp()
    ts.FromSeconds(bar.start)
    return common_pb2.Candle(ts=ts, open=bar.open / div, high=bar.high / div, low=bar.low / div,
                             close=bar.close / div, volume=bar.volume, oi=bar.oi)


class Ingester:
    def __init__(self, settings: Settings, bus, clock: Clock,
                 history: history_pb2_grpc.HistoryServiceStub,
                 token_source: Callable[[], Awaitable[str]], *, hub: Hub | None = None) -> None:
        self.settings = settings
        self.hub = hub
        self.bus = bus
        self.clock = clock
        self.history = history
        self.token_source = token_source
        self.pool: TickerPool | None = None
        self.builder = CandleBuilder(grace_s=settings.marketdata_candle_grace_s)
        self.backfill = Backfiller(history, clock, on_filled=self._filled,
                                   on_unfilled=self._unfilled)
        self._conn_of: dict[int, int] = {}
        self._want: dict[int, tuple[str, frozenset[str]]] = {}
        self._state: dict[int, str] = {}
        self._ticks: asyncio.Queue[tuple[int, TickBatch] | _StateChange] = asyncio.Queue()
        self._writes: dict[tuple[int, str], list[Bar]] = defaultdict(list)
        self._tasks: list[asyncio.Task] = []
        # Held from a builder call until what it released is in the candle log: the tick, clock
        # and backfill paths each release bars in order, and the log refuses a bar older than
        # one logged, so two releases must never interleave their appends.
        self._lock = asyncio.Lock()
        # What the builder released and the candle log does not hold yet, in release order: a
        # failed append (Redis slow or down) leaves the rest here, first in line for the next
        # release, instead of losing bars the builder will never release again.
        self._unlogged: list[Bar | Gap] = []
        self._log_failing = False
        # how many of _unlogged's first bars were in an append that failed: they may be in the
        # log with the reply lost, so "logged already" for them is still this replica's bar
        self._tried = 0
        self._registry_changed = asyncio.Event()
        self._ltp_pending: list[TickBatch] = []
        self._postbacks: set[asyncio.Task] = set()
        self._data_ts: dict[int, int] = {}  # connection -> newest exchange timestamp it delivered
        self._tick_mono: dict[int, float] = {}  # connection -> time.monotonic() of its last ticks
        self._down_reason: dict[int, str] = {}
        self.backlog = 0  # ticks queued for the tick loop
        self.backlog_high, self.backlog_low = BACKLOG_HIGH, BACKLOG_LOW
        self._shedding: set[int] = set()  # sockets whose ticks are shed (backlog too high)
        self._pool_state: dict[int, str] = {}  # each socket's state as the pool last said
        metrics.INGEST_BACKLOG.set_function(lambda: self.backlog)

    def now(self) -> float:
        return self.clock.now().timestamp()

    # --- lifecycle ----------------------------------------------------------------------
    async def start(self) -> None:
        s = self.settings
        self.pool = TickerPool(s.kite_ws_root, s.kite_api_key, self.token_source,
                               on_ticks=self._on_ticks, on_state=self._on_state,
                               on_postback=self._on_postback, stall_s=s.marketdata_stall_s)
        await self.pool.start()
        self.backfill.start()
        self._tasks = [asyncio.create_task(c) for c in (
            self._tick_loop(), self._clock_loop(), self._registry_loop(), self._flush_loop())]
        log.info("ingester started")

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        await self.backfill.close()
        if self.pool is not None:
            await self.pool.close()
        with contextlib.suppress(Exception):
            await self._flush()
        log.info("ingester stopped")

    def status(self) -> list[dict]:
        return self.pool.status() if self.pool is not None else []

    # --- pool callbacks -----------------------------------------------------------------
    def _on_ticks(self, batch: TickBatch, conn: int) -> None:
        self._tick_mono[conn] = time.monotonic()
        if conn in self._shedding:
            metrics.SHED_TICKS.inc(len(batch))
            return
        if self.backlog + len(batch) > self.backlog_high:
            # behind by more than the high mark: this socket is down to the builder from its
            # last processed tick until the backlog drains (_caught_up)
            self._shedding.add(conn)
            metrics.SHED_TICKS.inc(len(batch))
            log.warning("ingest backlog %d ticks: shedding socket %d's ticks until it drains; "
                        "its minutes will be backfilled", self.backlog, conn)
            self._ticks.put_nowait(_StateChange(conn, LAGGING, f"backlog {self.backlog}"))
            return
        self.backlog += len(batch)
        self._ticks.put_nowait((conn, batch))

    def _on_state(self, conn: int, state: str, detail: str) -> None:
        self._pool_state[conn] = state
        if conn in self._shedding and state == "connected":
            return  # back from a drop while shedding: _caught_up brings it up once drained
        # through the tick queue: ticks read before a socket died must reach the builder
        # before it learns the socket is down, or they would count as seen after the outage
        self._ticks.put_nowait(_StateChange(conn, state, detail))

    def _caught_up(self) -> None:
        """The backlog is under the low mark: sockets shed while it was high are taken up
        again (the builder's feed_up: their missed minutes become gaps to backfill)."""
        if not self._shedding or self.backlog > self.backlog_low:
            return
        for conn in sorted(self._shedding):
            log.info("ingest backlog down to %d ticks: socket %d taken up again", self.backlog,
                     conn)
            if self._pool_state.get(conn) == "connected":
                self._ticks.put_nowait(_StateChange(conn, "connected", "backlog drained"))
        self._shedding.clear()

    def _apply_state(self, conn: int, state: str, detail: str) -> None:
        prev = self._state.get(conn)
        self._state[conn] = state
        tokens = [t for t, c in self._conn_of.items() if c == conn]
        if state != "connected" and prev == "connected":
            # from the last data the socket delivered, not from when its death was noticed
            at = min(self.now(), self._data_ts.get(conn, self.now()))
            log.info("ticker socket %d down (%s) with %d instruments; last data at %s",
                     conn, state, len(tokens), _iso(at))
            self.builder.feed_down(tokens, at)
        elif state == "connected" and prev not in (None, "connected"):
            metrics.RECONNECTS.labels(reason=self._down_reason.pop(conn, "dropped")).inc()
            gaps = self.builder.feed_up(tokens, self.now())
            log.info("ticker socket %d up again at %s: %d gaps to backfill", conn,
                     _iso(self.now()), len(gaps))
            for gap in gaps:
                self.backfill.submit(gap)
        if state in ("auth", "limit", "stalled", LAGGING):
            self._down_reason[conn] = state
            log.warning("ticker socket %d: %s %s", conn, state, detail)

    def _on_postback(self, data: dict) -> None:
        # held until done (the loop keeps only weak references to tasks); a failure is logged
        task = asyncio.get_running_loop().create_task(self.bus.publish_postback(data))
        self._postbacks.add(task)
        task.add_done_callback(self._postback_done)

    def _postback_done(self, task: asyncio.Task) -> None:
        self._postbacks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("publishing a postback failed: %s", task.exception())

    # --- loops --------------------------------------------------------------------------
    async def _tick_loop(self) -> None:
        pending: _StateChange | None = None
        while True:
            if pending is not None:
                self._apply_state(pending.conn, pending.state, pending.detail)
                pending = None
            item = await self._ticks.get()
            if isinstance(item, _StateChange):
                pending = item
                continue
            batches = [item]
            while not self._ticks.empty() and len(batches) < 64:
                item = self._ticks.get_nowait()
                if isinstance(item, _StateChange):
                    pending = item
                    break
                batches.append(item)
            self.backlog -= sum(len(b) for _, b in batches)
            self._caught_up()
            try:
                await self._on_batch(TickBatch.concat([b for _, b in batches]))
                # the feed clock advances only with ticks the builder has seen: a bar must not
                # close by grace while its last ticks still wait in this queue
                for conn, b in batches:
                    newest = int(b.exchange_ts.max()) if len(b) else 0
                    if newest > self._data_ts.get(conn, 0):
                        self._data_ts[conn] = newest
            except asyncio.CancelledError:
                raise
            except Exception:  # Redis hiccup, a bug on one batch: keep ingesting
                log.exception("processing a tick batch failed")

    async def _on_batch(self, batch: TickBatch) -> None:
        if not len(batch):
            return
        if self.hub is not None:  # this replica's subscribers without a Redis round trip
            self.hub.dispatch_ticks(batch)
        await self.bus.publish_ticks(batch)  # other replicas (this one's hub skips it)
        self._ltp_pending.append(batch)  # the LTP hash is written by _clock_loop, coalesced
        observe_ticks(batch, self.now())
        async with self._lock:
            await self._emit(self.builder.on_ticks(batch))

    def feed_clock(self) -> float:
        """The market time up to which every socket carrying instruments has delivered.

        A socket's time is the newest exchange timestamp it delivered, or the clock when its
        latest frame was a heartbeat (idle, but alive). A bar closes by grace only once this
        passes its end, so a socket that went silently dead holds bars back and the minutes it
        missed become a gap at reconnect instead of bars released short; and it does not depend
        on how fast the (simulated) clock runs."""
        now = self.now()
        if self.pool is None:
            return now
        mono = time.monotonic()
        safe = now
        busy = set(self._conn_of.values())
        for conn in self.pool.connections:
            if conn.index not in busy or conn.index in self._shedding:
                continue  # (a shed socket's instruments are down to the builder)
            idle = (conn.last_frame > self._tick_mono.get(conn.index, 0.0)
                    and mono - conn.last_frame < ALIVE_S)
            if not idle:
                safe = min(safe, self._data_ts.get(conn.index, now))
        return safe

    async def _write_ltps(self) -> None:
        """The last price of every instrument ticked since the previous write, one HSET: the
        hash lags by at most a clock step, and the tick path never waits for it."""
        if not self._ltp_pending:
            return
        batch, self._ltp_pending = TickBatch.concat(self._ltp_pending), []
        _, last = np.unique(batch.token[::-1], return_index=True)
        try:
            await self.bus.set_ltps(batch.take(len(batch) - 1 - last))
        except Exception as exc:  # Redis hiccup: the next write carries newer prices anyway
            log.warning("writing last prices failed: %s", exc)

    async def _clock_loop(self) -> None:
        while True:
            await asyncio.sleep(CLOCK_STEP_S)
            await self._write_ltps()
            async with self._lock:  # (a failed append leaves its bars in _unlogged)
                await self._emit(self.builder.on_clock(self.feed_clock()))

    async def _registry_loop(self) -> None:
        """Follow the registry: every change notification, and a full re-read every few
        seconds in case a notification was lost (pub/sub is at-most-once)."""
        self._watch = asyncio.create_task(self._watch_registry())
        try:
            while True:
                self._registry_changed.clear()
                try:
                    await self._sync_registry()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    log.warning("subscription sync failed: %s", exc)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._registry_changed.wait(), REGISTRY_POLL_S)
        finally:
            self._watch.cancel()

    async def _watch_registry(self) -> None:
        while True:
            try:
                async for _version in self.bus.registry_changes():
                    self._registry_changed.set()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("registry notifications lost (%s); re-reading periodically", exc)
                await asyncio.sleep(1.0)

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_S)
            try:
                await self._flush()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # history down: keep the bars and try again
                log.warning("writing tick-built candles to history failed: %s", exc)

    # --- subscriptions ------------------------------------------------------------------
    async def _sync_registry(self) -> None:
        assert self.pool is not None
        want = {tok: (reg.mode, frozenset(reg.intervals))
                for tok, reg in (await self.bus.registry()).items()}
        gone = [t for t in self._want if t not in want]
        if gone:
            await self.pool.unsubscribe(gone)
            async with self._lock:
                for t in gone:
                    self.builder.untrack(t)
                    self._conn_of.pop(t, None)
        by_mode: dict[str, list[int]] = defaultdict(list)
        now = self.now()
        for tok, (mode, intervals) in want.items():
            old = self._want.get(tok)
            if old == (mode, intervals):
                continue
            by_mode[mode].append(tok)
            if intervals and (old is None or old[1] != intervals):
                async with self._lock:
                    for gap in self.builder.track(tok, intervals, now):
                        self.backfill.submit(gap)
            elif not intervals and old is not None and old[1]:
                async with self._lock:
                    self.builder.untrack(tok)
        for mode, tokens in by_mode.items():
            placed = await self.pool.subscribe(tokens, mode)
            self._conn_of.update(placed)
        self._want = want

    # --- candles ------------------------------------------------------------------------
    async def _emit(self, items: list[Bar | Gap]) -> None:
        for gap in self.builder.take_gaps():  # e.g. a first tick too late for a volume baseline
            self.backfill.submit(gap)
        self._unlogged.extend(items)
        try:
            await self._log_released()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the log unreachable: the bars wait, the next call retries
            if not self._log_failing:
                log.warning("appending candles to the log failed (%d waiting): %s",
                            len(self._unlogged), exc)
            self._log_failing = True
            return
        if self._log_failing:
            log.info("candle log reachable again: the waiting bars are in")
            self._log_failing = False

    async def _log_released(self) -> None:
        """Append the released bars and gaps to the candle log in order; raises when an
        append fails, leaving it and what follows for the next call (at the latest the clock
        loop's next step). The log takes a bar once
        (per token, interval and start), so a batch that went in before its reply was lost is
        not doubled when sent again."""
        while self._unlogged:
            n = next((i for i, it in enumerate(self._unlogged) if isinstance(it, Gap)),
                     len(self._unlogged))
            if n == 0:
                gap = self._unlogged[0]
                assert isinstance(gap, Gap)
                await self.bus.append_gap(gap)
                del self._unlogged[0]
                metrics.GAPS_UNFILLED.inc()
                continue
            bars = self._unlogged[:n]
            try:
                logged = await self.bus.append_candles(bars)  # type: ignore[arg-type]
            except Exception:
                self._tried = max(self._tried, n)
                raise
            del self._unlogged[:n]
            tried, self._tried = self._tried, max(0, self._tried - n)
            for i, (bar, ok) in enumerate(zip(bars, logged, strict=True)):
                assert isinstance(bar, Bar)
                if ok or i < tried:  # else logged already by another replica (a takeover)
                    metrics.CANDLES_EMITTED.labels(source=bar.source).inc()
                    if bar.source == "ticks":
                        self._writes[(bar.token, bar.interval)].append(bar)

    async def _filled(self, gap: Gap, bars: list[Bar]) -> None:
        metrics.GAPS_FILLED.inc()
        async with self._lock:
            await self._emit(self.builder.fill(gap.token, bars, gap))

    async def _unfilled(self, gap: Gap, reason: str) -> None:
        log.warning("gap %s could not be filled: %s", gap, reason)
        async with self._lock:
            await self._emit(self.builder.give_up(gap))

    async def _flush(self) -> None:
        writes, self._writes = self._writes, defaultdict(list)
        try:
            for (token, interval), bars in list(writes.items()):
                await self.history.WriteCandles(history_pb2.WriteCandlesRequest(
                    instrument_token=token, interval=interval, source="ticks",
                    candles=[candle_proto(b) for b in bars]))
                del writes[(token, interval)]
        finally:
            for key, bars in writes.items():  # not written: back in the queue, in order
                self._writes[key][:0] = bars
