"""The runner: bots leased to strategy replicas, one task per held bot, candles in, orders out.

Any replica runs any bot. Each running or paused bot has a Redis lease (marketdata's
`IngestLease`: SET NX PX, compare-and-renew, compare-and-delete) keyed by the bot id; the replica
holding it runs the bot's task, so a bot runs on one replica at a time and a dead replica's bots
are taken over once their lease expires.

A bot's task:
1. builds the strategy objects (the backtester's, via `library.build`) and a `BotEngine`;
2. warms them up with history's stored candles before the bot's first live bar (none stored:
   a cold start, logged);
3. subscribes the symbols with the bot's interval on marketdata and reads `StreamCandles` from
   the last warm-up bar (`since=`): the candle log replays the bars of the day the bot has
   already seen, which rebuild the strategies' state with orders suppressed, then the saved
   legs and strategy state are adopted and every later bar is processed once; once that
   stream delivers a candle the replica's shared live stream of the same symbols and interval
   also holds, the bot closes its own and reads the shared one (candle_hub.py: one stream per
   replica however many bots, decoded once);
4. per closed candle: runs the strategy, records the orders and the new state in one
   transaction (shared with the other bots saving the same bar: BotStore.save_bar) and, at
   the same time, sends each order to execution (`PlaceOrder`, idempotent by
   client_order_id; the order carries bot_id as its strategy_id); execution's answer is
   stored once the save has committed. Orders recorded but not yet acknowledged (a crash in
   between) are re-sent on resume; orders sent whose save was lost are sent again when the
   unsaved bar is processed again, under the same ids; execution answers duplicates.

Account stops (services/strategy/bot_risk.py): an entry refused by execution's daily loss latch
blocks the bot's entries for the rest of the IST day; the account's emergency stop (seen on the
notification stream, or as a refusal) stops every bot of the account.

Per-bot logs (bot_logs.py) are written at start/resume, for each bar's orders (with the signals
they came from, bot_signals.py), on errors and on status changes (BotStore). An external bot
(bot_external.py) is held like any other but runs no candle loop: its signals arrive over
PostSignal.

Schedules (services/strategy/bot_schedule.py): on every listing the runner starts the scheduled
bots whose daily window has opened and stops those outside it, audited with actor `schedule`,
by the injected clock `now`. Every replica does this; the status change's WHERE clause (and the
schedule day for starts) lets one replica's change through.

Fills and GTTs (services/strategy/bot_fills.py): before each live bar of a symbol the task
reconciles it with execution — entry and exit fills, the legs' GTTs and whether one fired —
then processes the bar (a bot whose strategy reads no fill, sizes by a fixed quantity and has
no leg with a GTT learns its fills after the bar's orders are sent instead: they only complete
its record, and the candle → order latency does not pay for them); an entry's stop/target go
with the order as percents (execution places the GTT after the fill), exits delete their leg's
GTT first, trailing stops modify it (after the bar, for every leg whose GTT lags its stop). A
leg whose trailing stop its GTT does not hold (not known yet, or too close to the price for
Kite) is exited by the bot itself when a bar crosses that stop (logged and audited).

Not built: reconciliation of positions (not only the bot's own orders) with execution before
acting.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import redis.asyncio as aioredis

from mandi.core.clock import to_ist
from mandi.core.errors import MandiError, NotFound, PreconditionFailed
from mandi.core.intervals import parse_interval
from mandi.core.strategies.base import Bar
from mandi.platform.tasks import cancel_and_wait, cancel_pending
from mandi.v1 import (
    common_pb2,
    execution_pb2,
    execution_pb2_grpc,
    history_pb2_grpc,
    marketdata_pb2,
    marketdata_pb2_grpc,
    strategy_pb2,
)
from services.marketdata.lease import IngestLease
from services.strategy import bot_schedule, definitions, library, metrics
from services.strategy.bot_engine import BotEngine, OrderIntent
from services.strategy.bot_external import is_external
from services.strategy.bot_fills import RETRYABLE, Reconciler
from services.strategy.bot_logs import BotLogs
from services.strategy.bot_risk import (
    EMERGENCY_ACTOR,
    EMERGENCY_STOP,
    LOSS_LIMIT,
    EmergencyWatch,
    ist_day,
    refusal_rule,
)
from services.strategy.bot_signals import SignalStore
from services.strategy.bot_store import BotRow, BotStore
from services.strategy.candle_hub import CandleHub, bot_candles
from services.strategy.candles import load_bars, symbol_name

log = logging.getLogger("mandi.strategy.bots")

WARMUP_DAYS = 10
SCHEDULE_ACTOR = "schedule"
RECORD_ONLY_BUDGET = 1  # orders looked up per bar when fills only complete the bot's record
EXIT_RETRY_S = (0.25, 0.5, 1.0, 2.0, 4.0)


def _iso(ns: int | None) -> str:
    return "-" if ns is None else datetime.fromtimestamp(ns / 1e9, UTC).isoformat()


def interval_ns(name: str) -> int:
    return int(parse_interval(name).duration.total_seconds()) * 1_000_000_000


class BotTask:
    """One bot on this replica, from warm-up to cancellation."""

    def __init__(self, row: BotRow, runner: BotRunner) -> None:
        self.row = row
        self.r = runner
        self.spec = strategy_pb2.BacktestSpec.FromString(row.spec)
        self.refs = {symbol_name(s): s for s in self.spec.symbols}
        self.interval = self.spec.interval
        self.step_ns = interval_ns(self.interval)
        self.refusals: dict[str, str] = {}  # client_order_id → risk rule execution named
        self.fills = Reconciler(row.id, row.account_id, runner.execution, runner.store)

    def _engine(self, first_live_ts: int) -> BotEngine:
        rec = definitions.from_proto(self.spec.strategy)
        cfg = library.config_of(self.spec)
        return BotEngine(self.row.id, sorted(self.refs),
                         lambda _s: library.build(rec.type, rec.params, rec.rules), cfg,
                         self.step_ns, first_live_ts)

    async def run(self) -> None:
        bot = self.row
        if is_external(self.spec):  # trades on PostSignal (bot_external.py): held, not run
            await self.r.logs.write(bot.id, "info", "start", "external bot: waiting for signals")
            await asyncio.Event().wait()
        saved = bot.state or {}
        now_ns = int(self.r.now().timestamp() * 1e9)
        first_live = int(saved.get("first_live_ts") or (now_ns // self.step_ns) * self.step_ns)
        eng = self._engine(first_live)
        eng.resume_from(saved)
        await self._resend_unacknowledged(bot.id, saved, eng)
        since_ns = await self._warm_up(eng, first_live, saved.get("first_bar"))
        tokens = await self._subscribe()
        saved_last = {s: int(v) for s, v in (saved.get("last_bar") or {}).items()}
        log.info("bot %s: %s from %s (first live bar %s), candles since %s", bot.id,
                 "resuming" if saved_last else "starting", _iso(max(saved_last.values(),
                                                                    default=first_live)),
                 _iso(first_live), _iso(since_ns))
        await self.r.logs.write(
            bot.id, "info", "resume" if saved_last else "start",
            f"{'resuming' if saved_last else 'starting'} after warm-up; candles since "
            f"{_iso(since_ns)}", first_live=_iso(first_live),
            since=_iso(since_ns), last_bar={s: _iso(t) for s, t in saved_last.items()})
        async with contextlib.aclosing(bot_candles(self.r.candles, list(tokens), self.interval,
                                                   since_ns, bot.id)) as candles:
            async for c in candles:
                symbol = tokens.get(c.token)
                if symbol is None:
                    continue
                bar = Bar(symbol, c.ts, c.open, c.high, c.low, c.close, c.volume)
                eng.paused = self.r.paused(bot.id)
                received = time.monotonic()
                live = eng.is_live_bar(symbol, bar.ts)
                first = live and eng.fills_first(symbol)
                if first:  # fills and GTTs since the last bar, before the strategy acts
                    await self.fills.reconcile(eng, symbol, bar.ts)
                orders = eng.on_candle(symbol, bar)
                if not eng.last_was_live:  # a duplicate, or a bar the last run processed
                    continue
                stop_exits = eng.stop_exits
                # the bar's save and its orders go out together: the ids are deterministic,
                # so an order sent before a crash that lost the save is sent again under the
                # same id when the bar is processed again, and execution answers a duplicate
                saved = asyncio.ensure_future(self.r.store.save_bar(
                    bot.id, eng.state(), orders, live_bar=bar.ts >= first_live))
                if orders and self.r.fault_point == "after_bar_saved":
                    await saved
                    log.error("test fault after_bar_saved: exiting abruptly")
                    os._exit(137)
                refused, latency = [], {}
                try:
                    for o in orders:
                        if o.reason != "entry" and not await self.fills.before_exit(eng, o):
                            continue  # its GTT fired first and closed the leg
                        order_id = await self._send(o, saved)
                        ok = order_id is not None
                        metrics.BOT_ORDERS.labels("accepted" if ok else "refused").inc()
                        if ok:
                            latency[o.client_order_id] = time.monotonic() - received
                            metrics.BOT_SIGNAL_TO_ORDER.observe(latency[o.client_order_id])
                            if o.reason == "entry":  # saved with the next bar (bot_orders
                                eng.entry_sent(o.symbol, o.tag, order_id)  # has it meanwhile)
                        else:
                            refused.append(o)
                except BaseException:  # a send failed: let the save finish (or fail) first
                    await asyncio.wait([saved])
                    if not saved.cancelled():
                        saved.exception()  # the send's error is the one raised
                    raise
                await saved
                self.r.bars_processed += 1
                metrics.BOT_BARS.inc()
                if orders:  # the signals and their log records (bot_signals.py)
                    await self.r.signals.record_sent(bot.id, orders, latency)
                if stop_exits:
                    await self._stops_enforced(stop_exits, bar)
                if live and eng.stops_pending(symbol):  # the GTTs take the wanted stops
                    await self.fills.sync_stops(eng, symbol, round(bar.close * 100))
                if live and not first:  # fills that only complete the record: off the path
                    await self.fills.reconcile(eng, symbol, bar.ts, sent_now=bar.ts,
                                               budget=RECORD_ONLY_BUDGET)
                if refused and not await self._account_stops(eng, refused):
                    await self._refused(eng, refused)

    async def _stops_enforced(self, exits: list[tuple[OrderIntent, int, int]],
                              bar: Bar) -> None:
        """Log and audit the stop exits the bot sent itself (bot_engine.py: a wanted stop its
        GTT did not hold was crossed); execution notifies their fills as for every order."""
        for o, stop, held in exits:
            detail = (f"{o.symbol} {o.tag}: the {_iso(bar.ts)} bar crossed the trailing stop "
                      f"{stop} (low {round(bar.low * 100)}, high {round(bar.high * 100)}) "
                      f"its GTT did not hold (GTT at {held or 'none'}): exit "
                      f"{o.client_order_id} at market")
            log.warning("bot %s: %s", self.row.id, detail)
            await self.r.store.record(self.row.id, "runner", "stop_exit_by_bot", detail)

    async def _warm_up(self, eng: BotEngine, first_live: int, first_bar: int | None) -> int:
        """Feed stored candles before the first live bar; returns the instant the candle
        stream must replay from. A resumed bot warms up from the bar its first run began with
        (`first_bar`), so its strategies see the same series as before the restart."""
        end = datetime.fromtimestamp(first_live / 1e9, UTC)
        start = (end - timedelta(days=WARMUP_DAYS) if first_bar is None
                 else datetime.fromtimestamp(first_bar / 1e9, UTC))
        last: int | None = None
        for name, ref in sorted(self.refs.items()):
            try:
                bars = await load_bars(self.r.history, ref, self.interval, start, end)
            except MandiError as exc:  # none stored (NotFound) or history unreachable
                log.info("bot %s: no %s candles of %s to warm up with (%s)", self.row.id,
                         self.interval, name, exc.message)
                continue
            cols = (bars.ts.tolist(), bars.open.tolist(), bars.high.tolist(),
                    bars.low.tolist(), bars.close.tolist(), bars.volume.tolist())
            for t, o, h, lo, c, v in zip(*cols, strict=True):  # Python numbers, not np scalars
                eng.on_candle(name, Bar(name, int(t), float(o), float(h), float(lo), float(c),
                                        int(v)))
            if len(bars):
                t = int(bars.ts[-1])
                last = t if last is None else min(last, t)
        if last is None:  # replay the day from its first bar (the log starts at the session)
            day = datetime.fromtimestamp(first_live / 1e9, UTC)
            return int(day.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()) \
                * 10**9
        return last

    async def _subscribe(self) -> dict[int, str]:
        refs = sorted(self.refs.items())
        resp = await self.r.marketdata.Subscribe(marketdata_pb2.SubscribeRequest(
            instruments=[common_pb2.InstrumentRef(symbol=ref) for _, ref in refs],
            mode=marketdata_pb2.TICK_MODE_FULL, candle_intervals=[self.interval]), timeout=30)
        tokens: dict[int, str] = {}
        for inst in resp.subscribed:
            name = f"{common_pb2.Exchange.Name(inst.exchange).removeprefix('EXCHANGE_')}:" \
                   f"{inst.tradingsymbol}" if inst.tradingsymbol else ""
            if name in self.refs:
                tokens[int(inst.instrument_token)] = name
        if len(tokens) != len(self.refs):
            missing = sorted(set(self.refs) - set(tokens.values()))
            raise NotFound(f"marketdata did not subscribe {missing}", field="symbols")
        return tokens

    async def _resend_unacknowledged(self, bot_id: str, saved: dict[str, Any],
                                     eng: BotEngine) -> None:
        """Orders recorded for a bar but never answered (the replica died in between). A
        refused entry's leg is dropped from the saved state before it is adopted (the engine
        adopts a symbol's saved legs once its replay is done); a refused exit stops the bot
        with error, as when it is refused the first time. An exit deletes its leg's GTT first,
        and is not sent when the GTT fired meanwhile."""
        brackets = {leg.get("coid"): leg for legs in (saved.get("legs") or {}).values()
                    for leg in legs.values() if leg.get("coid")}
        for o in await self.r.store.orders(bot_id):
            if o.order_id or o.status:
                continue
            leg = brackets.get(o.client_order_id) or {}
            exit_ = eng.awaited_exit(o.client_order_id)
            if exit_ is not None and not await self.fills.before_exit(eng, exit_):
                continue
            if await self._place(o.client_order_id, o.symbol, o.side, o.quantity,
                                 stop_pct=float(leg.get("stop_pct") or 0.0),
                                 target_pct=float(leg.get("target_pct") or 0.0)) is not None:
                continue
            if o.reason != "entry":
                if await self.fills.squared_off(eng, exit_):
                    continue
                raise PreconditionFailed(f"execution refused exit {o.client_order_id}; the "
                                         "position needs a human", field="orders")
            legs = (saved.get("legs") or {}).get(o.symbol) or {}
            leg = legs.get(o.tag)
            if leg is not None and leg["side"] == o.side and int(leg["qty"]) == o.quantity:
                del legs[o.tag]

    async def _send(self, o: OrderIntent, recorded: asyncio.Future[None] | None = None
                    ) -> str | None:
        """Send one order; its execution order id, None when refused. A refused exit is tried
        again a few times: execution may not have booked the entry's fill yet (its ledger
        follows the broker a poll behind), and after the MIS cut-off it takes only orders that
        reduce a position it knows."""
        delays = () if o.reason == "entry" else EXIT_RETRY_S
        for delay in (*delays, None):
            order_id = await self._place(o.client_order_id, o.symbol, o.side.value, o.qty,
                                         record_refusal=delay is None, stop_pct=o.stop_pct,
                                         target_pct=o.target_pct, recorded=recorded)
            if order_id is not None:
                return order_id
            if delay is not None:
                await asyncio.sleep(delay)
        return None

    async def _place(self, coid: str, symbol: str, side: str, qty: int, *,
                     record_refusal: bool = True, stop_pct: float = 0.0,
                     target_pct: float = 0.0,
                     recorded: asyncio.Future[None] | None = None) -> str | None:
        """Send one order; its execution order id, None when execution refused it (risk,
        validation) or the broker rejected it at once. Transport failures raise: the bot
        resumes and sends it again under the same id. An entry's stop/target go as percents
        of its fill: execution places the GTT once the entry fills. (A rejection the broker
        reports later is learnt when the next bar reconciles the order.) `recorded`: the save
        of the order's row, sent beside it; the answer is stored once that row exists."""
        order = execution_pb2.OrderRequest(
            client_order_id=coid, symbol=self.refs[symbol],
            side=execution_pb2.SIDE_BUY if side == "BUY" else execution_pb2.SIDE_SELL,
            quantity=qty, order_type=execution_pb2.ORDER_TYPE_MARKET,
            product=self.spec.costs.product or strategy_pb2.PRODUCT_MIS,
            strategy_id=self.row.id, stop_loss_pct=stop_pct, target_pct=target_pct,
            # consecutive bars may send the same order on purpose; the id is the idempotency
            allow_duplicate=True)
        try:
            resp = await self.r.execution.PlaceOrder(execution_pb2.PlaceOrderRequest(
                account_id=self.row.account_id, order=order), timeout=30)
        except grpc.aio.AioRpcError as exc:
            if exc.code() in RETRYABLE:
                raise
            log.warning("bot %s: order %s refused: %s %s", self.row.id, coid, exc.code().name,
                        exc.details())
            self.refusals[coid] = refusal_rule(exc)
            if not record_refusal:
                return None
            if recorded is not None:
                await recorded
            await self.r.store.order_sent(self.row.id, coid, "",
                                          f"REFUSED: {exc.code().name}: {exc.details()}")
            return None
        status = execution_pb2.OrderStatus.Name(resp.order.status)
        if recorded is not None:
            await recorded
        if resp.order.status == execution_pb2.ORDER_STATUS_REJECTED:  # by the broker
            log.warning("bot %s: order %s rejected: %s", self.row.id, coid,
                        resp.order.status_message)
            if record_refusal:
                await self.r.store.order_sent(self.row.id, coid, resp.order.order_id,
                                              f"{status}: {resp.order.status_message}")
            return None
        await self.r.store.order_sent(self.row.id, coid, resp.order.order_id, status)
        return resp.order.order_id

    async def _account_stops(self, eng: BotEngine, refused: list[OrderIntent]) -> bool:
        """Refusals naming an account stop: the loss latch blocks entries for the day (audited
        once per day); the emergency stop stops every bot of the account — True then: the bot
        is stopped (its refused exits were the stop's own square-off's to make)."""
        rules = {self.refusals.pop(o.client_order_id, "") for o in refused}
        if EMERGENCY_STOP in rules:
            # shielded: stopping this bot lets the runner cancel this task before the
            # account's other bots are stopped
            await asyncio.shield(self.r.emergency_stop(self.row.account_id,
                                                       "order refused: emergency stop"))
            return True
        day = ist_day(self.r.now())
        if LOSS_LIMIT in rules and eng.entries_blocked != day:
            eng.entries_blocked = day
            await self.r.store.save_bar(self.row.id, eng.state(), [], live_bar=False)
            await self.r.store.record(self.row.id, "risk", "entries_blocked",
                                      f"daily loss limit hit on {day}: no new entries today; "
                                      "exits go on")
            log.warning("bot %s: daily loss limit of account %s: entries blocked for %s",
                        self.row.id, self.row.account_id, day)
        return False

    async def _refused(self, eng: BotEngine, refused: list[OrderIntent]) -> None:
        """A refused entry never opened its leg: forget it (as the backtester's rejected
        entry). A refused exit the broker's MIS square-off made already is booked as filled by
        it (bot_squareoff.py); any other refused exit leaves a position the bot no longer
        tracks: stop with error."""
        exits = [o for o in refused if o.reason != "entry"]
        for o in refused:
            if o.reason == "entry":
                eng.forget_entry(o)
        exits = [o for o in exits if not await self.fills.squared_off(eng, o)]
        await self.r.store.save_bar(self.row.id, eng.state(), [], live_bar=False)
        if exits:
            raise PreconditionFailed(
                f"execution refused exit {exits[0].client_order_id}; the position needs a "
                "human", field="orders")


