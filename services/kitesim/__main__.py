"""`python -m services.kitesim --seed N --port 8765 [--start ISO --speed N]`"""

from __future__ import annotations

import argparse
import logging
import os
from datetime import datetime

from aiohttp import web

from mandi.core.clock import IST
from services.kitesim.app import SIM, SimConfig, create_app
from services.kitesim.defaults import DEFAULT_API_KEY, DEFAULT_API_SECRET


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m services.kitesim", description=__doc__)
    p.add_argument("--seed", type=int, default=int(os.environ.get("MANDI_KITESIM_SEED", "1")))
    p.add_argument("--host", default=os.environ.get("MANDI_KITESIM_HOST", "127.0.0.1"))
    p.add_argument("--port", type=int, default=int(os.environ.get("MANDI_KITESIM_PORT", "8765")))
    p.add_argument("--start", help="simulated start instant, ISO 8601 (naive = IST)")
    p.add_argument("--speed", type=float, default=1.0, help="simulated seconds per wall second")
    p.add_argument("--api-key", default=os.environ.get("MANDI_KITE_API_KEY"))
    p.add_argument("--api-secret", default=os.environ.get("MANDI_KITE_API_SECRET"))
    p.add_argument("--redirect-url", default=os.environ.get("MANDI_KITE_REDIRECT_URL"))
    p.add_argument("--no-rate-limits", action="store_true")
    p.add_argument("--strikes", type=int, help="option strikes each side of ATM")
    p.add_argument("--weeklies", type=int, help="weekly expiries listed")
    return p.parse_args(argv)


def config_from(args: argparse.Namespace) -> SimConfig:
    start = None
    if args.start:
        start = datetime.fromisoformat(args.start)
        if start.tzinfo is None:
            start = start.replace(tzinfo=IST)
    extra = {"redirect_url": args.redirect_url} if args.redirect_url else {}
    return SimConfig(
        seed=args.seed, api_key=args.api_key or DEFAULT_API_KEY,
        api_secret=args.api_secret or DEFAULT_API_SECRET, start=start, speed=args.speed,
        rate_limits=not args.no_rate_limits, strikes_each_side=args.strikes,
        weekly_expiries=args.weeklies, **extra,
    )


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    args = parse_args(argv)
    cfg = config_from(args)
    log = logging.getLogger("kitesim")
    if not args.api_key or not args.api_secret:
        # Only the built-in defaults are ever printed; a secret the user set never is.
        log.info("using default simulator api_key/api_secret: %s / %s",
                 DEFAULT_API_KEY if not args.api_key else "(set)",
                 DEFAULT_API_SECRET if not args.api_secret else "(set)")
    app = create_app(cfg)
    sim = app[SIM]
    log.info("kitesim seed=%d start=%s speed=%g instruments=%d on http://%s:%d (ws at /ws)",
             cfg.seed, sim.clock.now_ist().isoformat(), cfg.speed, len(sim.universe.instruments),
             args.host, args.port)
    web.run_app(app, host=args.host, port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
