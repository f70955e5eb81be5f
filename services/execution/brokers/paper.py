"""PaperBroker: a broker that fills against live quotes and never reaches an exchange.

It keeps its own book (paper_* tables) the way a real broker would, so the ledger, the order
state machine and reconciliation run exactly as with Kite. Matching and slippage are
mandi.core.fills — the backtester's code — against the quote's touch: a LIMIT buy fills at the
ask once the ask is at or below the limit, never at the last price. Its only outside dependency
is a MarketData source; it holds no order-capable broker client at all.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable
from datetime import timedelta
from typing import Any

import asyncpg

from mandi.core.calendar import is_market_open
from mandi.core.charges import Side
from mandi.core.clock import Clock
from mandi.core.errors import InvalidInput, NotFound, PreconditionFailed, TemporaryError
from mandi.core.fills import Order as FillOrder
from mandi.core.fills import OrderType, Slippage, match_quote
from mandi.core.fills import Quote as FillQuote
from services.execution.brokers.base import (
    BrokerGtt,
    BrokerOrder,
    BrokerOrderRequest,
    BrokerPosition,
    BrokerTrade,
    Capabilities,
    GttLegSpec,
    Quote,
    gtt_type,
)
from services.execution.marketdata import MarketData

WORKING = ("OPEN", "TRIGGER PENDING", "AMO REQ RECEIVED")
AMO_HELD = "AMO REQ RECEIVED"  # Kite's status of an AMO waiting for the next session


def _order(row: Any) -> BrokerOrder:
    return BrokerOrder(
        broker_order_id=row["broker_order_id"], status=row["status"], exchange=row["exchange"],
        tradingsymbol=row["tradingsymbol"], side=row["side"], quantity=row["quantity"],
        order_type=row["order_type"], product=row["product"], price_paise=row["price_paise"],
        trigger_price_paise=row["trigger_price_paise"], filled_quantity=row["filled_quantity"],
        average_price_paise=row["average_price_paise"], status_message=row["status_message"],
        tag=row["tag"], ts=row["updated_at"])


def _trade(row: Any) -> BrokerTrade:
    return BrokerTrade(row["broker_trade_id"], row["broker_order_id"], row["exchange"],
                       row["tradingsymbol"], row["product"], row["side"], row["quantity"],
                       row["price_paise"], row["ts"])


class PaperBroker:
    capabilities = Capabilities(name="paper", paper=True, gtt=True, push_updates=False)

    def __init__(self, pool: asyncpg.Pool, account_id: str, data: MarketData, clock: Clock, *,
                 slippage_bps: int = 0, slippage_ticks: int = 0) -> None:
        self.pool = pool
        self.account_id = account_id
        self.data = data
        self.clock = clock
        self.slippage_bps = slippage_bps
        self.slippage_ticks = slippage_ticks
        self._ticks: dict[str, int] = {}
        self._updates: asyncio.Queue[BrokerOrder] = asyncio.Queue(maxsize=10_000)

    # --- orders ----------------------------------------------------------------------------
    def order_room(self, within_s: float) -> Awaitable[None] | None:
        return None  # no request window: an order is matched here, not sent anywhere

    async def place_order(self, req: BrokerOrderRequest) -> str:
        """Book the order, matching it on arrival against a fresh quote — one statement, so a
        marketable order is never visible half-filled."""
        if req.quantity <= 0:
            raise InvalidInput("quantity must be positive", field="quantity")
        oid = "P" + uuid.uuid4().hex[:15]
        now = self.clock.now()
        key = f"{req.exchange}:{req.tradingsymbol}"
        try:
            q = (await self.data.quotes([key])).get(key)
        except TemporaryError:  # no quote now: book it unmatched, the next step() matches it
            q = None
        status = "TRIGGER PENDING" if req.order_type in ("SL", "SL-M") else "OPEN"
        decision = None
        if req.variety == "amo" and not is_market_open(now):
            status, q = AMO_HELD, None  # held until the session opens, as Kite sends AMOs then
        if q is not None:
            decision = match_quote(
                self._fill_order({"order_type": req.order_type, "side": req.side,
                                  "quantity": req.quantity, "price_paise": req.price_paise,
                                  "trigger_price_paise": req.trigger_price_paise}),
                FillQuote(q.bid_paise, q.ask_paise, q.last_paise),
                Slippage(self.slippage_bps, self.slippage_ticks, self._ticks.get(key, 5)))
        filled = avg = 0
        message = ""
        if decision is not None:
            status, filled, avg = "COMPLETE", decision.qty, decision.price_paise
        elif req.validity == "IOC":
            status, message = "CANCELLED", "IOC: no fill on arrival"
        row = await self.pool.fetchrow(
            """WITH o AS (
                 INSERT INTO paper_orders (account_id, broker_order_id, tag, exchange,
                   tradingsymbol, side, quantity, order_type, price_paise, trigger_price_paise,
                   product, validity, status, status_message, filled_quantity,
                   average_price_paise, algo_id, created_at, updated_at, expires_at)
                 VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$18,$20)
                 RETURNING *),
               t AS (
                 INSERT INTO paper_trades (account_id, broker_trade_id, broker_order_id,
                   exchange, tradingsymbol, product, side, quantity, price_paise, ts)
                 SELECT account_id, $19, broker_order_id, exchange, tradingsymbol, product,
                   side, filled_quantity, average_price_paise, created_at
                 FROM o WHERE filled_quantity > 0)
               SELECT * FROM o""",
            self.account_id, oid, req.tag, req.exchange, req.tradingsymbol, req.side,
            req.quantity, req.order_type, req.price_paise, req.trigger_price_paise, req.product,
            req.validity, status, message, filled, avg, req.algo_id, now,
            "T" + uuid.uuid4().hex[:15],
            now + timedelta(minutes=req.validity_ttl) if req.validity == "TTL" else None)
        if status not in WORKING and not self._updates.full():
            self._updates.put_nowait(_order(row))
        return oid

    async def modify_order(self, broker_order_id: str, *, quantity: int | None = None,
                           price_paise: int | None = None, trigger_price_paise: int | None = None,
                           order_type: str | None = None,
                           market_protection: float | None = None) -> None:
        status = await self.pool.execute(
            "UPDATE paper_orders SET quantity = COALESCE($3, quantity),"
            " price_paise = COALESCE($4, price_paise),"
            " trigger_price_paise = COALESCE($5, trigger_price_paise),"
            " order_type = COALESCE($6, order_type), updated_at = $7"
            " WHERE account_id = $1 AND broker_order_id = $2"
            " AND status IN ('OPEN', 'TRIGGER PENDING', 'AMO REQ RECEIVED')",
            self.account_id, broker_order_id, quantity, price_paise, trigger_price_paise,
            order_type, self.clock.now())
        if status.endswith(" 0"):
            raise PreconditionFailed(f"order {broker_order_id} cannot be modified",
                                     field="order_id")

    async def cancel_order(self, broker_order_id: str) -> None:
        status = await self.pool.execute(
            "UPDATE paper_orders SET status = 'CANCELLED', updated_at = $3"
            " WHERE account_id = $1 AND broker_order_id = $2"
            " AND status IN ('OPEN', 'TRIGGER PENDING', 'AMO REQ RECEIVED')",
            self.account_id, broker_order_id, self.clock.now())
        if status.endswith(" 0"):
            raise InvalidInput(f"order {broker_order_id} is not open", field="order_id")

    async def orders(self) -> list[BrokerOrder]:
        rows = await self.pool.fetch(
            "SELECT * FROM paper_orders WHERE account_id = $1"
            " AND (status IN ('OPEN', 'TRIGGER PENDING', 'AMO REQ RECEIVED')"
            " OR updated_at > $2::timestamptz - interval '1 day')"
            " ORDER BY created_at", self.account_id, self.clock.now())
        return [_order(r) for r in rows]

    async def order_history(self, broker_order_id: str) -> list[BrokerOrder]:
        row = await self.pool.fetchrow(
            "SELECT * FROM paper_orders WHERE account_id = $1 AND broker_order_id = $2",
            self.account_id, broker_order_id)
        if row is None:
            raise NotFound(f"no order {broker_order_id}", field="order_id")
        return [_order(row)]

    async def order_trades(self, broker_order_id: str) -> list[BrokerTrade]:
        rows = await self.pool.fetch(
            "SELECT * FROM paper_trades WHERE account_id = $1 AND broker_order_id = $2"
            " ORDER BY ts, broker_trade_id", self.account_id, broker_order_id)
        return [_trade(r) for r in rows]

    async def trades(self) -> list[BrokerTrade]:
        rows = await self.pool.fetch(
            "SELECT * FROM paper_trades WHERE account_id = $1"
            " AND ts > $2::timestamptz - interval '1 day'"
            " ORDER BY ts", self.account_id, self.clock.now())
        return [_trade(r) for r in rows]

    async def positions(self) -> list[BrokerPosition]:
        rows = await self.pool.fetch(
            "SELECT exchange, tradingsymbol, product,"
            " sum(CASE WHEN side = 'BUY' THEN quantity ELSE -quantity END) AS qty,"
            " sum(CASE WHEN side = 'BUY' THEN quantity * price_paise ELSE 0 END) AS buy_value,"
            " sum(CASE WHEN side = 'BUY' THEN quantity ELSE 0 END) AS buy_qty,"
            " sum(CASE WHEN side = 'SELL' THEN quantity * price_paise ELSE 0 END) AS sell_value,"
            " sum(CASE WHEN side = 'SELL' THEN quantity ELSE 0 END) AS sell_qty"
            " FROM paper_trades WHERE account_id = $1 GROUP BY 1, 2, 3", self.account_id)
        out = []
        for r in rows:
            qty = int(r["qty"])
            if qty > 0:
                avg = int(r["buy_value"]) // max(int(r["buy_qty"]), 1)
            elif qty < 0:
                avg = int(r["sell_value"]) // max(int(r["sell_qty"]), 1)
            else:
                avg = 0
            out.append(BrokerPosition(r["exchange"], r["tradingsymbol"], r["product"], qty, avg))
        return out

    async def holdings(self) -> list[dict[str, Any]]:
        return []

    async def margins(self) -> dict[str, Any]:
        """Kite's shape (rupees) from the paper book: a paper account holds no cash, so what is
        available is zero and `net` is minus what its open positions deploy at cost."""
        deployed = sum(abs(p.quantity) * p.average_price_paise
                       for p in await self.positions()) / 100
        zero = {"cash": 0.0, "opening_balance": 0.0, "live_balance": 0.0, "collateral": 0.0}
        return {"equity": {"enabled": True, "net": -deployed, "available": zero,
                           "utilised": {"debits": deployed, "exposure": deployed, "span": 0.0,
                                        "option_premium": 0.0}},
                "commodity": {"enabled": False, "net": 0.0, "available": zero,
                              "utilised": {"debits": 0.0}}}

    async def quotes(self, keys: list[str]) -> dict[str, Quote]:
        return await self.data.quotes(keys)

    async def instruments(self, exchange: str) -> list[dict[str, Any]]:
        rows = await self.data.instruments(exchange)
        for r in rows:
            tick = round(float(r.get("tick_size") or 0.05) * 100) or 5
            self._ticks[f"{r['exchange']}:{r['tradingsymbol']}"] = tick
        return rows

    async def order_updates(self) -> AsyncIterator[BrokerOrder]:
        while True:
            yield await self._updates.get()

    # --- matching --------------------------------------------------------------------------
    async def step(self) -> None:
        """Release held AMOs once the session is open, expire TTL orders whose time is up, then
        match every working order and active GTT against one fresh quote per instrument."""
        if is_market_open(self.clock.now()):
            await self.pool.execute(
                "UPDATE paper_orders SET updated_at = $2, status = CASE WHEN order_type IN"
                " ('SL', 'SL-M') THEN 'TRIGGER PENDING' ELSE 'OPEN' END"
                " WHERE account_id = $1 AND status = 'AMO REQ RECEIVED'",
                self.account_id, self.clock.now())
        await self.pool.execute(
            "UPDATE paper_orders SET status = 'CANCELLED', updated_at = $2,"
            " status_message = 'TTL validity expired'"
            " WHERE account_id = $1 AND status IN ('OPEN', 'TRIGGER PENDING')"
            " AND expires_at <= $2", self.account_id, self.clock.now())
        rows = await self.pool.fetch(
            "SELECT broker_order_id, exchange, tradingsymbol FROM paper_orders"
            " WHERE account_id = $1 AND status IN ('OPEN', 'TRIGGER PENDING')", self.account_id)
        gtts = await self.pool.fetch(
            "SELECT * FROM paper_gtts WHERE account_id = $1 AND status = 'active'",
            self.account_id)
        keys = sorted({f"{r['exchange']}:{r['tradingsymbol']}" for r in [*rows, *gtts]})
        if not keys:
            return
        quotes = await self.data.quotes(keys)
        await self._trigger_gtts(gtts, quotes)
        await self._match([r["broker_order_id"] for r in rows], quotes, arrival=False)

    async def _match(self, order_ids: list[str], quotes: dict[str, Quote], *,
                     arrival: bool) -> None:
        for oid in order_ids:
            async with self.pool.acquire() as conn, conn.transaction():
                row = await conn.fetchrow(
                    "SELECT * FROM paper_orders WHERE account_id = $1 AND broker_order_id = $2"
                    " AND status IN ('OPEN', 'TRIGGER PENDING') FOR UPDATE SKIP LOCKED",
                    self.account_id, oid)
                if row is None:
                    continue
                key = f"{row['exchange']}:{row['tradingsymbol']}"
                q = quotes.get(key)
                decision = None
                if q is not None:
                    decision = match_quote(self._fill_order(row),
                                           FillQuote(q.bid_paise, q.ask_paise, q.last_paise),
                                           Slippage(self.slippage_bps, self.slippage_ticks,
                                                    self._ticks.get(key, 5)),
                                           resting=not arrival)
                now = self.clock.now()
                if decision is not None:
                    tid = "T" + uuid.uuid4().hex[:15]
                    await conn.execute(
                        "INSERT INTO paper_trades (account_id, broker_trade_id, broker_order_id,"
                        " exchange, tradingsymbol, product, side, quantity, price_paise, ts)"
                        " VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)",
                        self.account_id, tid, oid, row["exchange"], row["tradingsymbol"],
                        row["product"], row["side"], decision.qty, decision.price_paise, now)
                    status = await conn.fetchrow(
                        "UPDATE paper_orders SET status = 'COMPLETE', filled_quantity = $3,"
                        " average_price_paise = $4, updated_at = $5"
                        " WHERE account_id = $1 AND broker_order_id = $2 RETURNING *",
                        self.account_id, oid, decision.qty, decision.price_paise, now)
                elif arrival and row["validity"] == "IOC":
                    status = await conn.fetchrow(
                        "UPDATE paper_orders SET status = 'CANCELLED', updated_at = $3,"
                        " status_message = 'IOC: no fill on arrival'"
                        " WHERE account_id = $1 AND broker_order_id = $2 RETURNING *",
                        self.account_id, oid, now)
                else:
                    continue
            if not self._updates.full():
                self._updates.put_nowait(_order(status))

    @staticmethod
    def _fill_order(row: Any) -> FillOrder:
        otype = OrderType(row["order_type"])
        return FillOrder(side=Side(row["side"]), qty=row["quantity"], order_type=otype,
                         limit_paise=row["price_paise"] if otype in (OrderType.LIMIT,
                                                                      OrderType.SL) else None,
                         trigger_paise=row["trigger_price_paise"] if otype in (
                             OrderType.SL, OrderType.SL_M) else None)

    # --- GTT -------------------------------------------------------------------------------
    async def create_gtt(self, *, exchange: str, tradingsymbol: str, product: str,
                         last_price_paise: int, legs: list[GttLegSpec]) -> str:
        triggers = [leg.trigger_price_paise for leg in legs]
        if len(legs) == 2 and not triggers[0] < triggers[1]:
            raise InvalidInput("two-leg triggers must be ascending", field="legs")
        now = self.clock.now()
        gid = await self.pool.fetchval(
            "INSERT INTO paper_gtts (account_id, exchange, tradingsymbol, type, trigger_values,"
            " orders, status, created_at, updated_at)"
            " VALUES ($1,$2,$3,$4,$5,$6,'active',$7,$7) RETURNING broker_gtt_id",
            self.account_id, exchange, tradingsymbol, gtt_type(legs),
            json.dumps({"triggers": triggers, "last_price": last_price_paise}),
            json.dumps([{**leg.__dict__, "product": product} for leg in legs]), now)
        return str(gid)

    async def modify_gtt(self, broker_gtt_id: str, *, exchange: str, tradingsymbol: str,
                         product: str, last_price_paise: int, legs: list[GttLegSpec]) -> None:
        triggers = [leg.trigger_price_paise for leg in legs]
        status = await self.pool.execute(
            "UPDATE paper_gtts SET trigger_values = $3, orders = $4, updated_at = $5"
            " WHERE account_id = $1 AND broker_gtt_id = $2 AND status = 'active'",
            self.account_id, int(broker_gtt_id),
            json.dumps({"triggers": triggers, "last_price": last_price_paise}),
            json.dumps([{**leg.__dict__, "product": product} for leg in legs]),
            self.clock.now())
        if status.endswith(" 0"):
            raise PreconditionFailed(f"GTT {broker_gtt_id} is not active", field="gtt_id")

    async def delete_gtt(self, broker_gtt_id: str) -> None:
        status = await self.pool.execute(
            "UPDATE paper_gtts SET status = 'deleted', updated_at = $3"
            " WHERE account_id = $1 AND broker_gtt_id = $2 AND status = 'active'",
            self.account_id, int(broker_gtt_id), self.clock.now())
        if status.endswith(" 0"):
            raise PreconditionFailed(f"GTT {broker_gtt_id} is not active", field="gtt_id")

    async def gtts(self) -> list[BrokerGtt]:
        rows = await self.pool.fetch(
            "SELECT * FROM paper_gtts WHERE account_id = $1 ORDER BY broker_gtt_id",
            self.account_id)
        out = []
        for r in rows:
            legs = json.loads(r["orders"])
            cond = json.loads(r["trigger_values"])
            specs = tuple(GttLegSpec(leg["side"], leg["quantity"], leg["price_paise"], t)
                          for leg, t in zip(legs, cond["triggers"], strict=True))
            trig = json.loads(r["triggered_order_id"]) if r["triggered_order_id"] else []
            out.append(BrokerGtt(str(r["broker_gtt_id"]), r["exchange"], r["tradingsymbol"],
                                 r["type"], r["status"], specs,
                                 legs[0].get("product", "") if legs else "", tuple(trig)))
        return out

    async def _trigger_gtts(self, gtts: list[Any], quotes: dict[str, Quote]) -> None:
        for g in gtts:
            q = quotes.get(f"{g['exchange']}:{g['tradingsymbol']}")
            if q is None or not q.last_paise:
                continue
            cond = json.loads(g["trigger_values"])
            triggers, ltp = cond["triggers"], q.last_paise
            fired = None
            if len(triggers) == 2:
                fired = 0 if ltp <= triggers[0] else 1 if ltp >= triggers[1] else None
            else:
                above = cond.get("last_price", 0) < triggers[0]
                fired = 0 if (ltp >= triggers[0] if above else ltp <= triggers[0]) else None
            if fired is None:
                continue
            claimed = await self.pool.fetchval(
                "UPDATE paper_gtts SET status = 'triggered', updated_at = $3"
                " WHERE account_id = $1 AND broker_gtt_id = $2 AND status = 'active'"
                " RETURNING 1", self.account_id, g["broker_gtt_id"], self.clock.now())
            if claimed is None:
                continue
            leg = json.loads(g["orders"])[fired]
            oid = await self.place_order(BrokerOrderRequest(
                tag="", exchange=g["exchange"], tradingsymbol=g["tradingsymbol"],
                side=leg["side"], quantity=leg["quantity"], order_type="LIMIT",
                product=leg.get("product", "CNC"), price_paise=leg["price_paise"]))
            ids = ["", ""][: len(triggers)]
            ids[fired] = oid
            await self.pool.execute(
                "UPDATE paper_gtts SET triggered_order_id = $3 WHERE account_id = $1"
                " AND broker_gtt_id = $2", self.account_id, g["broker_gtt_id"], json.dumps(ids))

    async def close(self) -> None:
        await self.data.close()
