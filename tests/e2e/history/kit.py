"""Helpers for the history e2e tests that run their own processes (replicas, crash-resume):
a fresh database for synchronous tests, an API key of their own, a history replica's
environment, its /metrics samples, and FetchBatch items."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import httpx

from mandi.testing.kitesim import KitesimServer
from mandi.testing.pg import fresh_database
from mandi.testing.services import ServiceProcess, service_process
from mandi.testing.signed_channel import signed_channel


@contextlib.contextmanager
def fresh_db() -> Iterator[str]:
    """`mandi.testing.pg.fresh_database` for synchronous tests: an empty database's DSN."""
    loop = asyncio.new_event_loop()
    cm = fresh_database()
    try:
        yield loop.run_until_complete(cm.__aenter__())
    finally:
        loop.run_until_complete(cm.__aexit__(None, None, None))
        loop.close()


def own_api_key() -> dict[str, str]:
    """A Kite API key and secret no other test uses, so this test's kitesim limits and its
    Redis token bucket (`kite:<api_key>:historical`) are not shared with tests running
    alongside."""
    tag = uuid.uuid4().hex[:10]
    return {"MANDI_KITE_API_KEY": f"e2e_{tag}", "MANDI_KITE_API_SECRET": f"secret_{tag}"}


def history_env(sim: KitesimServer, dsn: str, **extra: str) -> dict[str, str]:
    """The environment of a history replica against `sim` and `dsn`."""
    return {"MANDI_PG_DSN": dsn, "MANDI_KITE_ROOT": sim.url, "MANDI_KITE_WS_ROOT": sim.ws_url,
            "MANDI_CLOCK": "sim", "MANDI_REDIS_URL": "redis://127.0.0.1:6379/0",
            "MANDI_KITE_API_KEY": sim.api_key, "MANDI_KITE_API_SECRET": sim.api_secret,
            **extra}


def scrape(svc: ServiceProcess) -> dict[tuple[str, frozenset], float]:
    """The service's Prometheus samples: {(name, {label: value}): value}."""
    from prometheus_client.parser import text_string_to_metric_families

    port = svc.env["MANDI_METRICS_PORT_HISTORY"]
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    return {(s.name, frozenset(s.labels.items())): s.value
            for fam in text_string_to_metric_families(text) for s in fam.samples}


def metric(samples: dict[tuple[str, frozenset], float], name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def batch_item(symbol: str, interval: str, start: datetime, end: datetime):
    """A FetchBatch item for NSE:`symbol` over [start, end)."""
    from mandi.platform.protoconv import to_timestamp
    from mandi.v1 import common_pb2, history_pb2

    ref = common_pb2.InstrumentRef(symbol=common_pb2.SymbolRef(
        exchange=common_pb2.EXCHANGE_NSE, tradingsymbol=symbol))
    return history_pb2.BatchItem(instrument=ref, interval=interval,
                                 **{"from": to_timestamp(start), "to": to_timestamp(end)})


@contextlib.contextmanager
def history_stub(svc: ServiceProcess) -> Iterator:
    """A HistoryService stub on a channel to `svc`, closed afterwards."""

    from mandi.v1 import history_pb2_grpc

    with signed_channel(svc.addr) as channel:
        yield history_pb2_grpc.HistoryServiceStub(channel)


def nse_equities(sim: KitesimServer, n: int) -> dict[str, int]:
    """The first `n` NSE equities kitesim lists, symbol → instrument token (one instruments
    call through kiteconnect)."""
    eq = [i for i in sim.kite().instruments("NSE") if i["instrument_type"] == "EQ"]
    return {i["tradingsymbol"]: i["instrument_token"] for i in eq[:n]}


def start_together(stack: contextlib.ExitStack, n: int, env: dict[str, str],
                   log_dir: Path) -> list[ServiceProcess]:
    """Start `n` history replicas at once (each takes seconds to migrate, log in and load the
    instrument dump) and register their shutdown on `stack`."""
    cms = [service_process("history", env, log_dir) for _ in range(n)]
    with ThreadPoolExecutor(n) as pool:
        futures = [pool.submit(cm.__enter__) for cm in cms]
    started: list[ServiceProcess] = []
    errors: list[BaseException] = []
    for cm, fut in zip(cms, futures, strict=True):
        if fut.exception() is None:
            started.append(fut.result())
            stack.push(cm.__exit__)
        else:
            errors.append(fut.exception())
    if errors:
        raise errors[0]
    return started


def db_fetch(dsn: str, sql: str, *args: object) -> list[dict]:
    """Rows of one query on the history schema (the test's own read, outside the service)."""
    import asyncpg

    async def run() -> list[dict]:
        conn = await asyncpg.connect(dsn, server_settings={"search_path": "history"})
        try:
            return [dict(r) for r in await conn.fetch(sql, *args)]
        finally:
            await conn.close()

    return asyncio.run(run())
