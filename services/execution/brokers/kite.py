"""KiteBroker: the Broker protocol over the real `kiteconnect` client (mandi.kite.client).

Session rules (SEBI retail-algo framework, and Kite's own daily token expiry): once Kite rejects
the token, every further call fails fast with AuthError *without* touching Kite — no retry
storm — until `renew_session()` installs a fresh token, or (`login_version`, the gateway's
stored daily login) a newer login than the rejected one appears: then the next call takes it.
`logout()` invalidates the token (done daily by the session keeper). Orders carry the
account's algo id and the tag Mandi derives from the client_order_id.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import inspect
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import date, datetime
from typing import Any

import aiohttp

from mandi.core.clock import IST
from mandi.core.errors import AuthError, BrokerLoginNeeded
from mandi.core.money import rupees_to_paise
from mandi.kite.client import KiteClient
from mandi.platform.retry import backoff_delay
from services.execution import metrics
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
from services.execution.brokers.kite_limits import (
    KiteRateLimiter,
    retry_kite_429,
    retry_kite_read,
)
from services.execution.marketdata import quote_from_kite

log = logging.getLogger(__name__)


def _ts(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=IST)
    if isinstance(value, str) and len(value) == 19:
        return datetime.fromisoformat(value).replace(tzinfo=IST)
    return None


def _p(value: Any) -> int:
    return rupees_to_paise(value or 0)


def order_from_kite(o: dict[str, Any]) -> BrokerOrder:
    return BrokerOrder(
        broker_order_id=str(o["order_id"]), status=str(o.get("status") or ""),
        exchange=o.get("exchange") or "", tradingsymbol=o.get("tradingsymbol") or "",
        side=o.get("transaction_type") or "", quantity=int(o.get("quantity") or 0),
        order_type=o.get("order_type") or "", product=o.get("product") or "",
        price_paise=_p(o.get("price")), trigger_price_paise=_p(o.get("trigger_price")),
        filled_quantity=int(o.get("filled_quantity") or 0),
        average_price_paise=_p(o.get("average_price")),
        status_message=str(o.get("status_message") or ""), tag=str(o.get("tag") or ""),
        ts=_ts(o.get("exchange_timestamp")) or _ts(o.get("order_timestamp")))


def trade_from_kite(t: dict[str, Any]) -> BrokerTrade:
    return BrokerTrade(
        broker_trade_id=str(t["trade_id"]), broker_order_id=str(t["order_id"]),
        exchange=t.get("exchange") or "", tradingsymbol=t.get("tradingsymbol") or "",
        product=t.get("product") or "", side=t.get("transaction_type") or "",
        quantity=int(t.get("quantity") or 0), price_paise=_p(t.get("average_price")),
        ts=_ts(t.get("fill_timestamp")) or _ts(t.get("exchange_timestamp")))


def gtt_from_kite(g: dict[str, Any]) -> BrokerGtt:
    cond = g.get("condition") or {}
    triggers = cond.get("trigger_values") or []
    legs, fired = [], []
    for leg, trig in zip(g.get("orders") or [], triggers, strict=False):
        legs.append(GttLegSpec(leg.get("transaction_type", ""), int(leg.get("quantity") or 0),
                               _p(leg.get("price")), _p(trig)))
        result = (leg.get("result") or {}).get("order_result") or {}
        fired.append(str(result.get("order_id") or ""))
    product = ((g.get("orders") or [{}])[0]).get("product", "")
    return BrokerGtt(str(g["id"]), cond.get("exchange", ""), cond.get("tradingsymbol", ""),
                     g.get("type", ""), g.get("status", ""), tuple(legs), product,
                     tuple(fired) if any(fired) else ())


def postback_checksum(order_id: str, order_timestamp: str, api_secret: str) -> str:
    """Kite's postback checksum: hex sha256(order_id + order_timestamp + api_secret)."""
    return hashlib.sha256(f"{order_id}{order_timestamp}{api_secret}".encode()).hexdigest()


