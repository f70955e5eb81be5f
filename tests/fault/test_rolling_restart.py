"""Rolling restart under load (reliability plan: "rolling restart of every service under load
with no lost intent"): the platform as `make run` starts it, a client placing orders through
REST on the simulator's Kite account and the paper account, each intent retried with its own
client_order_id until the gateway answers it; meanwhile every service is stopped in turn
(SIGTERM) and brought back by the supervisor. Every intent ends as exactly one order in the
ledger and, for the Kite account, exactly one broker order at kitesim; none is left working."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from collections import Counter

import asyncpg
import httpx
import pytest

from mandi.testing.kitesim import KitesimServer
from mandi.testing.pg import fresh_database
from mandi.testing.platform_load import live_env, platform_processes, trader_auth
from scripts.smoke import run_smoke, wait_all_serving

pytestmark = [pytest.mark.e2e, pytest.mark.heavy]

INTENTS = 60 * int(os.environ.get("MANDI_CHAOS_REPEAT", "1"))
RATE = 4.0  # intents a second: under Kite's 10 orders/s for the Kite account
ORDER = "gateway", "strategy", "execution", "marketdata", "history"
TERMINAL = {"COMPLETE", "REJECTED", "CANCELLED"}


def _place(http: httpx.Client, auth: dict[str, str], i: int, tally: Counter) -> None:
    account = "SIM001" if i % 2 == 0 else "PAPER1"
    body = {"account_id": account, "exchange": "NSE", "symbol": "SBIN",
            "side": "BUY" if (i // 2) % 2 == 0 else "SELL", "quantity": 1,
            "order_type": "MARKET", "product": "MIS", "client_order_id": f"rr{i:04d}",
            "allow_duplicate": True}
    deadline = time.monotonic() + 90
    while True:
        try:
            r = http.post("/api/v1/orders", headers=auth, json=body)
            if r.status_code in (200, 201):
                tally["placed"] += 1
                tally["duplicate answers"] += bool(r.json().get("duplicate"))
                return
            if r.status_code < 500 and r.status_code not in (401, 409, 429):
                tally[f"refused {r.status_code}: {r.text[:120]}"] += 1
                return
            tally[f"retried after {r.status_code}"] += 1
        except httpx.TransportError as exc:
            tally[f"retried after {type(exc).__name__}"] += 1
        assert time.monotonic() < deadline, f"intent {i} never answered: {tally}"
        time.sleep(0.2)


def _restart(env: dict[str, str], name: str) -> float:
    """SIGTERM the service; the supervisor starts it again. Returns seconds until SERVING."""
    old = platform_processes(env)[name]
    t0 = time.monotonic()
    os.kill(old, signal.SIGTERM)
    while True:
        assert time.monotonic() - t0 < 60, f"{name} did not come back"
        new = platform_processes(env).get(name)
        if new is not None and new != old:
            break
        time.sleep(0.1)
    asyncio.run(wait_all_serving(60, env))
    if name == "gateway":
        url = f"http://127.0.0.1:{env['MANDI_GATEWAY_PORT']}/healthz"
        while True:
            try:
                if httpx.get(url, timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)
    return time.monotonic() - t0


async def _ledger(dsn: str) -> dict[str, list[str]]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT client_order_id, status FROM execution.orders"
            " WHERE client_order_id LIKE 'rr%' AND parent_order_id IS NULL")
    finally:
        await conn.close()
    out: dict[str, list[str]] = {}
    for r in rows:
        out.setdefault(r["client_order_id"], []).append(r["status"])
    return out


async def test_rolling_restart_of_every_service_under_load_loses_and_doubles_nothing() -> None:
    env = live_env("2026-03-04", 1)
    gateway = f"http://127.0.0.1:{env['MANDI_GATEWAY_PORT']}"
    figures: dict[str, object] = {}

    def while_up() -> None:
        auth = trader_auth(gateway, env["MANDI_ADMIN_PASSWORD"], ["SIM001", "PAPER1"])
        tally: Counter = Counter()

        def client() -> None:
            with httpx.Client(base_url=gateway, timeout=15) as http:
                start = time.monotonic()
                for i in range(INTENTS):
                    time.sleep(max(0.0, start + i / RATE - time.monotonic()))
                    _place(http, auth, i, tally)

        worker = threading.Thread(target=client, daemon=True)
        worker.start()
        time.sleep(2)
        took = {name: _restart(env, name) for name in ORDER}
        worker.join(INTENTS / RATE + 60)  # the paced run, plus retries through the restarts
        assert not worker.is_alive(), tally
        # every intent answered; now each must settle as one order, here and at the broker
        deadline = time.monotonic() + 60
        while True:
            ledger = asyncio.run(_ledger(env["MANDI_PG_DSN"]))
            working = [k for k, v in ledger.items() if not set(v) <= TERMINAL]
            if not working or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        sim = KitesimServer.at(env["MANDI_KITE_ROOT"])
        at_broker = Counter(o["tag"] for o in sim.kite().orders() if o["tag"])
        figures.update(tally=tally, took=took, ledger=ledger, working=working,
                       at_broker=at_broker)

    async with fresh_database() as dsn:
        env["MANDI_PG_DSN"] = dsn
        await asyncio.to_thread(run_smoke, 90.0, None, env, while_up)

    tally, ledger, at_broker = figures["tally"], figures["ledger"], figures["at_broker"]
    intents = {f"rr{i:04d}" for i in range(INTENTS)}
    kite_intents = {f"rr{i:04d}" for i in range(0, INTENTS, 2)}
    retries = sum(v for k, v in tally.items() if k.startswith("retried"))
    print(f"[fault] rolling restart: intents={INTENTS} restarts={len(ORDER)} retries={retries} "
          f"placed={tally['placed']} ledger={len(ledger)} "
          f"dups={sum(len(v) - 1 for v in ledger.values())} "
          f"broker_dups={sum(n - 1 for n in at_broker.values() if n > 1)} "
          f"working={len(figures['working'])} restart_s="
          + ",".join(f"{k}:{v:.1f}" for k, v in figures["took"].items()))
    assert tally["placed"] == INTENTS, tally
    assert set(ledger) == intents and all(len(v) == 1 for v in ledger.values())
    assert figures["working"] == []
    assert {t: n for t, n in at_broker.items() if t in kite_intents} == dict.fromkeys(
        kite_intents, 1)
