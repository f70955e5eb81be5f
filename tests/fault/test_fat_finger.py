"""Scenario 8: 1,000 fat-finger orders through the whole path — REST (gateway) → gRPC →
engine → KiteBroker → kitesim — every one refused before the broker, with a reason naming the
field or the rule: quantities not a lot multiple, prices off the tick, prices outside the
collar, freeze-sized and absurd quantities and values, NaN / infinite / non-numeric amounts,
negative and zero values. kitesim's order book must stay empty."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import math
import random
import re
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from mandi.platform.config import load_settings
from mandi.testing.gateway_auth import trust
from mandi.testing.kitesim import DEFAULT_START, KitesimServer
from services.gateway.app import create_app
from services.gateway.clients import open_backends
from tests.integration.execution.kit import served_execution
from tests.integration.execution.kitesim_kit import kite_rig

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]
N = 1000
CONCURRENT = 8


@asynccontextmanager
async def rest_over(engine: Any) -> AsyncIterator[httpx.AsyncClient]:
    """The engine served on a gRPC port with the gateway app on top (ASGI, trusted admin)."""
    async with served_execution(SimpleNamespace(engine=engine)) as port:
        settings = dataclasses.replace(load_settings({}), execution_addr=f"127.0.0.1:{port}",
                                       shutdown_grace_s=0.5)
        app = create_app(settings)
        app.state.backends = open_backends(settings)
        trust(app)
        http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")
        try:
            yield http
        finally:
            await http.aclose()
            await app.state.backends.close()


def kinds(sbin: float, nifty: float, nifty_fut: str, lot: int) -> list[tuple[str, Callable]]:
    """(kind, body maker) — each maker takes a random.Random and returns an order body."""
    eq = {"exchange": "NSE", "symbol": "SBIN", "side": "BUY", "order_type": "LIMIT",
          "product": "MIS", "quantity": 1, "price": round(sbin, 1)}
    fut = {"exchange": "NFO", "symbol": nifty_fut, "side": "BUY", "order_type": "LIMIT",
           "product": "NRML", "quantity": lot, "price": round(nifty, 1)}
    return [
        ("lot", lambda r: {**fut, "quantity": lot * r.randint(1, 20) + r.randint(1, lot - 1)}),
        ("tick", lambda r: {**eq, "price": round(sbin, 1) + r.choice([0.01, 0.02, 0.03, 0.04,
                                                                      0.06, 0.07])}),
        ("collar", lambda r: {**eq, "price": round(sbin * r.choice([1.2, 1.5, 0.7, 3.0]), 1)}),
        ("freeze", lambda r: {**fut, "quantity": lot * r.randint(2_000, 50_000)}),
        ("absurd_qty", lambda r: {**eq, "quantity": r.choice([10**6, 10**9, 2**31 - 1])}),
        ("absurd_value", lambda r: {**eq, "quantity": r.randint(20_000, 90_000)}),
        ("absurd_price", lambda r: {**eq, "price": r.choice([1e9, 1e12, 99999999.95])}),
        ("nan", lambda r: {**eq, r.choice(["price", "trigger_price", "stop_loss"]):
                           r.choice([math.nan, math.inf, -math.inf])}),
        ("not_a_number", lambda r: {**eq, r.choice(["price", "quantity"]):
                                    r.choice(["abc", "", "1,000", None, [], {}])}),
        ("negative_zero", lambda r: {**eq, **r.choice([{"quantity": 0}, {"quantity": -5},
                                                       {"price": -812.0}, {"price": 0}])}),
    ]


FIELDS = ("trigger_price", "stop_loss", "quantity", "price")


def reason(resp: httpx.Response) -> str:
    """The field or rule the refusal names: the error envelope's message starts with it
    (`price_collar: price 974.40 is more than 5% …`) or names the field (`quantity 103 is not
    a multiple of the lot size …`, `a LIMIT order needs a price > 0`); "" when it names none."""
    msg = resp.json()["error"]
    head = msg.split(":", 1)[0]
    if ":" in msg and re.fullmatch(r"[a-z_]+", head):
        return head
    return next((f for f in FIELDS if re.search(rf"\b{f}\b", msg)), "")


async def test_fat_finger_when_1000_orders_all_refused_before_broker(
        ledger_dsn: str, sim: KitesimServer) -> None:
    async with kite_rig(ledger_dsn, sim, DEFAULT_START) as rig, rest_over(rig.engine) as http:
        kite = sim.kite()
        ltp = kite.quote(["NSE:SBIN"])["NSE:SBIN"]["last_price"]
        futs = [i for i in kite.instruments("NFO") if i["name"] == "NIFTY"
                and i["instrument_type"] == "FUT"]
        fut = min(futs, key=lambda i: i["expiry"])
        fltp = kite.quote([f"NFO:{fut['tradingsymbol']}"])[f"NFO:{fut['tradingsymbol']}"]
        makers = kinds(ltp, fltp["last_price"], fut["tradingsymbol"], int(fut["lot_size"]))
        rng = random.Random(8)
        by_kind: Counter[str] = Counter()
        by_reason: Counter[str] = Counter()
        statuses: Counter[int] = Counter()
        started = time.monotonic()
        bodies = []
        for i in range(N):
            kind, make = makers[i % len(makers)]
            bodies.append((kind, {"account_id": rig.account_id, "client_order_id": f"ff{i}",
                                  "allow_duplicate": True, **make(rng)}))

        async def send(kind: str, body: dict[str, Any]) -> None:
            r = await http.post("/api/v1/orders", content=json.dumps(body),
                                headers={"Content-Type": "application/json"})
            statuses[r.status_code] += 1
            assert 400 <= r.status_code < 500, (kind, body, r.status_code, r.text)
            why = reason(r)
            assert why, (kind, body, r.text)
            by_kind[kind] += 1
            by_reason[why] += 1

        for k in range(0, N, CONCURRENT):  # a few in flight at once, as a busy client sends
            await asyncio.gather(*(send(*b) for b in bodies[k:k + CONCURRENT]))
        elapsed = time.monotonic() - started
        assert sim.kite().orders() == []  # nothing reached the broker
        rows = await rig.engine.pool.fetchval(
            "SELECT count(*) FROM orders WHERE account_id = $1", rig.account_id)
        assert rows == 0
        print(f"\n[fault] fat finger: orders={N} refused={sum(statuses.values())} "
              f"reached_broker=0 statuses={dict(statuses)} s={elapsed:.1f} "
              f"by_reason={dict(by_reason)}")

