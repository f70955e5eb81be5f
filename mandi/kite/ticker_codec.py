"""KiteTicker binary codec: pure encode/decode of ltp/quote/full/index packets and frames.

Layouts are Kite Connect v3's (big-endian, unsigned). A frame is `uint16 count` followed by
`uint16 length + payload` per packet. `decode_frame` yields dicts with exactly the keys of
kiteconnect 5.x's own parser (`last_traded_quantity`, `volume_traded`, ...), but with
timestamps as tz-aware IST datetimes instead of the client's naive local ones. `to_kite_json`
renders a decoded tick in the shape of Kite's documented JSON (the older key names
`last_quantity`, `volume`, `timestamp`..., ISO timestamps with +05:30, `change` = ltp - close),
which is what Zerodha's published sample ticks use.

The vectorised encoder (`records` + `frame`) builds many packets at once from numpy structured
arrays whose first field is the packet's length prefix, so a frame is one `tobytes()`.
"""

from __future__ import annotations

import struct
from datetime import datetime
from typing import Any

import numpy as np

from mandi.core.clock import IST

MODE_LTP = "ltp"
MODE_QUOTE = "quote"
MODE_FULL = "full"

# low byte of instrument_token → segment
SEGMENT_CODES = {
    "nse": 1, "nfo": 2, "cds": 3, "bse": 4, "bfo": 5, "bcd": 6, "mcx": 7, "mcxsx": 8,
    "indices": 9, "nco": 12,
}
SEG_INDICES = 9

LTP_LEN, QUOTE_LEN, FULL_LEN = 8, 44, 184
INDEX_QUOTE_LEN, INDEX_FULL_LEN = 28, 32
HEARTBEAT = b"\x00"

_U4 = ">u4"
_DEPTH = np.dtype([("quantity", _U4), ("price", _U4), ("orders", ">u2"), ("pad", ">u2")])
_QUOTE_FIELDS = [
    ("plen", ">u2"), ("token", _U4), ("last_price", _U4), ("last_traded_quantity", _U4),
    ("average_traded_price", _U4), ("volume_traded", _U4), ("total_buy_quantity", _U4),
    ("total_sell_quantity", _U4), ("open", _U4), ("high", _U4), ("low", _U4), ("close", _U4),
]
LTP_DTYPE = np.dtype([("plen", ">u2"), ("token", _U4), ("last_price", _U4)])
QUOTE_DTYPE = np.dtype(_QUOTE_FIELDS)
FULL_DTYPE = np.dtype(
    [*_QUOTE_FIELDS, ("last_trade_time", _U4), ("oi", _U4), ("oi_day_high", _U4),
     ("oi_day_low", _U4), ("exchange_timestamp", _U4), ("depth", _DEPTH, (10,))]
)
_INDEX_FIELDS = [
    ("plen", ">u2"), ("token", _U4), ("last_price", _U4), ("high", _U4), ("low", _U4),
    ("open", _U4), ("close", _U4), ("price_change", _U4),
]
INDEX_QUOTE_DTYPE = np.dtype(_INDEX_FIELDS)
INDEX_FULL_DTYPE = np.dtype([*_INDEX_FIELDS, ("exchange_timestamp", _U4)])
_LENGTHS = {
    LTP_DTYPE: LTP_LEN, QUOTE_DTYPE: QUOTE_LEN, FULL_DTYPE: FULL_LEN,
    INDEX_QUOTE_DTYPE: INDEX_QUOTE_LEN, INDEX_FULL_DTYPE: INDEX_FULL_LEN,
}
assert all(dt.itemsize == n + 2 for dt, n in _LENGTHS.items())


def price_divisor(token: int) -> float:
    seg = token & 0xFF
    if seg == SEGMENT_CODES["cds"]:
        return 10_000_000.0
    if seg in (SEGMENT_CODES["bcd"], SEGMENT_CODES["nco"]):
        return 10_000.0
    return 100.0


def is_tradable(token: int) -> bool:
    return (token & 0xFF) != SEG_INDICES


# --- vectorised encoding ------------------------------------------------------------------
def records(dtype: np.dtype, n: int) -> np.ndarray:
    """Zeroed packet records of one layout, length prefixes filled in."""
    arr = np.zeros(n, dtype=dtype)
    arr["plen"] = _LENGTHS[dtype]
    return arr


def frame(*parts: np.ndarray | bytes) -> bytes:
    """One binary frame from record arrays and/or already-prefixed packet bytes."""
    count = 0
    chunks: list[bytes] = []
    for part in parts:
        if isinstance(part, np.ndarray):
            count += len(part)
            chunks.append(part.tobytes())
        else:
            count += _count_prefixed(part)
            chunks.append(part)
    if count > 0xFFFF:
        raise ValueError("a frame holds at most 65535 packets")
    return struct.pack(">H", count) + b"".join(chunks)


