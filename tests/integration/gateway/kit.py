"""Helpers for the gateway data-API tests: hand-written candles, job polling, kitesim's own
answers (raw HTTP, independent of Mandi's client and parser)."""

from __future__ import annotations

import asyncio
import re
from datetime import datetime

from mandi.core.clock import IST
from mandi.v1 import common_pb2, history_pb2


def candle(ist: str, o: float, h: float, lo: float, c: float, v: int,
           oi: int = 0) -> common_pb2.Candle:
    """A Candle starting at `ist` ("YYYY-MM-DD HH:MM", exchange time)."""
    out = common_pb2.Candle(open=o, high=h, low=lo, close=c, volume=v, oi=oi)
    out.ts.FromDatetime(datetime.fromisoformat(ist).replace(tzinfo=IST))
    return out


async def token_of(stack, exchange: str, symbol: str) -> int:
    ref = common_pb2.SymbolRef(exchange=common_pb2.Exchange.Value(f"EXCHANGE_{exchange}"),
                               tradingsymbol=symbol)
    resp = await stack.history.LookupInstrument(history_pb2.LookupInstrumentRequest(symbol=ref))
    return resp.instrument.instrument_token


async def wait_job(http, job_id: str) -> dict:
    job: dict = {}
    for _ in range(6000):  # bounded: up to 10 minutes of 0.1 s polls on a loaded machine
        job = (await http.get(f"/api/data/jobs/{job_id}")).json()
        if job["state"] in ("done", "failed", "cancelled"):
            return job
        await asyncio.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish: {job}")


def kitesim_token(sim, exchange: str, symbol: str) -> int:
    return next(i["instrument_token"] for i in sim.kite().instruments(exchange)
                if i["tradingsymbol"] == symbol)


def kitesim_candles(sim, exchange: str, symbol: str, interval: str, start: str,
                    end: str) -> list[list]:
    """The candles kitesim serves for the IST dates [start, end] (Kite's inclusive `to`)."""
    token = kitesim_token(sim, exchange, symbol)
    body = sim.raw(f"/instruments/historical/{token}/{interval}"
                   f"?from={start}+00:00:00&to={end}+23:59:59")
    return body["data"]["candles"]


ISO_INSTANT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d")


def times_not_utc(value: object, path: str = "") -> list[str]:
    """Every ISO 8601 date-time string in a JSON answer that is not UTC (`+00:00` or `Z`), by
    its path: seed 002 says every timestamp is ISO 8601 in UTC. Plain dates are not instants."""
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in times_not_utc(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in times_not_utc(v, f"{path}[{i}]")]
    if isinstance(value, str) and ISO_INSTANT.match(value) and not (
            value.endswith("+00:00") or value.endswith("Z")):
        return [f"{path}={value}"]
    return []
