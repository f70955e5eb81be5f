"""Kite Connect v3 REST routes (thin: parse, call the domain object, wrap in the envelope)."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

from aiohttp import web

from services.kitesim import quotes, varieties
from services.kitesim.envelope import InputException, success
from services.kitesim.historical import candles, parse_when
from services.kitesim.session import profile

EXCHANGES = ("NSE", "BSE", "NFO", "BFO")


def _sim(request: web.Request):
    from services.kitesim.app import SIM

    return request.app[SIM]


def _auth(request: web.Request):
    sim = _sim(request)
    sim.sessions.check(request.headers.get("Authorization"))
    return sim


async def login(request: web.Request) -> web.Response:
    sim = _sim(request)
    token = sim.sessions.issue_request_token(request.query.get("api_key", ""))
    sep = "&" if "?" in sim.cfg.redirect_url else "?"
    params = {"request_token": token, "action": "login", "status": "success"}
    # Kite appends the login URL's url-encoded `redirect_params` to the redirect as they are
    params.update(parse_qsl(request.query.get("redirect_params", "")))
    query = urlencode(params)
    raise web.HTTPFound(f"{sim.cfg.redirect_url}{sep}{query}")


async def session_token(request: web.Request) -> web.Response:
    sim = _sim(request)
    form = await request.post()
    sess = sim.sessions.exchange(form.get("api_key", ""), form.get("request_token", ""),
                                 form.get("checksum", ""))
    return success(sim.sessions.session_payload(sess))


async def session_delete(request: web.Request) -> web.Response:
    sim = _sim(request)
    q = request.query
    return success(sim.sessions.invalidate(q.get("api_key", ""), q.get("access_token", "")))


async def user_profile(request: web.Request) -> web.Response:
    _auth(request)
    return success(profile())


async def user_margins(request: web.Request) -> web.Response:
    sim = _auth(request)
    sim.advance()
    data = sim.portfolio.margins_json(sim.oms.blocked_margin())
    segment = request.match_info.get("segment")
    if segment:
        if segment not in data:
            raise InputException("Invalid segment.")
        data = data[segment]
    return success(data)


async def instruments(request: web.Request) -> web.Response:
    sim = _sim(request)
    exchange = request.match_info.get("exchange")
    if exchange is not None and exchange not in EXCHANGES:
        raise InputException("Invalid exchange.")
    return web.Response(text=sim.universe.csv(exchange), content_type="text/csv")


async def historical(request: web.Request) -> web.Response:
    sim = _auth(request)
    try:
        token = int(request.match_info["token"])
    except ValueError:
        raise InputException("invalid token") from None
    inst = sim.universe.by_token.get(token)
    if inst is None:
        raise InputException("invalid token")
    q = request.query
    rows = candles(sim.market.model, inst, request.match_info["interval"],
                   parse_when(q.get("from"), "from"), parse_when(q.get("to"), "to", True),
                   sim.clock.now(), with_oi=q.get("oi") in ("1", "true"),
                   continuous=q.get("continuous") in ("1", "true"))
    return success({"candles": rows})


def _quote_handler(kind: str):
    async def handler(request: web.Request) -> web.Response:
        sim = _auth(request)
        keys = request.query.getall("i", [])
        return success(quotes.quote(sim.market, keys, sim.clock.epoch(), kind))
    return handler


async def trigger_range(request: web.Request) -> web.Response:
    sim = _auth(request)
    side = request.match_info["transaction_type"].upper()
    if side not in ("BUY", "SELL"):
        raise InputException("Invalid `transaction_type`: buy or sell.")
    return success(quotes.trigger_ranges(sim.market, request.query.getall("i", []),
                                         sim.clock.epoch()))


async def place_order(request: web.Request) -> web.Response:
    sim = _auth(request)
    form = dict(await request.post())
    variety = request.match_info["variety"]
    inst = sim.universe.get(form.get("exchange", ""), form.get("tradingsymbol", ""))
    sim.advance()
    if str(form.pop("autoslice", "")).lower() == "true":
        return success(varieties.autoslice(sim.oms, variety, form, inst))
    order = sim.oms.place(variety, form, inst)
    return success({"order_id": order.order_id})


async def modify_order(request: web.Request) -> web.Response:
    sim = _auth(request)
    form = dict(await request.post())
    sim.advance()
    order = sim.oms.modify(request.match_info["variety"], request.match_info["order_id"], form)
    return success({"order_id": order.order_id})


async def cancel_order(request: web.Request) -> web.Response:
    sim = _auth(request)
    sim.advance()
    order = sim.oms.cancel(request.match_info["variety"], request.match_info["order_id"])
    return success({"order_id": order.order_id})


async def list_orders(request: web.Request) -> web.Response:
    sim = _auth(request)
    sim.advance()
    return success([o.snapshot() for o in sim.oms.orders.values()])


async def order_history(request: web.Request) -> web.Response:
    sim = _auth(request)
    sim.advance()
    return success(sim.oms.get(request.match_info["order_id"]).history)


async def order_trades(request: web.Request) -> web.Response:
    sim = _auth(request)
    sim.advance()
    return success(sim.oms.trades(sim.oms.get(request.match_info["order_id"])))


async def trades(request: web.Request) -> web.Response:
    sim = _auth(request)
    sim.advance()
    return success(sim.oms.trades())


async def positions(request: web.Request) -> web.Response:
    sim = _auth(request)
    sim.advance()
    return success(sim.portfolio.positions_json())


async def holdings(request: web.Request) -> web.Response:
    sim = _auth(request)
    sim.advance()
    return success(sim.portfolio.holdings_json())


async def gtt_create(request: web.Request) -> web.Response:
    sim = _auth(request)
    sim.advance()
    gtt = sim.gtt.create(dict(await request.post()))
    return success({"trigger_id": gtt.id})


async def gtt_list(request: web.Request) -> web.Response:
    sim = _auth(request)
    sim.advance()
    return success(sim.gtt.listing())


def _gtt_id(request: web.Request) -> int:
    try:
        return int(request.match_info["trigger_id"])
    except ValueError:
        raise InputException("Invalid trigger id.") from None


async def gtt_get(request: web.Request) -> web.Response:
    sim = _auth(request)
    sim.advance()
    return success(sim.gtt.get(_gtt_id(request)).as_json())


async def gtt_modify(request: web.Request) -> web.Response:
    sim = _auth(request)
    gtt = sim.gtt.modify(_gtt_id(request), dict(await request.post()))
    return success({"trigger_id": gtt.id})


async def gtt_delete(request: web.Request) -> web.Response:
    sim = _auth(request)
    return success({"trigger_id": sim.gtt.delete(_gtt_id(request))})


def register(router: web.UrlDispatcher) -> None:
    router.add_get("/connect/login", login)
    router.add_post("/session/token", session_token)
    router.add_delete("/session/token", session_delete)
    router.add_get("/user/profile", user_profile)
    router.add_get("/user/margins", user_margins)
    router.add_get("/user/margins/{segment}", user_margins)
    router.add_get("/instruments", instruments)
    router.add_get("/instruments/historical/{token}/{interval}", historical)
    router.add_get("/instruments/trigger_range/{transaction_type}", trigger_range)
    router.add_get("/instruments/{exchange}", instruments)
    router.add_get("/quote", _quote_handler("full"))
    router.add_get("/quote/ohlc", _quote_handler("ohlc"))
    router.add_get("/quote/ltp", _quote_handler("ltp"))
    router.add_post("/orders/{variety}", place_order)
    router.add_put("/orders/{variety}/{order_id}", modify_order)
    router.add_delete("/orders/{variety}/{order_id}", cancel_order)
    router.add_get("/orders", list_orders)
    router.add_get("/orders/{order_id}", order_history)
    router.add_get("/orders/{order_id}/trades", order_trades)
    router.add_get("/trades", trades)
    router.add_get("/portfolio/positions", positions)
    router.add_get("/portfolio/holdings", holdings)
    router.add_post("/gtt/triggers", gtt_create)
    router.add_get("/gtt/triggers", gtt_list)
    router.add_get("/gtt/triggers/{trigger_id}", gtt_get)
    router.add_put("/gtt/triggers/{trigger_id}", gtt_modify)
    router.add_delete("/gtt/triggers/{trigger_id}", gtt_delete)
