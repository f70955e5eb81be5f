"""Kite's mutual-fund routes (`/mf/orders`, `/mf/sips`, `/mf/holdings`, `/mf/instruments`) over
`mf.MFBook`; cash moves through the simulator's one account (`Portfolio.cash`)."""

from __future__ import annotations

from aiohttp import web

from mandi.core.clock import IST
from services.kitesim.envelope import success


def _sim(request: web.Request, auth: bool = True):
    from services.kitesim.app import SIM

    sim = request.app[SIM]
    if auth:
        sim.sessions.check(request.headers.get("Authorization"))
    sim.portfolio.cash += sim.mf.advance(sim.clock.now())
    return sim


async def orders(request: web.Request) -> web.Response:
    sim = _sim(request)
    now = sim.clock.now()
    return success([o.as_json(now) for o in sim.mf.orders.values()])


async def order_info(request: web.Request) -> web.Response:
    sim = _sim(request)
    return success(sim.mf.get(request.match_info["order_id"]).as_json(sim.clock.now()))


async def place_order(request: web.Request) -> web.Response:
    sim = _sim(request)
    sim.advance()
    order, taken = sim.mf.place(dict(await request.post()), sim.clock.now(),
                                sim.portfolio.available(sim.oms.blocked_margin()))
    sim.portfolio.cash -= taken
    return success({"order_id": order.order_id})


async def cancel_order(request: web.Request) -> web.Response:
    sim = _sim(request)
    order_id = request.match_info["order_id"]
    sim.portfolio.cash += sim.mf.cancel(order_id)
    return success({"order_id": order_id})


async def sips(request: web.Request) -> web.Response:
    sim = _sim(request)
    now = sim.clock.now()
    return success([s.as_json(now) for s in sim.mf.sips.values() if s.status != "CANCELLED"])


async def sip_info(request: web.Request) -> web.Response:
    sim = _sim(request)
    return success(sim.mf.get_sip(request.match_info["sip_id"]).as_json(sim.clock.now()))


async def place_sip(request: web.Request) -> web.Response:
    sim = _sim(request)
    sip = sim.mf.place_sip(dict(await request.post()), sim.clock.now())
    return success({"sip_id": sip.sip_id})


async def modify_sip(request: web.Request) -> web.Response:
    sim = _sim(request)
    sip = sim.mf.modify_sip(request.match_info["sip_id"], dict(await request.post()))
    return success({"sip_id": sip.sip_id})


async def cancel_sip(request: web.Request) -> web.Response:
    sim = _sim(request)
    return success({"sip_id": sim.mf.cancel_sip(request.match_info["sip_id"])})


async def holdings(request: web.Request) -> web.Response:
    sim = _sim(request)
    return success(sim.mf.holdings(sim.clock.now()))


async def instruments(request: web.Request) -> web.Response:
    sim = _sim(request)
    return web.Response(text=sim.mf.csv(sim.clock.now().astimezone(IST).date()),
                        content_type="text/csv")


def register(router: web.UrlDispatcher) -> None:
    router.add_get("/mf/orders", orders)
    router.add_post("/mf/orders", place_order)
    router.add_get("/mf/orders/{order_id}", order_info)
    router.add_delete("/mf/orders/{order_id}", cancel_order)
    router.add_get("/mf/sips", sips)
    router.add_post("/mf/sips", place_sip)
    router.add_get("/mf/sips/{sip_id}", sip_info)
    router.add_put("/mf/sips/{sip_id}", modify_sip)
    router.add_delete("/mf/sips/{sip_id}", cancel_sip)
    router.add_get("/mf/holdings", holdings)
    router.add_get("/mf/instruments", instruments)
