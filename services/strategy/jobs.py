"""Backtest jobs: submission checks, and the worker that runs queued jobs to completion.

A job is a row (store.py). Workers claim it under a lease and renew the lease with every progress
update, so a job outlives the process that started it: a graceful stop hands it back to the
queue, a crash lets the lease run out, and either way the next worker starts it again (a
backtest is deterministic, so a rerun gives the same result). The cancel flag is read with each
renewal and honoured between chunks (candle batches, sandbox chunks, symbols, engine steps).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from mandi.core.backtest.data import Bars
from mandi.core.errors import InvalidInput, MandiError
from mandi.core.intervals import parse_interval
from mandi.platform.protoconv import from_timestamp, has_timestamp
from mandi.v1 import history_pb2_grpc, strategy_pb2
from services.strategy import definitions, library, metrics, optimize
from services.strategy.candles import load_bars, symbol_name
from services.strategy.partial import PartialResults, partial_proto
from services.strategy.sandbox import Sandbox, SandboxError, SandboxLimits
from services.strategy.store import (
    BacktestRow,
    BacktestStore,
    LeaseLost,
    Results,
    StrategyStore,
)

log = logging.getLogger(__name__)

SIZING_TYPES = ("fixed_qty", "fixed_capital", "pct_equity", "atr_risk")
MAX_SYMBOLS = 100
SANDBOX_CHUNK_BARS = 20_000
LOAD_SHARE = 0.2  # progress fraction given to reading candles
CANDLES_TABLE = "history.ohlcv"  # where the history service keeps the bars it streams


def _iso(ts_ns: int) -> str:
    return datetime.fromtimestamp(ts_ns / 1e9, UTC).isoformat()


def data_source(spec: strategy_pb2.BacktestSpec, bars: dict[str, Bars]) -> dict[str, Any]:
    """Where a run's bars came from, stored with its results (seed 002's `data_source`)."""
    return {
        "service": "history", "table": CANDLES_TABLE, "interval": spec.interval,
        "from": from_timestamp(getattr(spec, "from")).isoformat(),
        "to": from_timestamp(spec.to).isoformat(),
        "bars": sum(len(b) for b in bars.values()),
        "symbols": [{"symbol": name, "bars": len(b), "first_ts": _iso(int(b.ts[0])),
                     "last_ts": _iso(int(b.ts[-1]))} for name, b in bars.items()],
    }


class Cancelled(Exception):
    pass


def _sandbox_reason(error: str) -> str:
    for key, label in (("CPU time", "cpu"), ("memory", "memory"), ("timed out", "wall_clock")):
        if key in error:
            return label
    return "error"


# --- submission ---------------------------------------------------------------------------------
async def prepare_spec(spec: strategy_pb2.BacktestSpec, *, owner: str, admin: bool,
                       strategies: StrategyStore,
                       sandbox_limits: SandboxLimits | None = None,
                       check_strategy: bool = True) -> strategy_pb2.BacktestSpec:
    """Check a run request and return it self-contained: a stored strategy is copied in, so
    editing it later does not change a queued or resumed job. Bad input is InvalidInput naming
    the field (PermissionDenied for custom code from a non-admin) — before any job exists.
    `check_strategy=False` leaves an inline strategy to the caller (an external bot's)."""
    spec = strategy_pb2.BacktestSpec.FromString(spec.SerializeToString())
    if spec.strategy_id:
        rec = await strategies.get(spec.strategy_id, owner=owner or None)
        spec.strategy.CopyFrom(definitions.to_proto(rec))
    elif not spec.HasField("strategy"):
        raise InvalidInput("a strategy (inline or strategy_id) is required", field="strategy")
    if check_strategy:
        rec = definitions.from_proto(spec.strategy)
        rec.owner = owner
        try:
            await definitions.check(rec, admin=admin, sandbox_limits=sandbox_limits)
        except MandiError as exc:
            field_name = exc.field or ""
            exc.field = f"strategy.{field_name}" if field_name else "strategy"
            raise
        spec.strategy.CopyFrom(definitions.to_proto(rec))

    if not spec.symbols:
        raise InvalidInput("at least one symbol is required", field="symbols")
    if len(spec.symbols) > MAX_SYMBOLS:
        raise InvalidInput(f"at most {MAX_SYMBOLS} symbols per run", field="symbols")
    seen: set[str] = set()
    for i, sym in enumerate(spec.symbols):
        if not sym.exchange or not sym.tradingsymbol.strip():
            raise InvalidInput("each symbol needs an exchange and a trading symbol",
                               field=f"symbols[{i}]")
        sym.tradingsymbol = sym.tradingsymbol.strip().upper()
        name = symbol_name(sym)
        if name in seen:
            raise InvalidInput(f"{name} is listed twice", field=f"symbols[{i}]")
        seen.add(name)
    spec.interval = parse_interval(spec.interval or "day").name
    if not has_timestamp(getattr(spec, "from")) or not has_timestamp(spec.to):
        raise InvalidInput("from and to are required", field="from")
    if from_timestamp(getattr(spec, "from")) >= from_timestamp(spec.to):
        raise InvalidInput("from must be before to", field="from")
    if spec.capital_paise <= 0:
        raise InvalidInput("capital must be positive", field="capital")
    if not spec.sizing.type:
        spec.sizing.type = "pct_equity" if spec.sizing.pct else "fixed_qty"
        if spec.sizing.type == "fixed_qty" and spec.sizing.qty == 0:
            spec.sizing.qty = 1
    library.config_of(spec)  # sizing, costs, product vs exchange: InvalidInput naming the field
    return spec


# --- the worker ---------------------------------------------------------------------------------
@dataclass
class _Progress:
    bars_total: int = 0
    bars_done: int = 0
    fraction: float = 0.0
    cancel: threading.Event = field(default_factory=threading.Event)
    lost: bool = False
    partial: PartialResults | None = None  # a backtest's results so far (partial.py)


class BacktestRunner:
    """Runs queued backtests, `concurrency` at a time, in this process."""

    def __init__(self, store: BacktestStore, history: history_pb2_grpc.HistoryServiceStub, *,
                 worker_id: str | None = None, lease_s: float = 30.0, poll_s: float = 1.0,
                 concurrency: int = 1, sandbox_limits: SandboxLimits | None = None) -> None:
        self.store = store
        self.history = history
        self.worker_id = worker_id or f"strategy-{uuid.uuid4().hex[:12]}"
        self.lease_s = lease_s
        self.poll_s = poll_s
        self.concurrency = concurrency
        self.sandbox_limits = sandbox_limits or SandboxLimits()
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._running: dict[str, asyncio.Task[None]] = {}
        self._stopping = False

    def wake(self) -> None:
        self._wake.set()

    async def start(self) -> None:
        self._stopping = False
        self._tasks = [asyncio.create_task(self._loop(), name=f"backtest-worker-{i}")
                       for i in range(self.concurrency)]

    async def stop(self) -> None:
        """Hand running jobs back to the queue and stop; a restarted process resumes them."""
        self._stopping = True
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    async def _loop(self) -> None:
        while not self._stopping:
            try:
                row = await self.store.claim(self.worker_id, self.lease_s)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("claiming a backtest failed")
                row = None
            if row is None:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.poll_s)
                continue
            try:
                await self._run(row)
            except asyncio.CancelledError:
                with contextlib.suppress(Exception):
                    await asyncio.shield(self.store.release(row.id, self.worker_id))
                raise

    async def _run(self, row: BacktestRow) -> None:
        prog = _Progress()
        beat = asyncio.create_task(self._heartbeat(row.id, prog))
        state, error, results, partial = "failed", "", None, None
        started = time.monotonic()
        metrics.BACKTESTS_RUNNING.inc()
        try:
            if row.kind == "optimize":
                partial = await self._optimize(row, prog)
            else:
                results = await self._execute(row, prog)
            state = "done"
        except asyncio.CancelledError:
            prog.cancel.set()  # the engine thread stops at its next progress tick
            raise
        except Cancelled:
            state, error = "cancelled", ""
        except SandboxError as exc:
            error = str(exc)
            metrics.SANDBOX_FAILURES.labels(_sandbox_reason(error)).inc()
        except MandiError as exc:
            error = f"{exc.field}: {exc.message}" if exc.field else exc.message
        except Exception as exc:
            log.exception("backtest %s crashed", row.id)
            error = f"internal error: {type(exc).__name__}"
        finally:
            metrics.BACKTESTS_RUNNING.dec()
            beat.cancel()
            with contextlib.suppress(asyncio.CancelledError, LeaseLost, Exception):
                await beat
        if prog.lost:
            log.warning("backtest %s: lease lost, leaving it to its new worker", row.id)
            return
        if state != "done" and prog.cancel.is_set() and not error.startswith("internal"):
            state, error = "cancelled", ""
        await self.store.finish(row.id, self.worker_id, state, error=error, results=results,
                                bars_done=prog.bars_done, bars_total=prog.bars_total,
                                partial=partial)
        elapsed = time.monotonic() - started
        metrics.BACKTESTS.labels(state).inc()
        metrics.BACKTEST_SECONDS.observe(elapsed)
        if state == "done" and row.kind == "backtest":  # an optimisation's bars are not counted
            metrics.BACKTEST_BARS.inc(prog.bars_total)
            metrics.BACKTEST_BARS_PER_SECOND.set(prog.bars_total / max(elapsed, 1e-6))
        log.info("backtest %s %s%s", row.id, state, f": {error}" if error else "")

    async def _heartbeat(self, backtest_id: str, prog: _Progress) -> None:
        interval = max(min(self.lease_s / 3, 1.0), 0.05)
        stored: Any = None  # the results so far last written (unchanged: not written again)
        while True:
            latest = prog.partial.latest if prog.partial is not None else None
            fresh = latest if latest is not stored else None
            try:
                cancel = await self.store.heartbeat(
                    backtest_id, self.worker_id, self.lease_s, progress=prog.fraction,
                    bars_done=prog.bars_done, bars_total=prog.bars_total,
                    partial=None if fresh is None else partial_proto(fresh).SerializeToString())
                stored = latest
            except LeaseLost:
                prog.lost = True
                prog.cancel.set()
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("backtest %s: heartbeat failed", backtest_id, exc_info=True)
                cancel = False
            if cancel:
                prog.cancel.set()
            await asyncio.sleep(interval)

    @staticmethod
    def _check(prog: _Progress) -> None:
        if prog.cancel.is_set():
            raise Cancelled

    async def _optimize(self, row: BacktestRow, prog: _Progress) -> bytes:
        """An optimisation job: the request was checked and its spec prepared at submission;
        the ranking so far is saved with each progress step, the final one returned."""
        request = strategy_pb2.OptimizeRequest.FromString(row.spec)
        last = strategy_pb2.OptimizeProgress()
        async for step in optimize.execute(optimize.plan(request, request.spec), self.history):
            last = step
            prog.fraction = LOAD_SHARE + (1 - LOAD_SHARE) * step.done / max(step.total, 1)
            await self.store.save_partial(row.id, self.worker_id, step.SerializeToString(),
                                          prog.fraction)
            self._check(prog)
        return last.SerializeToString()

    async def _execute(self, row: BacktestRow, prog: _Progress) -> Any:
        spec = strategy_pb2.BacktestSpec.FromString(row.spec)
        start, end = from_timestamp(getattr(spec, "from")), from_timestamp(spec.to)
        n_sym = len(spec.symbols)

        bars: dict[str, Bars] = {}
        for i, sym in enumerate(spec.symbols):
            async def on_batch(rows: int, i: int = i) -> None:
                prog.fraction = LOAD_SHARE * (i + min(rows / 1e6, 0.9)) / n_sym
                self._check(prog)

            self._check(prog)
            b = await load_bars(self.history, sym, spec.interval, start, end, on_batch=on_batch)
            bars[b.symbol] = b
        prog.bars_total = sum(len(b) for b in bars.values())
        prog.fraction = LOAD_SHARE

        rec = definitions.from_proto(spec.strategy)
        if rec.type == definitions.CUSTOM:
            if not row.admin:  # checked at submission; a row must not smuggle code past it
                raise SandboxError("custom strategies may only be run by admin users")
            targets = await self._custom_targets(rec, bars, prog)

            def factory(symbol: str) -> Any:
                return library.TargetStrategy(targets[symbol])
        else:
            def factory(symbol: str) -> Any:
                return library.build(rec.type, rec.params, rec.rules)

        base = prog.fraction

        def tick(n: int) -> None:  # runs on the engine's thread
            prog.bars_done = min(prog.bars_done + n, prog.bars_total)
            prog.fraction = base + (1 - base) * 0.99 * prog.bars_done / max(prog.bars_total, 1)
            if prog.cancel.is_set():
                raise Cancelled

        config = library.config_of(spec)
        self._check(prog)
        prog.partial = PartialResults()
        result = await asyncio.to_thread(library.run, bars, factory, config, tick,
                                         prog.partial)
        prog.bars_done = prog.bars_total
        self._check(prog)
        out: Results = await asyncio.to_thread(library.results, result)
        out.data_source = data_source(spec, bars)
        return out

    async def _custom_targets(self, rec: Any, bars: dict[str, Bars], prog: _Progress
                              ) -> dict[str, np.ndarray]:
        """Target positions per bar from the sandboxed code, chunk by chunk; the engine then
        trades them like any other strategy, outside the sandbox."""
        out: dict[str, np.ndarray] = {}
        total = max(prog.bars_total, 1)
        done = 0
        async with Sandbox(self.sandbox_limits) as box:
            await box.init(rec.code, rec.params)
            for symbol, b in bars.items():
                await box.reset(symbol)
                parts = []
                for lo in range(0, len(b), SANDBOX_CHUNK_BARS):
                    self._check(prog)
                    hi = min(lo + SANDBOX_CHUNK_BARS, len(b))
                    parts.append(await box.bars(
                        b.ts[lo:hi] // 1_000_000, b.open[lo:hi], b.high[lo:hi], b.low[lo:hi],
                        b.close[lo:hi], b.volume[lo:hi]))
                    done += hi - lo
                    prog.fraction = LOAD_SHARE + 0.2 * done / total
                out[symbol] = np.concatenate(parts) if parts else np.zeros(0, np.int8)
        return out


