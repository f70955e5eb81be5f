"""Simulator-only routes under `/sim/` (not Kite): clock, faults, rate limits, socket drops,
price overrides, ticker settings and the tokens issued, for tests and demos. Documented in
README.md."""

from __future__ import annotations

from datetime import datetime

from aiohttp import web

from mandi.core.clock import IST
from services.kitesim.envelope import InputException, success
from services.kitesim.ratelimit import parse_limits


def _sim(request: web.Request):
    from services.kitesim.app import SIM

    return request.app[SIM]


async def _body(request: web.Request) -> dict:
    if not request.can_read_body:
        return {}
    try:
        data = await request.json()
    except ValueError:
        raise InputException("Body must be JSON.") from None
    if not isinstance(data, dict):
        raise InputException("Body must be a JSON object.")
    return data


def _clock_json(sim) -> dict:
    return {"now": sim.clock.now_ist().isoformat(), "speed": sim.clock.speed}


async def get_clock(request: web.Request) -> web.Response:
    return success(_clock_json(_sim(request)))


async def set_clock(request: web.Request) -> web.Response:
    sim = _sim(request)
    body = await _body(request)
    start = None
    if body.get("now"):
        try:
            start = datetime.fromisoformat(body["now"])
        except ValueError:
            raise InputException("`now` must be ISO 8601.") from None
        if start.tzinfo is None:
            start = start.replace(tzinfo=IST)
    try:
        sim.clock.set(start, body.get("speed"))
    except ValueError as exc:
        raise InputException(str(exc)) from None
    return success(_clock_json(sim))


async def faults(request: web.Request) -> web.Response:
    sim = _sim(request)
    if request.method == "POST":
        body = await _body(request)
        if body.get("enabled") is False:
            sim.faults.configure(0, 0, 0, 0, 0, 0)
            sim.faults.clear_ws()
        else:
            try:
                sim.faults.configure(body.get("latency_ms"), body.get("error_rate"),
                                     body.get("ws_drop_rate"), body.get("lose_order_replies"),
                                     body.get("fill_limit_pct"), body.get("fail_next"))
            except (TypeError, ValueError):
                raise InputException("fault settings must be numbers.") from None
    return success(sim.faults.as_dict())


async def ratelimit(request: web.Request) -> web.Response:
    """POST {"enabled": bool, "limits": {class: [[count, seconds], ...]}} switches the limits
    (classes not named get Kite's figures) and clears the record; GET returns the record:
    limits, refusals per class and the admitted order-request instants per API key."""
    sim = _sim(request)
    if request.method == "POST":
        body = await _body(request)
        try:
            limits = parse_limits(body.get("limits") or {})
        except ValueError as exc:
            raise InputException(str(exc)) from None
        sim.limiter.enabled = bool(body.get("enabled", True))
        sim.limiter.reset(limits)
    return success(sim.limiter.record())


async def ws_drop(request: web.Request) -> web.Response:
    return success({"dropped": await _sim(request).ticker.drop_all()})


async def ws_fault(request: web.Request) -> web.Response:
    """Ticker feed faults; any of {"down_for_s": N} (close all sockets, refuse upgrades with 503
    for N simulated seconds; 0 ends an outage), {"stall": true} (open sockets go mute),
    {"expire_tokens": true} (every access token invalid, sockets closed), {"tick_delay_s": S}
    (ticks of second t go out at t + S; 0 clears)."""
    sim = _sim(request)
    body = await _body(request)
    hub = sim.ticker
    out: dict = {}
    try:
        down = body.get("down_for_s")
        delay = body.get("tick_delay_s")
        down = None if down is None else float(down)
        delay = None if delay is None else float(delay)
    except (TypeError, ValueError):
        raise InputException("`down_for_s` and `tick_delay_s` must be numbers.") from None
    if (down is not None and down < 0) or (delay is not None and delay < 0):
        raise InputException("`down_for_s` and `tick_delay_s` must be ≥ 0.")
    if delay is not None:
        sim.faults.tick_delay_s = delay
    if body.get("expire_tokens"):
        out["closed"] = await hub.expire_tokens()
    if body.get("stall"):
        out["muted"] = hub.mute_all()
    if down is not None:
        out["closed"] = out.get("closed", 0) + await hub.go_down(down)
    return success({**out, **sim.faults.ws_dict(sim.clock.epoch())})