def _count_prefixed(buf: bytes) -> int:
    n, off = 0, 0
    while off < len(buf):
        (plen,) = struct.unpack_from(">H", buf, off)
        off += 2 + plen
        n += 1
    return n


# --- scalar encoding (prices in integer units: paise for NSE/BSE/NFO/BFO/indices) --------
def encode_ltp(token: int, last_price: int) -> bytes:
    return struct.pack(">II", token, last_price)


def encode_index(token: int, last_price: int, ohlc: tuple[int, int, int, int],
                 price_change: int = 0, exchange_timestamp: int | None = None) -> bytes:
    """Index packet: 28 bytes, or 32 with exchange_timestamp (full). ohlc is open/high/low/close."""
    o, h, lo, c = ohlc
    body = struct.pack(">7I", token, last_price, h, lo, o, c, price_change)
    if exchange_timestamp is not None:
        body += struct.pack(">I", exchange_timestamp)
    return body


def encode_frame(packets: list[bytes]) -> bytes:
    return struct.pack(">H", len(packets)) + b"".join(
        struct.pack(">H", len(p)) + p for p in packets
    )


# --- decoding ----------------------------------------------------------------------------
def split_packets(data: bytes) -> list[bytes]:
    """The packets of a frame; a frame of fewer than 2 bytes (heartbeat) has none."""
    if len(data) < 2:
        return []
    (count,) = struct.unpack_from(">H", data, 0)
    off, out = 2, []
    for _ in range(count):
        (plen,) = struct.unpack_from(">H", data, off)
        out.append(data[off + 2: off + 2 + plen])
        off += 2 + plen
    return out


def decode_frame(data: bytes) -> list[dict[str, Any]]:
    """All ticks of a frame, unknown packet lengths skipped (as kiteconnect does)."""
    ticks = []
    for packet in split_packets(data):
        tick = decode_packet(packet)
        if tick is not None:
            ticks.append(tick)
    return ticks


def _ts(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, IST)


def _change(ltp: float, close: float) -> float:
    return (ltp - close) * 100 / close if close != 0 else 0


def decode_packet(packet: bytes) -> dict[str, Any] | None:
    n = len(packet)
    if n not in _LENGTHS.values():
        return None
    token, ltp_raw = struct.unpack_from(">II", packet, 0)
    div = price_divisor(token)
    base: dict[str, Any] = {
        "tradable": is_tradable(token), "mode": MODE_LTP, "instrument_token": token,
        "last_price": ltp_raw / div,
    }
    if n == LTP_LEN:
        return base
    if n in (INDEX_QUOTE_LEN, INDEX_FULL_LEN):
        h, lo, o, c = (v / div for v in struct.unpack_from(">4I", packet, 8))
        base["mode"] = MODE_QUOTE if n == INDEX_QUOTE_LEN else MODE_FULL
        base["ohlc"] = {"high": h, "low": lo, "open": o, "close": c}
        base["change"] = _change(base["last_price"], c)
        if n == INDEX_FULL_LEN:
            base["exchange_timestamp"] = _ts(struct.unpack_from(">I", packet, 28)[0])
        return base
    (ltq, atp, vol, tbq, tsq, o, h, lo, c) = struct.unpack_from(">9I", packet, 8)
    base.update(
        mode=MODE_QUOTE if n == QUOTE_LEN else MODE_FULL,
        last_traded_quantity=ltq, average_traded_price=atp / div, volume_traded=vol,
        total_buy_quantity=tbq, total_sell_quantity=tsq,
        ohlc={"open": o / div, "high": h / div, "low": lo / div, "close": c / div},
    )
    base["change"] = _change(base["last_price"], c / div)
    if n == FULL_LEN:
        ltt, oi, oih, oil, ets = struct.unpack_from(">5I", packet, 44)
        base.update(last_trade_time=_ts(ltt), oi=oi, oi_day_high=oih, oi_day_low=oil,
                    exchange_timestamp=_ts(ets))
        levels = [struct.unpack_from(">IIH", packet, 64 + 12 * i) for i in range(10)]
        base["depth"] = {
            side: [{"quantity": q, "price": p / div, "orders": o} for q, p, o in half]
            for side, half in (("buy", levels[:5]), ("sell", levels[5:]))
        }
    return base


_LEGACY_NAMES = {
    "last_traded_quantity": "last_quantity", "average_traded_price": "average_price",
    "volume_traded": "volume", "total_buy_quantity": "buy_quantity",
    "total_sell_quantity": "sell_quantity", "exchange_timestamp": "timestamp",
}


def to_kite_json(tick: dict[str, Any]) -> dict[str, Any]:
    """A decoded tick in Kite's documented JSON shape (as in Zerodha's sample ticks)."""
    out: dict[str, Any] = {}
    for key, value in tick.items():
        if isinstance(value, datetime):
            value = value.astimezone(IST).isoformat()
        out[_LEGACY_NAMES.get(key, key)] = value
    if "ohlc" in tick:
        out["change"] = tick["last_price"] - tick["ohlc"]["close"]
    return out
