"""`/quote`, `/quote/ohlc`, `/quote/ltp`: keyed by the caller's `EXCHANGE:SYMBOL` (or token)
strings; unknown instruments are omitted, as Kite does."""

from __future__ import annotations

from datetime import datetime

from mandi.core.clock import IST
from services.kitesim.envelope import InputException, rupees
from services.kitesim.market import Market
from services.kitesim.universe import Instrument
from services.kitesim.varieties import trigger_range

MAX_INSTRUMENTS = {"full": 500, "ohlc": 1000, "ltp": 1000}


def resolve(market: Market, keys: list[str]) -> list[tuple[str, Instrument]]:
    out = []
    for key in keys:
        inst = market.universe.by_key.get(key)
        if inst is None and key.isdigit():
            inst = market.universe.by_token.get(int(key))
        if inst is not None:
            out.append((key, inst))
    return out


def _stamp(epoch: float) -> str:
    return datetime.fromtimestamp(int(epoch), IST).strftime("%Y-%m-%d %H:%M:%S")


def quote(market: Market, keys: list[str], epoch: float, kind: str) -> dict:
    if not keys:
        raise InputException("No instruments specified (`i`).")
    if len(keys) > MAX_INSTRUMENTS[kind]:
        raise InputException(f"Too many instruments: at most {MAX_INSTRUMENTS[kind]}.")
    out = {}
    for key, inst in resolve(market, keys):
        s = market.snapshot(inst, epoch)
        ltp = rupees(s["last_price"])
        if kind == "ltp":
            out[key] = {"instrument_token": inst.token, "last_price": ltp}
            continue
        ohlc = {"open": rupees(s["open"]), "high": rupees(s["high"]),
                "low": rupees(s["low"]), "close": rupees(s["close"])}
        if kind == "ohlc":
            out[key] = {"instrument_token": inst.token, "last_price": ltp, "ohlc": ohlc}
            continue
        lo, hi = market.circuit(inst, epoch)
        index = inst.kind == "INDEX"
        depth = {"buy": [], "sell": []}
        for i, (q, p, o) in enumerate(s["depth"]):
            level = {"price": 0 if index else rupees(p), "quantity": 0 if index else q,
                     "orders": 0 if index else o}
            depth["buy" if i < 5 else "sell"].append(level)
        out[key] = {
            "instrument_token": inst.token, "timestamp": _stamp(epoch),
            "last_trade_time": _stamp(s["last_trade_time"]), "last_price": ltp,
            "last_quantity": s["last_quantity"],
            "buy_quantity": 0 if index else s["buy_quantity"],
            "sell_quantity": 0 if index else s["sell_quantity"], "volume": s["volume"],
            "average_price": rupees(s["average_price"]), "oi": s["oi"],
            "oi_day_high": s["oi_day_high"], "oi_day_low": s["oi_day_low"],
            "net_change": round(ltp - ohlc["close"], 2) if ohlc["close"] else 0,
            "lower_circuit_limit": rupees(lo), "upper_circuit_limit": rupees(hi),
            "ohlc": ohlc, "depth": depth,
        }
    return out


def trigger_ranges(market: Market, keys: list[str], epoch: float) -> dict:
    """`/instruments/trigger_range/{buy|sell}`: where a cover order's stop-loss may sit."""
    if not keys:
        raise InputException("No instruments specified (`i`).")
    out = {}
    for key, inst in resolve(market, keys):
        if not inst.tradable:
            continue
        lo, hi = trigger_range(inst, market.ltp(inst, epoch))
        out[key] = {"instrument_token": inst.token, "lower": rupees(lo), "upper": rupees(hi)}
    return out