async def price(request: web.Request) -> web.Response:
    """Shift an instrument's live price by `delta` rupees, or to `price`, from now on."""
    sim = _sim(request)
    body = await _body(request)
    if body.get("clear"):
        sim.market.clear_overrides()
        return success(True)
    inst = sim.universe.get(body.get("exchange", ""), body.get("tradingsymbol", ""))
    if inst is None:
        raise InputException("Unknown instrument.")
    epoch = sim.clock.epoch()
    sim.market.set_override(inst, epoch + 0.0, 0)
    base = sim.market.ltp(inst, epoch)
    if "price" in body:
        delta = round(float(body["price"]) * 100) - base
    else:
        delta = round(float(body.get("delta", 0)) * 100)
    delta -= delta % inst.tick
    sim.market.set_override(inst, float(int(epoch) + 1), delta)
    return success({"from": int(epoch) + 1, "delta": delta / 100})


async def ticker_settings(request: web.Request) -> web.Response:
    sim = _sim(request)
    hub = sim.ticker
    if request.method == "POST":
        body = await _body(request)
        interval = int(body.get("tick_interval", 1))
        if interval < 1:
            raise InputException("tick_interval must be ≥ 1 second.")
        if body.get("tokens"):
            for token in body["tokens"]:
                hub.tick_interval[int(token)] = interval
        else:
            hub.default_interval = interval
        for conn in hub.conns:
            conn._stack_key = None
    return success({"default_tick_interval": hub.default_interval, "stats": hub.stats,
                    "upgrades": dict(hub.upgrades),
                    "faults": sim.faults.ws_dict(sim.clock.epoch()),
                    "connections": [{"tokens": len(c.modes), "ticks_sent": c.ticks_sent,
                                     "skipped_seconds": c.skipped_seconds, "muted": c.muted}
                                    for c in hub.conns]})


async def external_order(request: web.Request) -> web.Response:
    """An order placed "from the Kite app": the same book, matching and postbacks as an API
    order, but no tag (Mandi did not place it). Body: exchange, tradingsymbol,
    transaction_type, quantity, product, and order_type/price (default MARKET). The Kite app
    sets market protection on MARKET and SL-M orders itself, so they get Kite's automatic
    protection (-1) unless the body names `market_protection`."""
    sim = _sim(request)
    body = await _body(request)
    form = {k: str(v) for k, v in body.items() if v is not None and k != "tag"}
    form.setdefault("order_type", "MARKET")
    if form["order_type"] in ("MARKET", "SL-M"):
        form.setdefault("market_protection", "-1")
    inst = sim.universe.get(form.get("exchange", ""), form.get("tradingsymbol", ""))
    sim.advance()
    order = sim.oms.place(body.get("variety", "regular"), form, inst)
    return success({"order_id": order.order_id, "status": order.status})


async def drift_fill(request: web.Request) -> web.Response:
    """Broker drift: a fill booked straight into the positions with no order in the book (what
    a back-office adjustment or a fill on an order lost from the book looks like to a client).
    Body: exchange, tradingsymbol, product, transaction_type, quantity, price (rupees)."""
    sim = _sim(request)
    body = await _body(request)
    inst = sim.universe.get(str(body.get("exchange", "")), str(body.get("tradingsymbol", "")))
    if inst is None:
        raise InputException("unknown instrument (`exchange`, `tradingsymbol`).")
    side = body.get("transaction_type")
    if side not in ("BUY", "SELL"):
        raise InputException("`transaction_type` must be BUY or SELL.")
    try:
        qty = int(body["quantity"])
        price = round(float(body["price"]) * 100)
    except (KeyError, TypeError, ValueError):
        raise InputException("`quantity` and `price` are required numbers.") from None
    if qty <= 0 or price <= 0:
        raise InputException("`quantity` and `price` must be > 0.")
    sim.advance()
    sim.portfolio.fill(inst, str(body.get("product", "MIS")), side, qty, price)
    return success(sim.portfolio.positions_json())


async def dayroll(request: web.Request) -> web.Response:
    """What the broker did across days: MIS square-offs, expiry settlements, their charges."""
    sim = _sim(request)
    sim.advance()
    return success(sim.dayroll.as_json())


async def issued_tokens(request: web.Request) -> web.Response:
    """Every request, access and public token the simulator has issued (a test greps Mandi's
    logs and answers for them)."""
    return success({"tokens": list(_sim(request).sessions.issued)})


def register(router: web.UrlDispatcher) -> None:
    router.add_get("/sim/clock", get_clock)
    router.add_post("/sim/clock", set_clock)
    router.add_route("*", "/sim/faults", faults)
    router.add_route("*", "/sim/ratelimit", ratelimit)
    router.add_post("/sim/ws/drop", ws_drop)
    router.add_post("/sim/ws/fault", ws_fault)
    router.add_post("/sim/price", price)
    router.add_route("*", "/sim/ticker", ticker_settings)
    router.add_post("/sim/orders/external", external_order)
    router.add_post("/sim/positions/drift", drift_fill)
    router.add_get("/sim/dayroll", dayroll)
    router.add_get("/sim/tokens", issued_tokens)
