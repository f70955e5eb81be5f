"""The parity report as a service: gathering a bot's day, storing reports, the nightly run.

`ParityRunner.build` reads what the comparison (parity.py) needs:
* the bot's spec (strategy, symbols, interval, sizing, costs) and state (`first_live_ts`,
  `first_bar` where its warm-up began, `last_bar` per symbol, `entries_blocked`);
* the day's candles and the warm-up before them from history (`GetCandles`): from the bot's own
  first warm-up bar, at most `MAX_WARMUP_DAYS` (intraday) or `MAX_WARMUP_BARS` (day bars) before
  the day (beyond that the report says the warm-ups differ);
* the bot's order record (`bot_orders` of the day: what it sent, refusals included) joined with
  execution's orders of the account (`ListOrders`, paged back to the day's start) by
  client_order_id — fill price, filled quantity, status, when the order reached execution;
  execution's orders that carry the bot as strategy_id without a bot record (e.g. a GTT's exit)
  are compared too;
* the day's closed bars marketdata sent (its candle log, StreamCandles `since=` the day's start),
  to tell a bar the bot missed or saw with other prices from the stored one — while the log
  still holds the day (about a day: the nightly run is in time, a later request may not be).

Reports are stored per bot and day (`bot_parity`). The nightly run (`start`: one task per
replica) wakes every `poll_s`, and for each of the last `CATCH_UP_DAYS` trading days whose
session closed at least `PARITY_DELAY` ago (by the service's clock: the market's, kitesim's when
simulated), reports every bot that ran that day and has no report yet. One replica runs a pass
at a time (a PostgreSQL advisory lock); an on-demand request and a pass may still compute the
same report, and the upsert keeps one (the same numbers).

Pause windows come from the bot's audit, whose times are the database's clock: right in
production, not under a simulated clock. Not built: charges in the P&L (gross only).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import re
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import grpc

from mandi.core.backtest.data import DAY_NS, price_paise
from mandi.core.calendar import is_trading_day, session_close
from mandi.core.clock import to_ist
from mandi.core.errors import InvalidInput, MandiError, PreconditionFailed
from mandi.core.intervals import parse_interval
from mandi.core.strategies.base import Strategy
from mandi.platform.protoconv import from_timestamp, has_timestamp, to_timestamp
from mandi.v1 import (
    execution_pb2,
    execution_pb2_grpc,
    history_pb2,
    history_pb2_grpc,
    marketdata_pb2,
    marketdata_pb2_grpc,
    strategy_pb2,
)
from services.strategy import definitions, library, parity
from services.strategy.bot_runner import WARMUP_DAYS, interval_ns
from services.strategy.bot_squareoff import SQUARED_OFF
from services.strategy.bot_store import BotOrderRow, BotRow, BotStore
from services.strategy.candles import load_bars, symbol_name
from services.strategy.parity_backtest import day_backtest
from services.strategy.parity_store import ParityStore, StoredReport, ns_of, utc_of

log = logging.getLogger("mandi.strategy.parity")

PARITY_DELAY = timedelta(minutes=30)  # after the session's close: late fills are booked
CATCH_UP_DAYS = 5
MAX_WARMUP_DAYS = 30
MAX_WARMUP_BARS = 400  # day bars: 400 sessions (× 7/5 for weekends)
RETRY_FAILED_S = 600.0
ORDERS_PAGE = 500
NIGHTLY_LOCK = "mandi-strategy:parity-nightly"
LIVE_CANDLES_S = 60.0  # reading the day's candle log, at most
LIVE_CANDLES_IDLE_S = 1.0  # the log is replayed: quiet this long = nothing more of the day

EXEC_STATUS = {
    execution_pb2.ORDER_STATUS_COMPLETE: "filled",
    execution_pb2.ORDER_STATUS_PARTIALLY_FILLED: "filled",
    execution_pb2.ORDER_STATUS_REJECTED: "rejected",
    execution_pb2.ORDER_STATUS_CANCELLED: "cancelled",
}


def parse_day(text: str) -> date:
    """YYYY-MM-DD or InvalidInput naming `date`."""
    try:
        return date.fromisoformat(text)
    except (TypeError, ValueError):
        raise InvalidInput(f"date must be YYYY-MM-DD, got {text!r}", field="date") from None


def day_is_over(day: date, now: datetime) -> bool:
    return now >= session_close(day) + PARITY_DELAY


def finished_days(now: datetime) -> list[date]:
    """The trading days of the last CATCH_UP_DAYS whose session closed PARITY_DELAY ago or
    more, newest first: the days the nightly run reports."""
    today = to_ist(now).date()
    days = (today - timedelta(days=back) for back in range(CATCH_UP_DAYS))
    return [d for d in days if is_trading_day(d) and day_is_over(d, now)]


def ran_on(row: BotRow, start_ns: int, end_ns: int) -> bool:
    """The bot processed bars of [start, end): it went live before the end and its last bar is
    at or after the start."""
    st = row.state or {}
    first_live = int(st.get("first_live_ts") or 0)
    last = max((int(v) for v in (st.get("last_bar") or {}).values()), default=0)
    return 0 < first_live < end_ns and last >= start_ns


def refusal_rule(detail: str) -> str:
    """The risk rule of a refusal the runner recorded as "<CODE>: <rule>: <message>" (execution
    names the rule as the error's field); '' when it names none."""
    parts = detail.split(": ", 2)
    return parts[1] if len(parts) == 3 and re.fullmatch(r"[a-z_]+", parts[1]) else ""


def live_order(bo: BotOrderRow, eo: Any | None) -> parity.Order:
    """The bot's record of an order joined with execution's order (None: not found)."""
    kind = "in" if bo.reason == "entry" else "out"
    common = {"symbol": bo.symbol, "tag": bo.tag, "kind": kind, "side": bo.side,
              "qty": int(bo.quantity), "bar_ts": ns_of(bo.bar_ts), "reason": bo.reason,
              "client_order_id": bo.client_order_id}
    if bo.status.startswith("REFUSED"):
        detail = bo.status.removeprefix("REFUSED: ")
        return parity.Order(**common, status="refused", price_paise=None, detail=detail,
                            rule=refusal_rule(detail))
    if eo is None:
        # the bot's own record of the fill, where it keeps one (a GTT's exit that execution
        # does not list for the bot)
        filled = int(getattr(bo, "filled_quantity", 0))
        avg = int(getattr(bo, "average_price_paise", 0))
        if filled > 0 and avg > 0:
            at = getattr(bo, "filled_at", None)
            return parity.Order(**common, status="filled", price_paise=avg, filled_qty=filled,
                                sent_ts=ns_of(at) if at is not None else None)
        return parity.Order(**common, status="unsent" if not bo.order_id else "unknown",
                            price_paise=None)
    return _with_execution(parity.Order(**common), eo)


def squared_off_order(bo: BotOrderRow, eo: Any | None) -> parity.Order:
    """The bot's exit that the broker's MIS square-off made (bot_squareoff.py), joined with
    the square-off's execution order (None: the bot's own record of its fill). The square-off
    closed the account's whole position: the leg's share is its quantity."""
    o = live_order(bo, eo)
    return dataclasses.replace(o, by_broker=True, filled_qty=min(o.filled_qty, o.qty))


def _with_execution(o: parity.Order, eo: Any) -> parity.Order:
    filled = int(eo.filled_quantity)
    status = EXEC_STATUS.get(eo.status, "open")
    if filled > 0 and status == "cancelled":
        status = "filled"  # part filled, rest cancelled
    return parity.Order(
        o.symbol, o.tag, o.kind, o.side, o.qty, o.bar_ts, o.reason,
        int(eo.average_price_paise) if filled > 0 else None, filled, status,
        client_order_id=o.client_order_id,
        sent_ts=ns_of(from_timestamp(eo.created_at)) if has_timestamp(eo.created_at) else None,
        filled_ts=ns_of(from_timestamp(eo.filled_at)) if has_timestamp(eo.filled_at) else None,
        detail=eo.status_message if status == "rejected" else "")


def external_order(bot_id: str, eo: Any, names: list[str], step_ns: int) -> parity.Order:
    """An execution order carrying the bot's id that the bot did not record (a GTT's exit):
    its leg from a client_order_id of the bot's form `<bot>:<s>:<k>.<tag>.<role>` when it has
    one, its bar the one it was placed in."""
    coid = eo.request.client_order_id
    tag, kind, reason = "", "out", "external"
    parts = coid.split(":")
    if len(parts) == 3 and parts[0] == bot_id:
        k, _, rest = parts[2].partition(".")
        tag, _, role = rest.rpartition(".")
        if k.isdigit() and int(k) < len(names) and tag:
            kind = "in" if role == "in" else "out"
            reason = "entry" if role == "in" else ("signal" if role == "out" else role)
    sent = ns_of(from_timestamp(eo.created_at))
    side = "BUY" if eo.request.side == execution_pb2.SIDE_BUY else "SELL"
    symbol = symbol_name(eo.request.symbol)
    o = parity.Order(symbol, tag or coid, kind, side, int(eo.request.quantity),
                     sent // step_ns * step_ns, reason, client_order_id=coid)
    return _with_execution(o, eo)


class ParityRunner:
    """Builds, stores and serves parity reports; runs the nightly pass."""

    def __init__(self, bots: BotStore, store: ParityStore, *,
                 now: Callable[[], datetime] | None = None, poll_s: float = 60.0) -> None:
        self.bots = bots
        self.store = store
        self.now = now or (lambda: datetime.now(UTC))
        self.poll_s = poll_s
        self.history: history_pb2_grpc.HistoryServiceStub = None  # type: ignore[assignment]
        self.execution: execution_pb2_grpc.ExecutionServiceStub = None  # type: ignore
        self.marketdata: marketdata_pb2_grpc.MarketdataServiceStub | None = None
        self._failed: dict[tuple[str, date], float] = {}
        self._task: asyncio.Task | None = None
        self.nightly_reports = 0

    # --- one report -----------------------------------------------------------------------
    async def report(self, row: BotRow, day: date, *, refresh: bool = False) -> StoredReport:
        """The stored report of the day, or a fresh one (stored once the day is over)."""
        if not refresh:
            got = await self.store.get(row.id, day)
            if got is not None:
                return got
        rep = await self.build(row, day)
        if day_is_over(day, self.now()):
            return StoredReport(rep, await self.store.put(row.id, day, rep), True)
        return StoredReport(rep, datetime.now(UTC), False)

    async def build(self, row: BotRow, day: date) -> parity.ParityReport:
        spec = strategy_pb2.BacktestSpec.FromString(row.spec)
        rec = definitions.from_proto(spec.strategy)
        if rec.type == definitions.CUSTOM:
            raise PreconditionFailed("parity of custom-code bots is not built yet",
                                     field="deployment_id", reason="parity_custom")
        cfg = library.config_of(spec)
        step = interval_ns(spec.interval)
        state = row.state or {}
        first_live = int(state.get("first_live_ts") or 0)
        start_ns, end_ns = parity.ist_day_bounds(day)
        if not first_live or first_live >= end_ns:
            raise PreconditionFailed(f"bot {row.id} did not run on {day}", field="date",
                                     reason="parity_not_run", params={"day": str(day)})
        first_bar = state.get("first_bar")
        bot_from = (int(first_bar) if first_bar is not None
                    else first_live - WARMUP_DAYS * DAY_NS)
        # at most MAX_WARMUP_DAYS of intraday bars, MAX_WARMUP_BARS of longer ones
        warm_from = max(bot_from, start_ns - max(MAX_WARMUP_DAYS * DAY_NS,
                                                 MAX_WARMUP_BARS * step * 7 // 5))
        refs = {symbol_name(s): s for s in spec.symbols}
        bars = {}
        for name, ref in sorted(refs.items()):
            b = await load_bars(self.history, ref, spec.interval, utc_of(warm_from), utc_of(end_ns))
            if not ((b.ts >= start_ns) & (b.ts < end_ns)).any():
                raise PreconditionFailed(
                    f"no {spec.interval} candles of {name} stored for {day}", field="date",
                    reason="parity_no_candles",
                    params={"interval": spec.interval, "symbol": name, "day": str(day)})
            bars[name] = b
        backtest_from = min(int(b.ts[0]) for b in bars.values())

        def factory(_symbol: str) -> Any:
            return library.build(rec.type, rec.params, rec.rules)

        backtest = await asyncio.to_thread(day_backtest, bars, factory, cfg, day,
                                           max(first_live, start_ns), step)
        live = await self._live(row, sorted(refs), step, start_ns, end_ns)
        facts = parity.BotFacts(
            first_live_ts=first_live,
            last_bar={s: int(v) for s, v in (state.get("last_bar") or {}).items()},
            entries_blocked_day=str(state.get("entries_blocked") or ""),
            paused=await self.store.paused(row.id),
            bot_warmup_from=bot_from, backtest_warmup_from=backtest_from, interval_ns=step,
            sizing_fixed=spec.sizing.type in ("", "fixed_qty"),
            fill_dependent=type(factory("")).on_fill is not Strategy.on_fill,
            tick_paise=cfg.tick_paise, slippage_bps=float(cfg.slippage.bps),
            slippage_ticks=cfg.slippage.ticks)
        facts = dataclasses.replace(facts, live_candles=await self._live_candles(
            spec, refs, start_ns, end_ns))
        day_bars = {s: parity.DayBars.of(b, start_ns, end_ns) for s, b in bars.items()}
        return parity.compare(row.id, day.isoformat(), backtest, live, day_bars, facts)

    async def _live(self, row: BotRow, names: list[str], step: int, start_ns: int,
                    end_ns: int) -> list[parity.Order]:
        # an exit the bot did not send because the leg's GTT had already closed it: the GTT's
        # own exit is the leg's exit
        mine = [o for o in await self.bots.orders(row.id)
                if start_ns <= ns_of(o.bar_ts) < end_ns and not o.status.startswith("SKIPPED")]
        # the bot's orders for the day's bars may reach execution after the day (a bot
        # resumed the next morning processes the bars it missed): no upper bound for those
        # a GTT's exit order (client_order_id "gtt:<id>:<leg>") does not carry the bot's id;
        # the bot may have recorded it when the GTT fired, before the order was known
        gtt_exits = frozenset(o.client_order_id for o in mine
                              if o.client_order_id.startswith("gtt:"))
        unclaimed = {eo.order_id: eo
                     for eo in await self._execution_orders(row, start_ns, gtt_exits)}
        by_coid = {eo.request.client_order_id: eo for eo in unclaimed.values()}
        out = []
        for bo in mine:  # by client_order_id, or by order id (a GTT's exit order)
            if bo.status.startswith(SQUARED_OFF):
                # the exit came after the broker's square-off closed the leg: the square-off
                # is the leg's exit, the bot's own order (rejected, if it got that far) is not
                mine_eo = by_coid.get(bo.client_order_id)
                if mine_eo is not None:
                    unclaimed.pop(mine_eo.order_id, None)
                out.append(squared_off_order(
                    bo, await self._execution_order(row.account_id, bo.order_id)))
                continue
            eo = by_coid.get(bo.client_order_id) or unclaimed.get(bo.order_id)
            if eo is not None:
                unclaimed.pop(eo.order_id, None)
            elif bo.order_id:
                # an order that does not carry the bot's id (a GTT's exit): the bot recorded
                # it when it learnt the GTT fired, maybe before it filled, and without the time
                # it reached the market; execution's row has both
                eo = await self._execution_order(row.account_id, bo.order_id)
            out.append(live_order(bo, eo))
        out += [external_order(row.id, eo, names, step) for eo in unclaimed.values()
                if ns_of(from_timestamp(eo.created_at)) < end_ns]
        return out

    async def _live_candles(self, spec: Any, refs: dict[str, Any], start_ns: int, end_ns: int
                            ) -> dict[str, dict[int, tuple[int, int, int, int]]] | None:
        """The closed bars of the day marketdata sent (its candle log, through StreamCandles
        `since=` the day's start, read until it goes quiet or passes the day); None when
        marketdata or the log cannot tell (it keeps about a day)."""
        if self.marketdata is None or not parse_interval(spec.interval).is_intraday:
            return None
        tokens: dict[int, str] = {}
        try:
            for name, ref in refs.items():
                got = await self.history.LookupInstrument(
                    history_pb2.LookupInstrumentRequest(symbol=ref), timeout=10)
                tokens[int(got.instrument.instrument_token)] = name
        except grpc.aio.AioRpcError as exc:
            log.info("parity: no instrument tokens for the live candles: %s", exc.code().name)
            return None
        out: dict[str, dict[int, tuple[int, int, int, int]]] = {n: {} for n in tokens.values()}
        req = marketdata_pb2.StreamCandlesRequest(instrument_tokens=list(tokens),
                                                  interval=spec.interval)
        req.since.CopyFrom(to_timestamp(utc_of(start_ns)))
        call = self.marketdata.StreamCandles(req, timeout=LIVE_CANDLES_S)
        stream = call.__aiter__()
        try:
            while True:
                try:
                    msg = await asyncio.wait_for(stream.__anext__(), LIVE_CANDLES_IDLE_S)
                except (TimeoutError, StopAsyncIteration):
                    break
                if not msg.HasField("candle") or not msg.closed:
                    continue
                c = msg.candle
                ts = c.ts.seconds * 10**9 + c.ts.nanos
                if ts >= end_ns:
                    break
                name = tokens.get(msg.instrument_token)
                if name is not None and ts >= start_ns:
                    o, h, lo, cl = (int(x) for x in price_paise([c.open, c.high, c.low,
                                                                  c.close]).tolist())
                    out[name][ts] = (o, h, lo, cl)
        except grpc.aio.AioRpcError as exc:
            log.info("parity: live candles unavailable: %s", exc.code().name)
            return None
        finally:
            call.cancel()
        return out if any(out.values()) else None

    async def _execution_order(self, account_id: str, order_id: str) -> Any | None:
        try:
            resp = await self.execution.GetOrder(execution_pb2.GetOrderRequest(
                account_id=account_id, order_id=order_id), timeout=30)
        except grpc.aio.AioRpcError as exc:
            if exc.code() != grpc.StatusCode.NOT_FOUND:
                raise
            return None
        return resp.order

    async def _execution_orders(self, row: BotRow, start_ns: int,
                                also: frozenset[str] = frozenset()) -> list[Any]:
        """The account's orders created since `start` that carry the bot's id, or whose
        client_order_id is in `also` (newest first from execution: paged until one is
        older)."""
        out, token = [], ""
        while True:
            resp = await self.execution.ListOrders(execution_pb2.ListOrdersRequest(
                account_id=row.account_id,
                page={"page_size": ORDERS_PAGE, "page_token": token}), timeout=30)
            older = False
            for eo in resp.orders:
                ts = ns_of(from_timestamp(eo.created_at))
                if ts < start_ns:
                    older = True
                elif eo.request.strategy_id == row.id or eo.request.client_order_id in also:
                    out.append(eo)
            token = resp.page.next_page_token
            if older or not token:
                return out

    # --- the nightly run --------------------------------------------------------------------
    async def nightly_once(self) -> list[tuple[str, str]]:
        """Report every bot that ran on a recent finished trading day and has no report yet;
        returns the (bot, day) pairs reported. One replica at a time (a transaction-scoped
        advisory lock, so a cancelled pass cannot leave it held on a pooled connection): the
        others skip the pass."""
        async with self.store.pool.acquire() as conn, conn.transaction():  # type: ignore
            if not await conn.fetchval("SELECT pg_try_advisory_xact_lock(hashtext($1))",
                                       NIGHTLY_LOCK):
                return []
            return await self._nightly()

    async def _nightly(self) -> list[tuple[str, str]]:
        done: list[tuple[str, str]] = []
        rows: list[BotRow] | None = None
        for day in finished_days(self.now()):
            start_ns, end_ns = parity.ist_day_bounds(day)
            if rows is None:
                rows = await self.bots.list(None)
            have = await self.store.reported(day)
            traded = await self.store.traded(start_ns, end_ns)
            for row in rows:
                if row.id in have or not (row.id in traded or ran_on(row, start_ns, end_ns)):
                    continue
                failed_at = self._failed.get((row.id, day))
                if failed_at is not None and time.monotonic() - failed_at < RETRY_FAILED_S:
                    continue
                try:
                    rep = await self.build(row, day)
                except MandiError as exc:
                    self._failed[(row.id, day)] = time.monotonic()
                    log.warning("parity of bot %s on %s: %s", row.id, day, exc.message)
                    continue
                await self.store.put(row.id, day, rep)
                self._failed.pop((row.id, day), None)
                self.nightly_reports += 1
                done.append((row.id, day.isoformat()))
                log.info("parity of bot %s on %s: %d differences, %d unexplained", row.id,
                         day, len(rep.differences), rep.unexplained)
        return done

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="parity-nightly")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        while True:
            try:
                await self.nightly_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the loop must outlive a database or RPC hiccup
                log.warning("nightly parity pass failed: %s: %s", type(exc).__name__, exc)
            await asyncio.sleep(self.poll_s)