class BotRunner:
    """Holds leases for active bots and runs their tasks on this replica."""

    def __init__(self, store: BotStore, redis: aioredis.Redis, *, replica_id: str,
                 prefix: str, lease_s: float = 10.0, poll_s: float = 1.0,
                 now: Callable[[], datetime] | None = None, fault_point: str = "") -> None:
        self.store = store
        self.redis = redis
        self.replica_id = replica_id
        self.prefix = prefix
        self.lease_s = lease_s
        self.poll_s = poll_s
        self.now = now or (lambda: datetime.now(UTC))
        self.history: history_pb2_grpc.HistoryServiceStub = None  # type: ignore[assignment]
        self.candles = CandleHub()  # the bots' shared live candle streams
        self.execution: execution_pb2_grpc.ExecutionServiceStub = None  # type: ignore
        self._leases: dict[str, tuple[IngestLease, asyncio.Task]] = {}
        self._tasks: dict[str, asyncio.Task] = {}
        self._status: dict[str, str] = {}
        self._loop_task: asyncio.Task | None = None
        self._wake = asyncio.Event()
        self.bars_processed = 0
        self.fault_point = fault_point  # test hook (settings.strategy_test_fault)
        self.watch = EmergencyWatch(redis, prefix, self.emergency_stop)
        self.logs = BotLogs(store)
        self.signals = SignalStore(store)

    @property
    def marketdata(self) -> marketdata_pb2_grpc.MarketdataServiceStub:
        return self.candles.marketdata  # type: ignore[return-value]

    @marketdata.setter
    def marketdata(self, stub: marketdata_pb2_grpc.MarketdataServiceStub) -> None:
        self.candles.marketdata = stub

    def paused(self, bot_id: str) -> bool:
        return self._status.get(bot_id) == "paused"

    def held(self) -> list[str]:
        return sorted(self._tasks)

    def wake(self) -> None:
        self._wake.set()

    async def emergency_stop(self, account_id: str, reason: str) -> list[str]:
        """Stop every running or paused bot of the account (audited, actor emergency_stop);
        returns their ids. Replicas holding them drop them on their next listing."""
        stopped = []
        for row in await self.store.active(account_id=account_id):
            with contextlib.suppress(PreconditionFailed, NotFound):  # stopped meanwhile
                # only from running/paused: replicas racing on one event stop a bot once
                await self.store.set_status(row.id, "stopped", EMERGENCY_ACTOR, detail=reason,
                                            only_from=("running", "paused"))
                stopped.append(row.id)
        if stopped:
            log.warning("emergency stop of account %s: bots %s stopped", account_id, stopped)
            self.wake()
        return stopped

    async def start(self) -> None:
        self.watch.start()
        self._loop_task = asyncio.create_task(self._loop(), name="bot-runner")

    async def stop(self) -> None:
        await self.watch.close()
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
        for bot_id in list(self._leases):
            await self._drop(bot_id)
        await self.candles.close()

    async def apply_schedules(self) -> list[tuple[str, str]]:
        """Start and stop scheduled bots by their windows at `now`; returns the (bot id,
        "start" | "stop") changes this replica made."""
        now = self.now()
        day = to_ist(now).date()
        done = []
        for row in await self.store.scheduled():
            try:
                sched = bot_schedule.parse(row.schedule)
            except MandiError as exc:  # stored before a rule changed: say so, do nothing
                log.warning("bot %s: schedule %s unusable: %s", row.id, row.schedule,
                            exc.message)
                continue
            action = bot_schedule.decide(sched, row.status, row.schedule_day, now)
            if action is None:
                continue
            try:
                if action == "start":
                    if await self.store.last_status_actor(row.id) == EMERGENCY_ACTOR:
                        continue  # the account's emergency stop holds until a human starts it
                    w = sched.window(day)
                    await self.store.set_status(
                        row.id, "running", SCHEDULE_ACTOR, only_from=("created", "stopped"),
                        schedule_day=day,
                        detail=f"schedule window {w[0]:%H:%M}–{w[1]:%H:%M} IST" if w else "")
                else:
                    await self.store.set_status(
                        row.id, "stopped", SCHEDULE_ACTOR, only_from=("running", "paused"),
                        detail="outside the schedule's window")
            except (PreconditionFailed, NotFound):  # another replica, or a user, was first
                continue
            log.info("bot %s: %s by its schedule", row.id,
                     "started" if action == "start" else "stopped")
            done.append((row.id, action))
        return done

    async def _loop(self) -> None:
        while True:
            if cancel_pending():  # told to stop, and something below swallowed it
                raise asyncio.CancelledError
            try:
                await self.apply_schedules()
            except Exception as exc:  # the loop must outlive a database hiccup
                log.warning("bot runner: applying schedules failed: %s: %s",
                            type(exc).__name__, exc)
            try:
                active = {b.id: b for b in await self.store.active()}
                self._status = {i: b.status for i, b in active.items()}
                for bot_id in list(self._leases):
                    if bot_id not in active:
                        await self._drop(bot_id)
                for bot_id, row in active.items():
                    if bot_id not in self._leases:
                        self._hold(row)
            except Exception as exc:  # the loop must outlive a database hiccup
                log.warning("bot runner: listing bots failed: %s: %s", type(exc).__name__, exc)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.poll_s):  # (not wait_for: mandi.platform.tasks)
                    await self._wake.wait()

    def _hold(self, row: BotRow) -> None:
        lease = IngestLease(self.redis, f"{self.prefix}:strategy:bot:{row.id}", self.replica_id,
                            self.lease_s, poll_s=min(1.0, self.lease_s / 3))

        async def on_acquire() -> None:
            self._tasks[row.id] = asyncio.create_task(self._run(row.id), name=f"bot-{row.id}")
            metrics.BOTS_HELD.set(len(self._tasks))

        async def on_lose() -> None:
            task = self._tasks.pop(row.id, None)
            metrics.BOTS_HELD.set(len(self._tasks))
            if task is not None:
                await cancel_and_wait(task)

        self._leases[row.id] = (lease, asyncio.create_task(lease.run(on_acquire, on_lose)))

    async def _drop(self, bot_id: str) -> None:
        lease, task = self._leases.pop(bot_id)
        await lease.close()
        await cancel_and_wait(task)

    async def _run(self, bot_id: str) -> None:
        """Run the bot; a stream that ends or breaks is reopened (resume from saved state); a
        bot whose definition cannot run is marked error."""
        warned = ""  # the retried error last logged to the bot's log: once per streak
        while True:
            if cancel_pending():  # told to stop, and something below swallowed it
                raise asyncio.CancelledError
            try:
                row = await self.store.get(bot_id)
                if row.status not in ("running", "paused"):
                    return
                await BotTask(row, self).run()
            except asyncio.CancelledError:
                raise
            except grpc.aio.AioRpcError as exc:
                if exc.code() not in RETRYABLE:  # e.g. marketdata does not know a symbol
                    log.error("bot %s failed: %s %s", bot_id, exc.code().name, exc.details())
                    metrics.BOT_ERRORS.inc()
                    with contextlib.suppress(MandiError):
                        await self.store.set_status(
                            bot_id, "error", f"runner:{self.replica_id}",
                            detail=f"{exc.code().name}: {exc.details()}")
                    return
                log.warning("bot %s: %s; resuming", bot_id, exc.code().name)
                if exc.code().name != warned:
                    warned = exc.code().name
                    await self.logs.write(bot_id, "warning", "error",
                                          f"{exc.code().name}: {exc.details()}; resuming")
            except MandiError as exc:
                log.error("bot %s failed: %s", bot_id, exc.message)
                metrics.BOT_ERRORS.inc()
                with contextlib.suppress(MandiError):
                    await self.store.set_status(bot_id, "error", f"runner:{self.replica_id}",
                                                detail=exc.message)
                return
            except Exception as exc:  # a bot's bug must not kill the replica
                log.exception("bot %s crashed", bot_id)
                metrics.BOT_ERRORS.inc()
                with contextlib.suppress(MandiError):
                    await self.store.set_status(bot_id, "error", f"runner:{self.replica_id}",
                                                detail=f"{type(exc).__name__}: {exc}")
                return
            await asyncio.sleep(1.0)

