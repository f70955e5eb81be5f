"""External-signal bots: a bot whose strategy is `external` trades on signals posted to it
(`PostSignal`; REST `POST /api/v1/bots/{id}/signals`) — from the user's ML model, an alert or a
script — instead of on candles.

* **Key.** Created with the bot and on rotation (`RotateBotKey`), shown once, stored as its
  SHA-256 (`bot_keys`). A missing or wrong key, or a bot without one, is AuthError (401).
* **Checks** (InvalidInput naming the field): `id` 1-64 of `[A-Za-z0-9._:-]`; `symbol` one of
  the bot's; `side` BUY or SELL; exactly one of `quantity` (> 0) and `target_weight` (a decimal
  in [0, 1]); `ts` given, at most `MAX_AGE` old and `MAX_AHEAD` in the future. The bot must be
  running or paused (else 409).
* **Idempotency.** (bot, `id`) is unique in `bot_signals`: the same id again is answered with
  the stored signal (`duplicate`; before the checks, so a late retry is not "stale"), never a
  second order; the same id with another body is 409.
  The order's client_order_id is `<bot>:s:<id>` (a hash of the id when it would not fit) and is
  recorded in `bot_orders` before it is sent; a retry after a crash between the order and the
  signal's record re-sends that recorded order (not a new sizing: the LTP may have moved) and
  gets execution's duplicate answer.
  Signals of one bot are handled one at a time (a PostgreSQL advisory lock on the bot).
* **Sizing.** `quantity` is the order's quantity (BUY adds to the position, SELL takes from it).
  `target_weight` w is a target position: |target| = floor(w × capital / LTP) shares, long for
  BUY and short for SELL (CNC: no shorts), LTP from marketdata's `GetLtp`; the order is the
  difference from the bot's position (none: outcome `no_change`). The bot's position per symbol
  is the sum of its accepted orders (`state.positions`); fills are not followed yet.
* **Risk and audit.** The order goes through the runner's own send path (`BotTask._place`:
  execution `PlaceOrder` with the bot id as strategy_id, execution's risk checks, the order in
  `bot_orders`); a refusal is the signal's outcome, with execution's words. A paused bot takes
  signals that reduce its position only (else outcome `paused`); an emergency-stop refusal stops
  every bot of the account, as for strategy bots.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from mandi.core.errors import AuthError, InvalidInput, NotFound, PreconditionFailed
from mandi.platform.protoconv import from_timestamp, has_timestamp
from mandi.v1 import common_pb2, marketdata_pb2, strategy_pb2
from services.strategy import metrics
from services.strategy.bot_engine import MAX_CLIENT_ORDER_ID
from services.strategy.bot_logs import insert_log
from services.strategy.bot_risk import EMERGENCY_STOP
from services.strategy.bot_signals import SignalRow, SignalStore, outcome_of, signal_log
from services.strategy.bot_store import BotRow, BotStore
from services.strategy.candles import symbol_name

EXTERNAL = "external"
MAX_AGE = timedelta(seconds=120)
MAX_AHEAD = timedelta(seconds=10)
MAX_QUANTITY = 10_000_000
SIGNAL_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,64}$")
LOCK_NS = 0x6D62  # advisory lock class of "signals of one bot"


def is_external(spec: strategy_pb2.BacktestSpec) -> bool:
    return spec.strategy.type == EXTERNAL


def signal_client_order_id(bot_id: str, signal_id: str) -> str:
    head = f"{bot_id}:s:"
    if len(head) + len(signal_id) > MAX_CLIENT_ORDER_ID:
        signal_id = "h" + hashlib.sha256(signal_id.encode()).hexdigest()[
            :MAX_CLIENT_ORDER_ID - len(head) - 1]
    return head + signal_id


def _weight(text: str) -> Decimal:
    try:
        w = Decimal(text)
    except InvalidOperation:
        raise InvalidInput("target_weight must be a decimal number", field="target_weight") \
            from None
    if not w.is_finite() or w < 0 or w > 1:
        raise InvalidInput("target_weight must be between 0 and 1", field="target_weight")
    return w


def checked(request: Any, row: BotRow, spec: strategy_pb2.BacktestSpec,
            now: datetime) -> tuple[str, Decimal | None, datetime]:
    """The request's symbol name, weight and time after the checks of the module docstring."""
    if not SIGNAL_ID.fullmatch(request.id):
        raise InvalidInput("id must be 1-64 characters of letters, digits and ._:-", field="id")
    symbol = request.symbol.strip().upper()
    names = sorted(symbol_name(s) for s in spec.symbols)
    if symbol not in names:
        raise InvalidInput(f"{request.symbol!r} is not one of the bot's symbols {names}",
                           field="symbol")
    if request.side not in ("BUY", "SELL"):
        raise InvalidInput("side must be BUY or SELL", field="side")
    has_qty, has_w = request.HasField("quantity"), bool(request.target_weight)
    if has_qty == has_w:
        raise InvalidInput("give exactly one of quantity and target_weight", field="quantity")
    weight = None
    if has_qty and not 0 < request.quantity <= MAX_QUANTITY:
        raise InvalidInput(f"quantity must be 1..{MAX_QUANTITY}", field="quantity")
    if has_w:
        weight = _weight(request.target_weight)
    if not has_timestamp(request.ts):
        raise InvalidInput("ts (the signal's time) is required", field="ts")
    ts = from_timestamp(request.ts)
    if ts < now - MAX_AGE:
        raise InvalidInput(f"the signal is stale: ts is more than {int(MAX_AGE.total_seconds())}"
                           " s old", field="ts")
    if ts > now + MAX_AHEAD:
        raise InvalidInput("ts is in the future", field="ts")
    return symbol, weight, ts