class KiteBroker:
    capabilities = Capabilities(name="kite", paper=False, gtt=True, push_updates=False,
                                session=True)

    def __init__(self, client: KiteClient, *,
                 login: Callable[[], Awaitable[str]] | None = None,
                 has_token: bool = True, poll_interval_s: float = 1.0,
                 ws_root: str = "", api_secret: str = "",
                 limiter: KiteRateLimiter | None = None,
                 postbacks: Callable[[], AsyncIterator[dict[str, Any]]] | None = None,
                 market: Any = None,
                 login_version: Callable[[], Awaitable[tuple[int, str]]] | None = None,
                 login_rejected: Callable[[int], Awaitable[None]] | None = None) -> None:
        self.limiter = limiter
        self._login_version = login_version  # (version, state) of the gateway's Kite login
        self._held_version = 0
        self._login_rejected = login_rejected  # tells every service that login is needed
        self._slots = asyncio.Semaphore(getattr(client, "max_workers", 4))
        self.capabilities = dataclasses.replace(KiteBroker.capabilities,
                                                push_updates=bool(ws_root or postbacks))
        self.ws_root = ws_root
        # postbacks relayed by marketdata (its ticker socket): preferred to a socket of our own
        self.postbacks = postbacks
        # quotes from marketdata's ticks (market_stream.StreamedQuotes over rest_quotes)
        self.market = market
        self._api_secret = api_secret
        self.client = client
        self._login = login
        self._auth_failed = False
        self._needs_login = not has_token
        self._login_lock = asyncio.Lock()
        self.poll_interval_s = poll_interval_s

    async def _guard(self, coro: Awaitable[Any], kind: str = "other") -> Any:
        if self._needs_login and self._login is not None:
            async with self._login_lock:
                if self._needs_login:
                    try:
                        await self.renew_session()
                    except BaseException:
                        if asyncio.iscoroutine(coro):
                            coro.close()
                        raise
        try:
            await self.check_session()
        except BrokerLoginNeeded:
            if asyncio.iscoroutine(coro):
                coro.close()
            raise
        try:
            # Hold a thread of the client's pool before taking a rate slot: a request granted
            # its slot and then queued behind busy threads would reach Kite late, inside the
            # window of one granted a window later (a 429).
            async with self._slots:
                if self.limiter is not None:
                    await self.limiter.wait(kind)
                return await coro
        except AuthError:
            self._auth_failed = True
            if self._login_rejected is not None and self._held_version:
                await self._login_rejected(self._held_version)
            raise
        finally:
            if inspect.iscoroutine(coro) and \
                    inspect.getcoroutinestate(coro) == inspect.CORO_CREATED:
                coro.close()  # the limiter gave up before the call started

    async def _read(self, method: str, *args: Any) -> Any:
        """A read of `self.client.<method>(*args)`, repeated on a lost reply or Kite's 429."""
        return await retry_kite_read(lambda: self._guard(getattr(self.client, method)(*args)))

    # --- session ---------------------------------------------------------------------------
    async def logout(self) -> None:
        try:
            await self.client.invalidate_access_token()
        finally:
            self._auth_failed = True

    async def renew_session(self) -> bool:
        """Log in again through `login` (kitesim can; real Kite needs the user's daily login)."""
        if self._login is None:
            return False
        if self._login_version is not None:
            self._held_version = (await self._login_version())[0]
        token = await self._login()
        self.client.set_access_token(token)
        self._auth_failed = False
        self._needs_login = False
        return True

    async def take_new_login(self) -> bool:
        """Renew when the gateway holds a newer login than the one we hold (one Redis read, no
        Kite call otherwise); called after Kite rejected our token. True when renewed."""
        if self._login_version is None:
            return False
        version, state = await self._login_version()
        if not version or version == self._held_version or state != "active":
            return False
        async with self._login_lock:
            if version != self._held_version:
                await self.renew_session()
        return not self._auth_failed

    async def check_session(self) -> None:
        """BrokerLoginNeeded while Kite has refused our token and no newer login has appeared:
        every call fails so without reaching Kite, and the engine asks before an order takes a
        rate slot or is written."""
        if self._auth_failed and not await self.take_new_login():
            raise BrokerLoginNeeded("the Kite session has expired or was logged out; renew it "
                                    "(daily login) before trading")

    # --- orders ----------------------------------------------------------------------------
    def order_room(self, within_s: float) -> Awaitable[None] | None:
        return None if self.limiter is None else self.limiter.room("order", within_s)

    async def place_order(self, req: BrokerOrderRequest) -> str:
        params: dict[str, Any] = dict(
            exchange=req.exchange, tradingsymbol=req.tradingsymbol,
            transaction_type=req.side, quantity=req.quantity, product=req.product,
            order_type=req.order_type, validity=req.validity, tag=req.tag or None)
        if req.order_type in ("LIMIT", "SL"):
            params["price"] = req.price_paise / 100
        if req.order_type in ("SL", "SL-M"):
            params["trigger_price"] = req.trigger_price_paise / 100
        if req.market_protection:
            params["market_protection"] = req.market_protection
        if req.validity == "TTL":
            params["validity_ttl"] = req.validity_ttl
        if req.disclosed_quantity:
            params["disclosed_quantity"] = req.disclosed_quantity
        if req.algo_id:
            params["algo_id"] = req.algo_id
        return await self._guard(self.client.place_order(req.variety, **params), "order")

    async def modify_order(self, broker_order_id: str, *, quantity: int | None = None,
                           price_paise: int | None = None, trigger_price_paise: int | None = None,
                           order_type: str | None = None,
                           market_protection: float | None = None) -> None:
        await self._guard(self.client.modify_order(
            "regular", broker_order_id, quantity=quantity,
            price=None if price_paise is None else price_paise / 100,
            trigger_price=None if trigger_price_paise is None else trigger_price_paise / 100,
            order_type=order_type, market_protection=market_protection), "order")

    async def cancel_order(self, broker_order_id: str) -> None:
        await self._guard(self.client.cancel_order("regular", broker_order_id), "order")

    async def orders(self) -> list[BrokerOrder]:
        return [order_from_kite(o) for o in await self._read("orders")]

    async def order_history(self, broker_order_id: str) -> list[BrokerOrder]:
        rows = await self._read("order_history", broker_order_id)
        return [order_from_kite(o) for o in rows]

    async def order_trades(self, broker_order_id: str) -> list[BrokerTrade]:
        rows = await self._read("order_trades", broker_order_id)
        return [trade_from_kite(t) for t in rows]

    async def trades(self) -> list[BrokerTrade]:
        return [trade_from_kite(t) for t in await self._read("trades")]

    async def positions(self) -> list[BrokerPosition]:
        data = await self._read("positions")
        return [BrokerPosition(p["exchange"], p["tradingsymbol"], p["product"],
                               int(p.get("quantity") or 0), _p(p.get("average_price")),
                               _p(p.get("last_price")), _p(p.get("pnl")))
                for p in data.get("net") or []]

    async def holdings(self) -> list[dict[str, Any]]:
        return await self._read("holdings")

    async def margins(self) -> dict[str, Any]:
        return await self._read("margins")

    async def quotes(self, keys: list[str]) -> dict[str, Quote]:
        if self.market is not None:
            return await self.market.quotes(keys)
        return await self.rest_quotes(keys)

    async def rest_quotes(self, keys: list[str]) -> dict[str, Quote]:
        """Kite's quote API (one call a second per API key: the limiter's "quote" slot)."""
        if not keys:
            return {}
        raw = await retry_kite_429(lambda: self._guard(self.client.quote(keys), "quote"),
                                   pause_s=0.0 if self.limiter else 1.0)
        return {k: quote_from_kite(v) for k, v in raw.items()}

    async def instruments(self, exchange: str) -> list[dict[str, Any]]:
        rows = await self._guard(self.client.instruments(exchange))
        for r in rows:
            if isinstance(r.get("expiry"), date):
                r["expiry"] = r["expiry"].isoformat()
        return rows

    async def order_updates(self) -> AsyncIterator[BrokerOrder]:
        """Order postbacks relayed by marketdata when `postbacks` is set, else from Kite's
        WebSocket when `ws_root` is set (reconnecting with full-jitter backoff), else polled
        snapshots. Polling by the worker stays on either way and heals whatever a dropped
        socket or a lost pub/sub message missed."""
        if self.postbacks is not None:
            async for data in self.postbacks():
                o = self._postback_order(data)
                if o is not None:
                    yield o
            return
        if not self.ws_root:
            async for o in self._poll_updates():
                yield o
            return
        attempt = 0
        while True:
            if self._auth_failed:
                raise BrokerLoginNeeded("the Kite session has expired; no order stream")
            try:
                async for o in self._socket_updates():
                    attempt = 0
                    yield o
            except AuthError:
                self._auth_failed = True
                raise
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                log.info("kite order socket dropped: %s", type(exc).__name__)
            await asyncio.sleep(backoff_delay(attempt, 0.5, 30.0))
            attempt += 1

    async def _socket_updates(self) -> AsyncIterator[BrokerOrder]:
        token = self.client.access_token
        url = f"{self.ws_root}?api_key={self.client.api_key}&access_token={token}"
        async with aiohttp.ClientSession() as http:
            try:
                ws = await http.ws_connect(url, headers={"X-Kite-Version": "3"}, heartbeat=None,
                                           timeout=aiohttp.ClientWSTimeout(ws_close=5))
            except aiohttp.WSServerHandshakeError as exc:
                if exc.status == 403:
                    raise BrokerLoginNeeded("kite rejected the WebSocket credentials") from None
                raise
            async with ws:
                async for msg in ws:
                    if msg.type != aiohttp.WSMsgType.TEXT:
                        continue  # binary ticks and heartbeats are the marketdata service's
                    try:
                        frame = json.loads(msg.data)
                    except ValueError:
                        continue
                    if frame.get("type") != "order" or not isinstance(frame.get("data"), dict):
                        continue
                    o = self._postback_order(frame["data"])
                    if o is not None:
                        yield o

    def _postback_order(self, data: dict[str, Any]) -> BrokerOrder | None:
        """The order of a postback, or None when its checksum is not ours (another app's
        postback, or forged) or it is malformed."""
        if self._api_secret and data.get("checksum") != postback_checksum(
                str(data.get("order_id")), str(data.get("order_timestamp")), self._api_secret):
            log.warning("dropping an order postback with a bad checksum")
            metrics.POSTBACKS.labels("bad_checksum").inc()
            return None
        try:
            o = order_from_kite(data)
        except (KeyError, TypeError, ValueError):
            log.warning("dropping a malformed order postback")
            metrics.POSTBACKS.labels("malformed").inc()
            return None
        metrics.POSTBACKS.labels("applied").inc()
        return o

    async def _poll_updates(self) -> AsyncIterator[BrokerOrder]:
        seen: dict[str, tuple[str, int]] = {}
        while True:
            for o in await self.orders():
                key = (o.status, o.filled_quantity)
                if seen.get(o.broker_order_id) != key:
                    seen[o.broker_order_id] = key
                    yield o
            await asyncio.sleep(self.poll_interval_s)

    # --- GTT -------------------------------------------------------------------------------
    @staticmethod
    def _gtt_params(exchange: str, tradingsymbol: str, product: str, last_price_paise: int,
                    legs: list[GttLegSpec]) -> dict[str, Any]:
        return dict(
            trigger_type=gtt_type(legs), tradingsymbol=tradingsymbol, exchange=exchange,
            trigger_values=[leg.trigger_price_paise / 100 for leg in legs],
            last_price=last_price_paise / 100,
            orders=[{"exchange": exchange, "tradingsymbol": tradingsymbol,
                     "transaction_type": leg.side, "quantity": leg.quantity,
                     "order_type": "LIMIT", "product": product, "price": leg.price_paise / 100}
                    for leg in legs])

    async def create_gtt(self, *, exchange: str, tradingsymbol: str, product: str,
                         last_price_paise: int, legs: list[GttLegSpec]) -> str:
        out = await self._guard(self.client.place_gtt(**self._gtt_params(
            exchange, tradingsymbol, product, last_price_paise, legs)))
        return str(out["trigger_id"])

    async def modify_gtt(self, broker_gtt_id: str, *, exchange: str, tradingsymbol: str,
                         product: str, last_price_paise: int, legs: list[GttLegSpec]) -> None:
        await self._guard(self.client.modify_gtt(int(broker_gtt_id), **self._gtt_params(
            exchange, tradingsymbol, product, last_price_paise, legs)))

    async def delete_gtt(self, broker_gtt_id: str) -> None:
        await self._guard(self.client.delete_gtt(int(broker_gtt_id)))

    async def gtts(self) -> list[BrokerGtt]:
        return [gtt_from_kite(g) for g in await self._read("get_gtts")]

    async def close(self) -> None:
        await self.client.close()
