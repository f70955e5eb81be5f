"""What execution did with a bot's orders and its legs' GTTs, learnt when the next bar closes.

Before the runner processes a live bar of a symbol it reconciles that symbol with execution
(`Reconciler.reconcile`):

1. entries sent on an earlier bar whose fill is not known: `GetOrder` → the engine's leg takes
   the average fill price (`BotEngine.entry_filled`: `on_fill`, stop and target from the real
   price); an entry cancelled or rejected unfilled never opened its leg;
2. exits sent on an earlier bar: their fill goes to realized P&L and `on_fill`;
3. legs with a stop or target: `ListGtts(entry_order_ids=…)` finds each leg's GTT (execution
   places one per entry order after the fill, so a restarted bot finds the same one and never
   places another); a GTT that has triggered closed its leg (`BotEngine.closed_by_gtt`, reason
   stop | target, at the fill of the order it placed).

Why reconciling rather than following `StreamOrderEvents` or postbacks: the event stream is a
live feed with no replay, so whatever happens while a bot is between replicas (a crash, a lease
move) is lost, and the bot would need a reconciliation for that case anyway. Execution's rows
are the truth and reading them is idempotent, so one path serves the normal case and every
restart. And the strategy acts only at bar closes: the backtester too applies fills at bar
i+1's open and stops hit within bar i+1 before `on_bar(i+1)`, which is exactly when this runs.
The cost is a `GetOrder` per order in flight and one `ListGtts` per symbol with protected legs,
per bar. A bot that needs none of it before a bar (no `on_fill`, a fixed quantity, no leg with
a GTT: `BotEngine.fills_first`) is reconciled after the bar's orders are sent instead, one
order a bar: there the fills only complete its record and its realized P&L.

Also here: before a leg with a GTT is exited the GTT is deleted — if it has already fired, the
GTT closed the leg and the exit is not sent (it would open the opposite position).

Trailing stops (`sync_stops`, after each live bar): every open leg whose wanted stop its GTT
does not hold gets a `ModifyGtt` to the latest wanted stop — a move made before the bot knew
the GTT is applied once the GTT is seen, and a move Kite would refuse (a trigger within 0.25 %
of the last price: `mandi.core.gtt_rules`, checked against the bar's close before asking) is
tried again on a later bar once the price has moved away. Meanwhile the bot enforces the stop
itself (bot_engine.py); that is logged and audited once per leg until the GTT catches up.
Every fill and every GTT exit is written to
`bot_orders` (fill quantity, average price, time; GTT exits as "gtt:<gtt id>:<sl|tp>" with
reason stop | target) for the parity report.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import grpc

from mandi.core.errors import PreconditionFailed
from mandi.core.gtt_rules import nearest_stop, trigger_too_close
from mandi.platform.protoconv import from_timestamp, has_timestamp
from mandi.v1 import execution_pb2
from services.strategy.bot_engine import BotEngine, OrderIntent, stop_pending
from services.strategy.bot_squareoff import broker_squareoff, squared_off_status
from services.strategy.bot_store import BotOrderRow, BotStore

log = logging.getLogger("mandi.strategy.bots")

S = execution_pb2
FINAL = (S.ORDER_STATUS_COMPLETE, S.ORDER_STATUS_CANCELLED, S.ORDER_STATUS_REJECTED)
ROLE_REASON = {"sl": "stop", "tp": "target"}
TIMEOUT_S = 10
# a call failing so is asked again (the bot resumes); others are answers
RETRYABLE = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED,
             grpc.StatusCode.CANCELLED, grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL,
             grpc.StatusCode.ABORTED)


def _ts(ts: Any) -> datetime | None:
    return from_timestamp(ts) if has_timestamp(ts) else None


def _status(order: Any) -> str:
    return S.OrderStatus.Name(order.status)


def trigger_of(g: Any, role: str) -> int:
    """The trigger of a GTT's stop ("sl") or target ("tp") leg. Legs are in trigger order; a
    long's stop is the lower, a short's the upper; a single leg is whichever it is."""
    triggers = sorted(leg.trigger_price_paise for leg in g.legs)
    if len(triggers) == 1:
        return triggers[0]
    long = g.legs[0].side == S.SIDE_SELL
    return triggers[0] if (role == "sl") == long else triggers[-1]


class Reconciler:
    """One bot's view of execution: fills, GTTs, GTT moves and deletions."""

    def __init__(self, bot_id: str, account_id: str, execution: Any, store: BotStore) -> None:
        self.bot_id = bot_id
        self.account_id = account_id
        self.execution = execution
        self.store = store
        self.gtts: dict[str, Any] = {}  # entry order id → its GTT as last seen

    # --- before a bar -----------------------------------------------------------------------
    async def reconcile(self, eng: BotEngine, symbol: str, bar_ts: int, *,
                        sent_now: int = -1, budget: int | None = None) -> None:
        """Apply what execution did since the last bar. `sent_now`: a bar whose orders were
        just sent (after it was processed): they are left for the next bar. `budget`: at most
        this many orders looked up (the record-only pass: the rest wait for later bars, so a
        broker that stops filling cannot make every bar slower)."""
        now = f"{self.bot_id}:{sent_now // 1_000_000_000}:" if sent_now >= 0 else None
        self._budget = budget
        legs = eng.open_legs(symbol)
        for tag, info in list(legs.items()):
            if info["filled"] or not info["coid"] or (now and info["coid"].startswith(now)):
                continue
            if self._spent():
                return
            oid = info["order_id"] or await self.store.order_id(self.bot_id, info["coid"])
            if not oid:
                continue  # not acknowledged: resent on resume, or refused (forgotten)
            eng.entry_sent(symbol, tag, oid)
            order = await self._order(oid)
            if order.status not in FINAL:
                continue  # open, or partly filled with the rest to come: next bar
            await self.store.order_filled(self.bot_id, info["coid"], _status(order),
                                          order.filled_quantity, order.average_price_paise,
                                          _ts(order.updated_at))
            if order.filled_quantity:
                eng.entry_filled(symbol, tag, order.filled_quantity,
                                 order.average_price_paise, bar_ts)
            else:
                log.warning("bot %s: entry %s ended %s unfilled: leg %s not opened",
                            self.bot_id, info["coid"], _status(order), tag)
                eng.entry_failed(symbol, tag)
        for coid, a in list(eng.awaiting.items()):
            if a["symbol"] != symbol or (now and coid.startswith(now)):
                continue
            if self._spent():
                return
            oid = a.get("order_id") or await self.store.order_id(self.bot_id, coid)
            if not oid:
                continue
            a["order_id"] = oid
            order = await self._order(oid)
            if order.status not in FINAL:
                continue
            await self.store.order_filled(self.bot_id, coid, _status(order),
                                          order.filled_quantity, order.average_price_paise,
                                          _ts(order.updated_at))
            if order.filled_quantity == 0 and order.status == S.ORDER_STATUS_REJECTED and \
                    await self.squared_off(eng, eng.awaited_exit(coid)):
                continue  # rejected after the broker's square-off had closed the leg
            if order.filled_quantity < a["qty"]:
                raise PreconditionFailed(
                    f"exit {coid} ended {_status(order)} with {order.filled_quantity} of "
                    f"{a['qty']} filled; the position needs a human", field="orders")
            eng.exit_filled(coid, order.average_price_paise, bar_ts)
        await self._follow_gtts(eng, symbol, bar_ts)

    async def _follow_gtts(self, eng: BotEngine, symbol: str, bar_ts: int) -> None:
        protected = {info["order_id"]: tag for tag, info in eng.open_legs(symbol).items()
                     if info["filled"] and info["order_id"]
                     and (info["stop_pct"] or info["target_pct"])}
        if not protected:
            return
        for g in await self._gtts(list(protected)):
            tag = protected.get(g.entry_order_id)
            if tag is None:
                continue
            self.gtts[g.entry_order_id] = g
            eng.set_gtt(symbol, tag, g.gtt_id)
            if g.status == "active":
                eng.gtt_holds(symbol, tag, trigger_of(g, "sl"))
            elif g.status == "triggered":
                await self._closed_by_gtt(eng, symbol, tag, g, bar_ts)
            elif g.status != "creating":
                eng.gtt_holds(symbol, tag, 0)  # no stop at the broker: the bot enforces it
                log.warning("bot %s: GTT %s of leg %s %s is %s: the leg is unprotected",
                            self.bot_id, g.gtt_id, symbol, tag, g.status)

    async def _closed_by_gtt(self, eng: BotEngine, symbol: str, tag: str, g: Any,
                             bar_ts: int, *, exit_coid: str = "") -> None:
        role = g.exit_leg or "sl"
        reason = ROLE_REASON.get(role, "stop")
        price = g.exit_average_price_paise if g.exit_filled_quantity else trigger_of(g, role)
        if exit_coid:  # the leg was already closed in the engine by the exit not sent
            eng.exit_filled(exit_coid, price, bar_ts, reason)
            qty = next((leg.quantity for leg in g.legs), 0)
            side = S.Side.Name(g.legs[0].side).removeprefix("SIDE_") if g.legs else ""
        else:
            leg = eng.closed_by_gtt(symbol, tag, reason, price, bar_ts)
            if leg is None:
                return
            qty, side = leg.qty, "SELL" if leg.is_long else "BUY"
        log.info("bot %s: GTT %s closed %s %s (%s) at %s", self.bot_id, g.gtt_id, symbol, tag,
                 reason, price)
        await self.store.gtt_exit(self.bot_id, BotOrderRow(
            client_order_id=f"gtt:{g.gtt_id}:{role}",
            bar_ts=datetime.fromtimestamp(bar_ts / 1e9, UTC), symbol=symbol, side=side,
            quantity=qty, tag=tag, reason=reason, order_id=g.exit_order_id,
            status="COMPLETE" if g.exit_filled_quantity else "TRIGGERED",
            filled_quantity=g.exit_filled_quantity,
            average_price_paise=g.exit_average_price_paise, gtt_id=g.gtt_id))

    async def squared_off(self, eng: BotEngine, o: OrderIntent | None) -> bool:
        """Exit `o` was refused or rejected: True when the broker's MIS auto square-off had
        closed its leg (bot_squareoff.py), which is then booked as the exit's fill."""
        if o is None or o.reason == "entry":
            return False
        try:
            eo = await broker_squareoff(self.execution, self.account_id, o)
        except grpc.aio.AioRpcError as exc:
            if exc.code() in RETRYABLE:
                raise  # the bot resumes and asks again
            log.warning("bot %s: could not look for the broker's square-off of %s: %s %s",
                        self.bot_id, o.client_order_id, exc.code().name, exc.details())
            return False
        if eo is None:
            return False
        at = _ts(eo.filled_at) or _ts(eo.updated_at)
        await self.store.order_sent(self.bot_id, o.client_order_id, eo.order_id,
                                    squared_off_status(eo))
        await self.store.order_filled(self.bot_id, o.client_order_id, squared_off_status(eo),
                                      o.qty, eo.average_price_paise, at)
        eng.exit_filled(o.client_order_id, eo.average_price_paise, o.bar_ts, "squareoff")
        detail = (f"{o.symbol} {o.tag}: exit {o.client_order_id} came after the broker's auto "
                  f"square-off {eo.order_id} had closed the position at "
                  f"{eo.average_price_paise / 100:.2f}; the leg is booked closed by it")
        log.warning("bot %s: %s", self.bot_id, detail)
        await self.store.record(self.bot_id, "runner", "broker_squareoff", detail)
        return True

    # --- around a bar's orders --------------------------------------------------------------
    async def before_exit(self, eng: BotEngine, o: OrderIntent) -> bool:
        """Delete the GTT of a leg about to be exited; False when it has already fired (the
        GTT closed the leg: the exit must not be sent)."""
        gid = o.gtt_id
        g = None
        if not gid and o.entry_order_id:
            found = await self._gtts([o.entry_order_id])
            g = found[0] if found else None
            gid = g.gtt_id if g is not None else ""
        if not gid:
            return True
        try:
            await self.execution.DeleteGtt(S.DeleteGttRequest(
                account_id=self.account_id, gtt_id=gid), timeout=TIMEOUT_S)
            return True
        except grpc.aio.AioRpcError as exc:
            if exc.code() != grpc.StatusCode.FAILED_PRECONDITION:
                raise
        # not active: fired (the GTT closed the leg), or deleted already (flat position)
        if g is None or g.gtt_id != gid:
            g = next((x for x in await self._gtts([o.entry_order_id]) if x.gtt_id == gid), None) \
                if o.entry_order_id else None
        if g is None or g.status != "triggered":
            return True
        await self.store.order_filled(self.bot_id, o.client_order_id,
                                      f"SKIPPED: GTT {gid} triggered first", 0, 0, None)
        await self._closed_by_gtt(eng, o.symbol, o.tag, g, o.bar_ts,
                                  exit_coid=o.client_order_id)
        return False

    async def sync_stops(self, eng: BotEngine, symbol: str, last_paise: int) -> None:
        """Make each open leg's GTT hold the leg's wanted stop (ModifyGtt, the limit price
        derived by execution). A leg whose GTT is not known yet, or whose new trigger (or the
        GTT's target) sits too close to the last price, keeps the GTT's stop and the bot
        enforces the wanted one; that is logged and audited once, and tried again next bar."""
        legs = {t: i for t, i in eng.open_legs(symbol).items()
                if stop_pending(i, eng.feeds[symbol].ctx.legs[t].stop_paise)}
        missing = [i["order_id"] for i in legs.values() if i["order_id"] and (
            i["order_id"] not in self.gtts or self.gtts[i["order_id"]].status != "active")]
        if missing:
            for g in await self._gtts(missing):
                self.gtts[g.entry_order_id] = g
        for tag, info in legs.items():
            stop = int(eng.feeds[symbol].ctx.legs[tag].stop_paise or 0)
            g = self.gtts.get(info["order_id"]) if info["order_id"] else None
            if g is None or g.status != "active":
                await self._enforcing(eng, symbol, tag, stop, "its GTT is not active yet")
                continue
            eng.set_gtt(symbol, tag, g.gtt_id)
            old = trigger_of(g, "sl")
            if old == stop:
                eng.gtt_holds(symbol, tag, stop)
                continue
            others = [leg.trigger_price_paise for leg in g.legs
                      if leg.trigger_price_paise != old]  # the target
            near = next((t for t in (stop, *others) if trigger_too_close(t, last_paise)), None)
            if near is None:
                why = await self._modify(g, old, stop)
                if why is None:
                    if info.get("stop_enforced"):
                        log.info("bot %s: GTT %s of %s %s holds the trailing stop %s again",
                                 self.bot_id, g.gtt_id, symbol, tag, stop)
                    eng.gtt_holds(symbol, tag, stop)
                    continue
            else:
                why = (f"trigger {near / 100:.2f} is within 0.25% of the last price "
                       f"{last_paise / 100:.2f}: not a GTT yet")
                await self._nearest(eng, symbol, tag, g, old, stop, others, last_paise)
            await self._enforcing(eng, symbol, tag, stop, why)

    async def _nearest(self, eng: BotEngine, symbol: str, tag: str, g: Any, old: int,
                       stop: int, others: list[int], last_paise: int) -> None:
        """Meanwhile the GTT takes the nearest stop Kite allows when that is tighter than the
        one it holds (and its target allows a change): should the bot be down when the price
        falls through the wanted stop, the GTT exits nearer to it."""
        long = g.legs[0].side == S.SIDE_SELL
        level = nearest_stop(last_paise, long, eng.cfg.tick_paise)
        tighter = old < level < stop if long else stop < level < old
        if not tighter or any(trigger_too_close(t, last_paise) for t in others):
            return
        if await self._modify(g, old, level) is None:
            eng.gtt_holds(symbol, tag, level)
            log.debug("bot %s: GTT %s of %s %s: stop %s → %s (the nearest allowed) while the "
                      "bot enforces %s", self.bot_id, g.gtt_id, symbol, tag, old, level, stop)

    async def _modify(self, g: Any, old: int, stop: int) -> str | None:
        """ModifyGtt of `g`'s stop leg from `old` to `stop`; None when done, else why not."""
        legs = [S.GttLeg(trigger_price_paise=leg.trigger_price_paise, side=leg.side,
                         quantity=leg.quantity, price_paise=leg.price_paise) for leg in g.legs]
        sl = next(leg for leg in legs if leg.trigger_price_paise == old)
        sl.trigger_price_paise, sl.price_paise = stop, 0
        try:
            resp = await self.execution.ModifyGtt(S.ModifyGttRequest(
                account_id=self.account_id, gtt=S.Gtt(gtt_id=g.gtt_id, legs=legs)),
                timeout=TIMEOUT_S)
        except grpc.aio.AioRpcError as exc:
            if exc.code() not in (grpc.StatusCode.INVALID_ARGUMENT,
                                  grpc.StatusCode.FAILED_PRECONDITION):
                raise
            return f"refused: {exc.details()}"
        new = resp.gtt
        new.entry_order_id = new.entry_order_id or g.entry_order_id
        self.gtts[g.entry_order_id] = new
        return None

    async def _enforcing(self, eng: BotEngine, symbol: str, tag: str, stop: int,
                         why: str) -> None:
        """The leg's GTT does not hold its wanted stop: said once per leg (until it does)."""
        info = eng.feeds[symbol].info.get(tag) or {}
        if info.get("stop_enforced"):
            log.debug("bot %s: stop of %s %s at %s still not on its GTT: %s", self.bot_id,
                      symbol, tag, stop, why)
            return
        info["stop_enforced"] = True
        held = int(info.get("gtt_stop") or 0)
        detail = (f"{symbol} {tag}: trailing stop {stop} not on the GTT ({why}); the GTT "
                  f"holds {held or 'none'}, the bot exits at market if a bar crosses {stop}, "
                  "and moves the GTT when it can")
        log.warning("bot %s: %s", self.bot_id, detail)
        await self.store.record(self.bot_id, "runner", "stop_enforced_by_bot", detail)

    # --- execution calls --------------------------------------------------------------------
    _budget: int | None = None

    def _spent(self) -> bool:
        if self._budget is None:
            return False
        self._budget -= 1
        return self._budget < 0

    async def _order(self, order_id: str) -> Any:
        resp = await self.execution.GetOrder(S.GetOrderRequest(
            account_id=self.account_id, order_id=order_id), timeout=TIMEOUT_S)
        return resp.order

    async def _gtts(self, entry_order_ids: list[str]) -> list[Any]:
        resp = await self.execution.ListGtts(S.ListGttsRequest(
            account_id=self.account_id, entry_order_ids=entry_order_ids), timeout=TIMEOUT_S)
        return list(resp.gtts)