def body_hash(symbol: str, request: Any) -> str:
    qty = request.quantity if request.HasField("quantity") else None
    doc = [symbol, request.side, qty, request.target_weight, request.ts.seconds,
           request.ts.nanos]
    return hashlib.sha256(json.dumps(doc).encode()).hexdigest()


class ExternalSignals:
    """PostSignal's work; `runner` is the BotRunner (its send path and stubs)."""

    def __init__(self, bots: BotStore, signals: SignalStore, runner: Any) -> None:
        self.bots = bots
        self.signals = signals
        self.runner = runner

    async def post(self, request: Any) -> tuple[SignalRow, bool]:
        received = time.monotonic()
        if not request.deployment_id:
            raise InvalidInput("deployment_id is required", field="deployment_id")
        if not request.key or not await self.signals.key_matches(request.deployment_id,
                                                                 request.key):
            raise AuthError("missing or invalid bot key", field="key")
        row = await self.bots.get(request.deployment_id)
        spec = strategy_pb2.BacktestSpec.FromString(row.spec)
        # a repeat is answered before the checks: a retry of an accepted signal may come
        # after its ts has gone stale
        digest = body_hash(request.symbol.strip().upper(), request)
        old = await self._answered(row.id, request.id, digest)
        if old is not None:
            return old, True
        symbol, weight, ts = checked(request, row, spec, self.runner.now())
        # a transaction-scoped lock: the pool keeps no session state (server.py), and a
        # transaction left open by a cancelled caller is rolled back on release, lock and all
        async with self.bots.pool.acquire() as lock, lock.transaction():
            await lock.execute("SELECT pg_advisory_xact_lock($1, hashtext($2))", LOCK_NS, row.id)
            old = await self._answered(row.id, request.id, digest)  # while we waited
            if old is not None:
                return old, True
            row = await self.bots.get(row.id)  # the status and position now
            if row.status not in ("running", "paused"):
                raise PreconditionFailed(f"bot {row.id} is {row.status}; start it to trade "
                                         "signals", field="deployment_id")
            sig = await self._act(row, spec, request, symbol, weight, ts, received)
            sig.body_hash = digest
            stored = await self._record(row, sig)
        return stored, False

    async def _answered(self, bot_id: str, signal_id: str, digest: str) -> SignalRow | None:
        """The stored answer to this signal id; 409 when the id came with another body."""
        old = await self.signals.get(bot_id, signal_id)
        if old is not None and old.body_hash != digest:
            raise PreconditionFailed(f"signal id {signal_id!r} was already used for another "
                                     "signal", field="id")
        return old

    async def _act(self, row: BotRow, spec: strategy_pb2.BacktestSpec, request: Any,
                   symbol: str, weight: Decimal | None, ts: datetime,
                   received: float) -> SignalRow:
        """Size the signal and send its order; the signal row to record."""
        held = int((row.state.get("positions") or {}).get(symbol, 0))
        sig = SignalRow(bot_id=row.id, signal_id=request.id, source="external", ts=ts,
                        symbol=symbol, side=request.side, quantity=0, outcome="no_change",
                        reason="external", target_weight=weight)
        coid = signal_client_order_id(row.id, request.id)
        before = await self.bots.orders(row.id, coid)
        if before:  # an earlier attempt recorded (maybe sent) the order, then died: same order
            delta = before[0].quantity if before[0].side == "BUY" else -before[0].quantity
        elif weight is None:
            delta = request.quantity if request.side == "BUY" else -request.quantity
        else:
            sig.price_paise = await self._ltp(spec, symbol)
            size = int(weight * spec.capital_paise // sig.price_paise)
            target = size if request.side == "BUY" else -size
            if target < 0 and spec.costs.product == strategy_pb2.PRODUCT_CNC:
                raise InvalidInput("a CNC bot cannot hold a short position", field="side")
            delta = target - held
            if delta == 0:
                sig.detail = f"already holding {held}"
                return sig
        sig.side, sig.quantity = ("BUY", delta) if delta > 0 else ("SELL", -delta)
        if not before and row.status == "paused" and abs(held + delta) > abs(held):
            sig.outcome, sig.detail = "paused", "the bot is paused: no new entries"
            return sig
        if not before and spec.costs.product == strategy_pb2.PRODUCT_CNC and held + delta < 0:
            sig.outcome = "refused"
            sig.detail = f"a CNC bot cannot sell more than it holds ({held})"
            return sig
        from services.strategy.bot_runner import BotTask  # the runner's send path
        task = BotTask(row, self.runner)
        sig.client_order_id = coid
        await self.bots.record_orders(row.id, [(coid, ts, symbol, sig.side, sig.quantity,
                                                request.id, "external")])
        ok = await task._place(coid, symbol, sig.side, sig.quantity) is not None
        (sent,) = await self.bots.orders(row.id, coid)
        sig.outcome, sig.detail = outcome_of(sent)
        sig.order_id = sent.order_id
        if ok:
            sig.latency_us = int((time.monotonic() - received) * 1e6)
            metrics.BOT_EXTERNAL_SIGNAL_TO_ORDER.observe(sig.latency_us / 1e6)
            metrics.BOT_ORDERS.labels("accepted").inc()
        else:
            metrics.BOT_ORDERS.labels("refused").inc()
            if task.refusals.get(coid) == EMERGENCY_STOP:
                await self.runner.emergency_stop(row.account_id, "order refused: emergency stop")
        return sig

    async def _ltp(self, spec: strategy_pb2.BacktestSpec, symbol: str) -> int:
        ref = next(s for s in spec.symbols if symbol_name(s) == symbol)
        resp = await self.runner.marketdata.GetLtp(marketdata_pb2.GetLtpRequest(
            instruments=[common_pb2.InstrumentRef(symbol=ref)]), timeout=10)
        prices = [p.last_price_paise for p in resp.prices if p.last_price_paise > 0]
        if not prices:
            raise PreconditionFailed(f"no last traded price of {symbol} to size target_weight "
                                     "by (is the market open and the symbol subscribed?)",
                                     field="target_weight")
        return prices[0]

    async def _record(self, row: BotRow, sig: SignalRow) -> SignalRow:
        """The signal, its log record and (for an order) the bot's new position, together."""
        async with self.bots.pool.acquire() as conn, conn.transaction():
            stored = await self.signals.insert(sig, conn=conn)
            if stored is None:  # cannot happen under the lock; answer what is there
                got = await self.signals.get(row.id, sig.signal_id)
                if got is None:
                    raise NotFound(f"signal {sig.signal_id} vanished", field="id")
                return got
            await insert_log(conn, *signal_log(stored))
            if sig.outcome == "order":
                delta = sig.quantity if sig.side == "BUY" else -sig.quantity
                await conn.execute(
                    "UPDATE bots SET state = jsonb_set(state || jsonb_build_object('positions',"
                    " COALESCE(state -> 'positions', '{}'::jsonb)), ARRAY['positions', $2::text],"
                    " to_jsonb(COALESCE((state #>> ARRAY['positions', $2::text])::bigint, 0)"
                    " + $3::bigint), true), orders = orders + 1, updated_at = now()"
                    " WHERE id = $1", row.id, sig.symbol, delta)
        return stored
