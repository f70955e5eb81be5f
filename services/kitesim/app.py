"""Wiring: the aiohttp application serving Kite's REST routes at `/`, the ticker at `/ws` and
the simulator's own admin routes under `/sim/` (see README.md)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime

from aiohttp import web

from services.kitesim import (
    routes_admin,
    routes_kite,
    routes_margins,
    routes_mf,
    routes_portfolio,
    routes_session,
)
from services.kitesim.clock import SimClock
from services.kitesim.dayroll import DayRoll
from services.kitesim.defaults import DEFAULT_API_KEY, DEFAULT_API_SECRET, DEFAULT_REDIRECT
from services.kitesim.envelope import GeneralException, KiteError, NetworkException, error
from services.kitesim.faults import Faults
from services.kitesim.gtt import GTTBook
from services.kitesim.market import Market
from services.kitesim.mf import MFBook
from services.kitesim.oms import OMS
from services.kitesim.portfolio import Portfolio
from services.kitesim.ratelimit import RateLimiter, endpoint_class
from services.kitesim.session import Sessions
from services.kitesim.ticker import TickerHub

log = logging.getLogger("kitesim")
MATCH_SECONDS = 0.05


@dataclass(frozen=True)
class SimConfig:
    seed: int = 1
    api_key: str = DEFAULT_API_KEY
    api_secret: str = DEFAULT_API_SECRET
    start: datetime | None = None
    speed: float = 1.0
    redirect_url: str = DEFAULT_REDIRECT
    rate_limits: bool = True
    strikes_each_side: int | None = None
    weekly_expiries: int | None = None


class Simulator:
    """Every stateful part of one simulated broker, shared by the route handlers."""

    def __init__(self, cfg: SimConfig) -> None:
        self.cfg = cfg
        self.clock = SimClock(cfg.start, cfg.speed)
        self.market = Market(cfg.seed, self.clock.now_ist().date(), cfg.strikes_each_side,
                             cfg.weekly_expiries)
        self.universe = self.market.universe
        self.sessions = Sessions(cfg.api_key, cfg.api_secret, self.clock)
        self.faults = Faults(seed=cfg.seed)
        self.limiter = RateLimiter(enabled=cfg.rate_limits)
        self.portfolio = Portfolio(
            self.universe.get, lambda i: self.market.ltp(i, self.clock.epoch()),
            lambda i: self.market.model.prev_close(
                i, self.market.locate(self.clock.epoch()).day))
        self.oms = OMS(self.market, self.clock, self.portfolio, cfg.api_secret, self.faults)
        self.gtt = GTTBook(self.oms)
        self.mf = MFBook()
        self.dayroll = DayRoll(self.clock, self.oms, self.portfolio)
        self.ticker = TickerHub(self.market, self.clock, self.sessions, self.faults)
        self.oms.listeners.append(self.ticker.postback)
        self._task: asyncio.Task | None = None

    def advance(self) -> None:
        """Bring orders and GTTs up to the clock (also run before every trading read)."""
        # cut-offs, expiries and day rolls passed since the last call, each after matching up
        # to it (a clock moved from 15:10 to 15:21 must not match MIS orders after 15:20)
        self.dayroll.advance()
        self.gtt.advance()
        self.oms.advance()
        self.dayroll.advance()  # one the clock reached while matching

    async def _run(self) -> None:
        while True:
            try:
                self.advance()
            except Exception:
                log.exception("matcher failed")
            await asyncio.sleep(MATCH_SECONDS)

    async def start(self, _app: web.Application | None = None) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())
        self.ticker.start()

    async def stop(self, _app: web.Application | None = None) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self.ticker.stop()


SIM = web.AppKey("sim", Simulator)


@web.middleware
async def kite_middleware(request: web.Request, handler):
    sim: Simulator = request.app[SIM]
    path = request.path
    cls = endpoint_class(request.method, path)
    try:
        if cls is not None:
            if sim.faults.latency_ms:
                await asyncio.sleep(sim.faults.latency_ms / 1000)
            status = sim.faults.pick_error()
            if status is not None:
                kind = NetworkException if status in (502, 503) else GeneralException
                raise kind("Simulated upstream failure", http_status=status)
            key = _api_key(request)
            if not sim.limiter.allow(key, cls):
                raise NetworkException("Too many requests", http_status=429)
        response = await handler(request)
        if cls == "orders" and request.method == "POST" and response.status == 200 \
                and sim.faults.lose_reply():
            # the order is in the book; its answer never arrives (the client sees the
            # connection close, as when a proxy or the network drops the reply)
            if request.transport is not None:
                request.transport.close()
        return response
    except KiteError as exc:
        return error(exc)
    except (web.HTTPNotFound, web.HTTPMethodNotAllowed) as exc:
        # Kite answers an unknown route with its JSON envelope, never a text/plain page
        return error(GeneralException("Route not found", http_status=exc.status))
    except web.HTTPException:
        raise
    except Exception:
        log.exception("unhandled error on %s %s", request.method, path)
        return error(GeneralException("Internal simulator error"))


def _api_key(request: web.Request) -> str:
    auth = request.headers.get("Authorization", "")
    if auth.startswith("token ") and ":" in auth:
        return auth[6:].split(":", 1)[0]
    return request.remote or "anonymous"


def create_app(cfg: SimConfig | None = None) -> web.Application:
    sim = Simulator(cfg or SimConfig())
    app = web.Application(middlewares=[kite_middleware], client_max_size=4 << 20)
    app[SIM] = sim
    routes_kite.register(app.router)
    routes_margins.register(app.router)
    routes_portfolio.register(app.router)
    routes_mf.register(app.router)
    routes_session.register(app.router)
    routes_admin.register(app.router)
    app.router.add_get("/ws", sim.ticker.handle)
    app.on_startup.append(sim.start)
    app.on_cleanup.append(sim.stop)
    return app
