"""The whole platform for the browser tests, as `make run` starts it (scripts.supervisor: kitesim
and every service as processes), on free ports and a fresh database, with a trader who holds the
paper account. kitesim starts on a trading morning so paper orders fill against live ticks.

    .venv/bin/python -m tests.e2e.web.platform   # keep one up by hand (prints URL and logins)"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from mandi.testing.pg import fresh_database
from mandi.testing.redis import redis_namespace
from scripts.smoke import wait_all_serving

SERVICES = ("marketdata", "history", "strategy", "execution", "gateway")
ADMIN_PASSWORD = "admin-pw-web-ui-1"
TRADER, TRADER_PASSWORD, ACCOUNT = "asha", "asha-pw-web-ui-1", "PAPER1"
MARKET_MORNING = "2026-03-04T09:20:00+05:30"  # a Wednesday session (3 March is Holi)


@dataclass(frozen=True)
class Platform:
    url: str
    kitesim: str
    log: Path


def distinct_ports(n: int) -> list[int]:
    """n free ports, all different (each held open until every one is chosen)."""
    held = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            held.append(s)
        return [s.getsockname()[1] for s in held]
    finally:
        for s in held:
            s.close()


def _env(tmp: Path, dsn: str, redis_url: str, prefix: str) -> dict[str, str]:
    ports = iter(distinct_ports(2 + 2 * len(SERVICES)))
    sim = next(ports)
    env = {f"MANDI_{s.upper()}_ADDR": f"127.0.0.1:{next(ports)}" for s in SERVICES}
    env |= {f"MANDI_METRICS_PORT_{s.upper()}": str(next(ports)) for s in SERVICES}
    return env | {
        "MANDI_PG_DSN": dsn, "MANDI_GATEWAY_PORT": str(next(ports)),
        # its own Redis keys: no lease, stream or limiter shared with another platform
        "MANDI_REDIS_URL": redis_url, "MANDI_REDIS_PREFIX": prefix,
        "MANDI_KITESIM_PORT": str(sim), "MANDI_KITE_ROOT": f"http://127.0.0.1:{sim}",
        "MANDI_KITE_WS_ROOT": f"ws://127.0.0.1:{sim}/ws", "MANDI_KITESIM_START": MARKET_MORNING,
        "MANDI_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "MANDI_ADMIN_PASSWORD_FILE": str(tmp / "admin-password"),
        "MANDI_JWT_SECRET": "web-ui-tests-jwt-secret-0123456789abcdef0123"}


def _seed_trader(url: str) -> None:
    with httpx.Client(base_url=url, timeout=30) as http:
        for _ in range(100):  # the first-run admin is written once the gateway's lifespan ran
            r = http.post("/api/v1/auth/login",
                          json={"username": "admin", "password": ADMIN_PASSWORD})
            if r.status_code == 200:
                break
            time.sleep(0.2)
        assert r.status_code == 200, r.text
        admin = {"Authorization": f"Bearer {r.json()['access_token']}"}
        r = http.post("/api/v1/users", headers=admin, json={
            "username": TRADER, "password": TRADER_PASSWORD, "role": "trader"})
        assert r.status_code in (200, 201), r.text
        r = http.post(f"/api/v1/accounts/{ACCOUNT}/grants", headers=admin,
                      json={"username": TRADER})
        assert r.status_code == 201, r.text


@contextmanager
def platform(tmp: Path) -> Iterator[Platform]:
    loop = asyncio.new_event_loop()
    db, redis = fresh_database(), redis_namespace()
    dsn = loop.run_until_complete(db.__aenter__())
    ns = loop.run_until_complete(redis.__aenter__())
    log_path = tmp / "platform.log"
    env = _env(tmp, dsn, ns.url, ns.prefix.rstrip(":"))
    log = open(log_path, "wb")
    proc = subprocess.Popen([sys.executable, "-m", "scripts.supervisor"], stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True,
                            env={**os.environ, **env})
    try:
        asyncio.run(wait_all_serving(60.0, env))
        url = f"http://127.0.0.1:{env['MANDI_GATEWAY_PORT']}"
        _seed_trader(url)
        yield Platform(url, env["MANDI_KITE_ROOT"], log_path)
    except BaseException:
        log.flush()
        print(log_path.read_text(errors="replace")[-6000:])
        raise
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()
        loop.run_until_complete(redis.__aexit__(None, None, None))
        loop.run_until_complete(db.__aexit__(None, None, None))
        loop.close()


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as d, platform(Path(d)) as p:
        print(f"UI {p.url}  admin/{ADMIN_PASSWORD}  {TRADER}/{TRADER_PASSWORD}  log {p.log}",
              flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
