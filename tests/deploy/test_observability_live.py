"""Dashboards, alerts and traces against the running platform: kitesim replays a trading morning
at 60x, the five services run as processes exporting traces to a local OTLP receiver, and a real
Prometheus (Debian's package) scrapes them every second with deploy/prometheus/rules.yaml loaded.

Traffic: a history fetch, a backtest, orders on the paper and the simulator's Kite account, an
EMA bot and an external-signal bot, a market WebSocket, a refused request, a ticker
outage in kitesim. Then every PromQL target of every dashboard panel returns at least one
series; one REST order is one trace (gateway's client span → execution's server span →
the Kite call's client span); and
killing a service fires MandiServiceDown (its `for:` shortened from 1m to 2s in the copy of the
rules this test loads — the firing logic is promtool-tested in test_alert_rules.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
import websockets

from mandi.testing.chart import ROOT
from mandi.testing.gateway_auth import GatewayLogin
from mandi.testing.kitesim import KitesimServer, free_port, kitesim_process
from mandi.testing.otlp_receiver import Receiver, otlp_receiver
from mandi.testing.prometheus import Prometheus, prometheus
from mandi.testing.services import ServiceProcess, service_process
from tests.e2e.history.kit import fresh_db, own_api_key

pytestmark = pytest.mark.e2e

SERVICES = ("history", "marketdata", "execution", "strategy", "gateway")
DASHBOARDS = ROOT / "deploy" / "grafana" / "dashboards"
RULES = ROOT / "deploy" / "prometheus" / "rules.yaml"
ORDER = {"exchange": "NSE", "symbol": "SBIN", "side": "BUY", "quantity": 1,
         "order_type": "MARKET", "product": "MIS", "allow_duplicate": True}


@dataclass
class Stack:
    sim: KitesimServer
    procs: dict[str, ServiceProcess]
    gateway: str
    prom: Prometheus
    traces: Receiver
    auth: GatewayLogin


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    work = tmp_path_factory.mktemp("observability")
    rules = work / "rules.yaml"
    rules.write_text(RULES.read_text().replace("for: 1m", "for: 2s"))
    with contextlib.ExitStack() as es:
        dsn = es.enter_context(fresh_db())
        traces = es.enter_context(otlp_receiver())
        sim = es.enter_context(kitesim_process(
            "--start", "2026-03-04T09:16:00+05:30", "--speed", "60", seed=5,
            env=own_api_key()))
        env = {"MANDI_PG_DSN": dsn, "MANDI_REDIS_URL": "redis://127.0.0.1:6379/0",
               "MANDI_KITE_ROOT": sim.url, "MANDI_KITE_WS_ROOT": sim.ws_url,
               "MANDI_KITE_API_KEY": sim.api_key, "MANDI_KITE_API_SECRET": sim.api_secret,
               "MANDI_CLOCK": "sim", "MANDI_REDIS_PREFIX": f"obs-{uuid.uuid4().hex[:8]}",
               "MANDI_TRACE_EXPORTER": "otlp", "MANDI_OTLP_ENDPOINT": traces.endpoint,
               "OTEL_BSP_SCHEDULE_DELAY": "200"}
        env |= {f"MANDI_{s.upper()}_ADDR": f"127.0.0.1:{free_port()}" for s in SERVICES}
        env |= {f"MANDI_METRICS_PORT_{s.upper()}": str(free_port()) for s in SERVICES}
        env["MANDI_GATEWAY_PORT"] = str(free_port())
        procs = {s: es.enter_context(service_process(s, env, work)) for s in SERVICES}
        prom = es.enter_context(prometheus(
            {f"mandi-{s}": f"127.0.0.1:{env[f'MANDI_METRICS_PORT_{s.upper()}']}"
             for s in SERVICES}, work, rules))
        yield Stack(sim, procs, f"http://127.0.0.1:{env['MANDI_GATEWAY_PORT']}", prom, traces,
                    GatewayLogin())


def _ok(r: httpx.Response, *codes: int) -> dict:
    assert r.status_code in (codes or (200,)), (r.request.url, r.status_code, r.text[:500])
    return r.json()


async def _watch_market(url: str, seconds: float) -> int:
    got = 0
    async with websockets.connect(url) as ws:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                while True:
                    json.loads(await ws.recv())
                    got += 1
    return got


@pytest.fixture(scope="module")
def driven(stack: Stack) -> dict[str, str]:
    """The traffic; returns ids the tests look for."""
    out: dict[str, str] = {}
    with httpx.Client(base_url=stack.gateway, timeout=60, auth=stack.auth) as http:
        _ok(http.get("/api/v1/auth/me", headers={"Authorization": "Bearer nope"}), 401)
        _ok(http.post("/api/data/fetch-equity", json={
            "symbol": "INFY", "exchange": "NSE", "interval": "15minute",
            "from_date": "2026-02-02", "to_date": "2026-02-27"}))
        run = _ok(http.post("/api/v1/backtest/run", json={
            "strategy": {"type": "ema_crossover", "params": {"fast": 5, "slow": 20}},
            "symbols": ["NSE:INFY"], "interval": "15minute", "from": "2026-02-02",
            "to": "2026-02-27", "capital": 1000000, "sizing": {"type": "fixed_qty", "qty": 10},
            "costs": {"product": "MIS"}, "fill": "next_open"}), 202)
        _ok(http.get(f"/api/v1/backtest/{uuid.uuid4()}"), 404)
        ema = _ok(http.post("/api/v1/bots", json={
            "strategy": {"type": "ema_crossover", "params": {"fast": 2, "slow": 3}},
            "symbols": ["NSE:INFY"], "interval": "minute", "capital": 500000,
            "sizing": {"type": "fixed_qty", "qty": 1}, "name": "obs ema",
            "account_id": "PAPER1", "mode": "paper", "product": "MIS"}), 201)
        _ok(http.post(f"/api/v1/bots/{ema['id']}/start"))
        ext = _ok(http.post("/api/v1/bots", json={
            "strategy": {"type": "external"}, "symbols": ["NSE:SBIN"], "capital": 500000,
            "name": "obs ext", "account_id": "PAPER1", "mode": "paper", "product": "MIS"}), 201)
        _ok(http.post(f"/api/v1/bots/{ext['id']}/start"))
        for account in ("PAPER1", "SIM001"):
            placed = _ok(http.post("/api/v1/orders", json={**ORDER, "account_id": account}), 201)
            out[f"order_{account}"] = json.dumps(placed)
        _ok(http.post("/api/v1/orders", json={**ORDER, "account_id": "PAPER1",
                                              "quantity": 10**9}), 400, 403, 409, 422)
        _ok(http.post(f"/api/v1/bots/{ext['id']}/signals", headers={
            "X-Bot-Key": ext["signal_key"]}, json={
            "id": "obs-1", "symbol": "NSE:SBIN", "side": "BUY", "quantity": 1,
            "ts": httpx.get(f"{stack.sim.url}/sim/clock").json()["data"]["now"]}))
        ws_url = stack.gateway.replace("http://", "ws://") + \
            f"/ws/market/NSE:INFY?token={stack.auth.token}"
        asyncio.run(_watch_market(ws_url, 3.0))
        # a ticker outage of 10 wall seconds: sockets closed (reconnects), and after execution's
        # 3 s freshness a MARKET order is priced by Kite's REST quote (a "stale" fallback)
        httpx.post(f"{stack.sim.url}/sim/ws/fault", json={"down_for_s": 600},
                   timeout=10).raise_for_status()
        time.sleep(4)
        _ok(http.post("/api/v1/orders", json={**ORDER, "account_id": "PAPER1"}), 201)
        deadline = time.monotonic() + 60
        while _ok(http.get(f"/api/v1/backtest/{run['id']}"))["status"] in ("queued", "running"):
            assert time.monotonic() < deadline
            time.sleep(0.3)
    return out


def _targets() -> list[tuple[str, str]]:
    out = []
    for path in sorted(DASHBOARDS.glob("*.json")):
        for panel in json.loads(path.read_text())["panels"]:
            for t in panel["targets"]:
                expr = t["expr"].replace("$__rate_interval", "1m")
                out.append((f"{path.stem} / {panel['title']} / {t['legendFormat']}", expr))
    return out


def test_every_dashboard_panel_returns_series(stack: Stack, driven: dict[str, str]):
    targets = _targets()
    assert len(targets) > 40

    def empty() -> list[str]:
        return [where for where, expr in targets if not stack.prom.query(expr)]

    try:  # series appear as the traffic's effects arrive (bars close, jobs settle)
        stack.prom.wait("every panel target with a series", lambda: not empty(), timeout_s=60,
                        every_s=2)
    except TimeoutError:
        pytest.fail("panel targets without a series:\n" + "\n".join(empty()))


def test_one_rest_order_is_one_trace_from_gateway_through_execution_to_the_broker(stack: Stack,
                                                                                  driven):
    def place_order_pairs() -> dict[str, tuple]:
        """trace id → (gateway's client span, execution's server span) of PlaceOrder calls."""
        spans = stack.traces.snapshot()
        by_id = {s.span_id: s for s in spans}
        return {s.trace_id: (by_id[s.parent_id], s) for s in spans
                if s.service == "execution" and s.kind == 2
                and s.name == "mandi.v1.ExecutionService/PlaceOrder"
                and s.parent_id in by_id and by_id[s.parent_id].service == "gateway"}

    time.sleep(1)  # the traffic's spans exported (every 200 ms), so only ours is new below
    before = set(place_order_pairs())
    with httpx.Client(base_url=stack.gateway, timeout=60, auth=stack.auth) as http:
        order = _ok(http.post("/api/v1/orders", json={**ORDER, "account_id": "SIM001"}), 201)
    assert order["order"]["broker_order_id"]  # it reached kitesim

    def ours() -> dict[str, tuple]:
        return {t: p for t, p in place_order_pairs().items() if t not in before}

    ((trace_id, (client, server)),) = stack.prom.wait("the order's trace", ours, 20).items()
    assert client.kind == 3 and client.name == server.name  # CLIENT → SERVER, same method

    def kite() -> list:
        return [s for s in stack.traces.snapshot() if s.trace_id == trace_id
                and s.service == "execution" and s.name == "kite place_order"]

    (broker,) = stack.prom.wait("the broker call's span in the order's trace", kite, 20)
    assert broker.kind == 3  # a CLIENT span, inside execution's handling of the call
    spans = {s.span_id: s for s in stack.traces.snapshot() if s.trace_id == trace_id}
    chain, span = [], broker
    while span is not None:
        chain.append(f"{span.service}:{span.name}")
        span = spans.get(span.parent_id)
    assert chain[0] == "execution:kite place_order"
    assert "execution:mandi.v1.ExecutionService/PlaceOrder" in chain
    assert "gateway:mandi.v1.ExecutionService/PlaceOrder" in chain
    assert chain[-1].startswith("gateway:")  # one trace, rooted at the gateway's REST call
    print("trace:", " → ".join(reversed(chain)))


def test_killing_a_service_fires_service_down(stack: Stack, driven):
    assert stack.prom.wait("every service scraped",
                           lambda: set(stack.prom.targets_up()) >= {f"mandi-{s}" for s in
                                                                    SERVICES}, 20)
    assert not [a for a in stack.prom.alerts() if a["labels"]["alertname"] == "MandiServiceDown"]
    stack.procs["history"].kill()

    def firing() -> list[dict]:
        return [a for a in stack.prom.alerts() if a["labels"]["alertname"] == "MandiServiceDown"
                and a["state"] == "firing"]

    (alert,) = stack.prom.wait("MandiServiceDown firing", firing, 20)
    assert alert["labels"]["job"] == "mandi-history"
    assert "runbook" in alert["annotations"]


def test_the_rules_prometheus_loaded_are_healthy(stack: Stack, driven):
    groups = httpx.get(f"{stack.prom.url}/api/v1/rules", timeout=10).json()["data"]["groups"]
    rules = [r for g in groups for r in g["rules"]]
    assert len(rules) == 10
    assert all(r["health"] == "ok" for r in rules), [(r["name"], r.get("lastError"))
                                                     for r in rules if r["health"] != "ok"]


