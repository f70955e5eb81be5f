"""Ticks as columns: the vectorised decoder for KiteTicker frames, and the batch every part of
marketdata passes around.

kiteconnect's parser builds one dict per packet (~5k ticks/s in its Twisted client). Here a
frame is read in runs of same-length packets: a run is one `np.frombuffer` view over the
layouts of `mandi.kite.ticker_codec`, copied column by column, so decoding costs a few numpy
calls per run instead of Python work per tick. Prices stay in the packet's integer units
(paise for NSE/BSE/NFO/BFO and indices; `ticker_codec.price_divisor` gives the divisor).
Fields a packet's mode does not carry are -1 (volume, oi) or 0 (timestamps, depth).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, fields

import numpy as np

from mandi.kite import ticker_codec as tc

MODE_LTP, MODE_QUOTE, MODE_FULL = 1, 2, 3
MODE_CODES = {tc.MODE_LTP: MODE_LTP, tc.MODE_QUOTE: MODE_QUOTE, tc.MODE_FULL: MODE_FULL}
MODE_NAMES = {v: k for k, v in MODE_CODES.items()}

_I64 = np.int64


@dataclass
class TickBatch:
    """n ticks, one array per field, in the order they were read."""

    token: np.ndarray  # int64
    mode: np.ndarray  # uint8: MODE_LTP / MODE_QUOTE / MODE_FULL
    price: np.ndarray  # int64, packet units
    ltq: np.ndarray  # last traded quantity, -1 if absent
    avg: np.ndarray  # average traded price, -1 if absent
    volume: np.ndarray  # cumulative volume_traded for the day, -1 if absent
    buy_qty: np.ndarray
    sell_qty: np.ndarray
    open: np.ndarray  # day OHLC (index packets: from the packet too)
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray  # previous close
    oi: np.ndarray  # -1 if absent
    exchange_ts: np.ndarray  # epoch seconds, 0 if absent (ltp / quote)
    last_trade_ts: np.ndarray  # epoch seconds, 0 if absent
    depth_price: np.ndarray  # (n, 10) int64: 5 bids then 5 asks; 0 outside full mode
    depth_qty: np.ndarray  # (n, 10)
    depth_orders: np.ndarray  # (n, 10)
    received_ns: np.ndarray  # int64 wall-clock ns when the frame was read

    def __len__(self) -> int:
        return len(self.token)

    @classmethod
    def empty(cls, n: int = 0) -> TickBatch:
        cols = {}
        for f in fields(cls):
            if f.name.startswith("depth_"):
                cols[f.name] = np.zeros((n, 10), dtype=_I64)
            elif f.name == "mode":
                cols[f.name] = np.zeros(n, dtype=np.uint8)
            elif f.name in ("ltq", "avg", "volume", "oi", "buy_qty", "sell_qty"):
                cols[f.name] = np.full(n, -1, dtype=_I64)
            else:
                cols[f.name] = np.zeros(n, dtype=_I64)
        return cls(**cols)

    def take(self, index: np.ndarray | slice) -> TickBatch:
        return TickBatch(**{f.name: getattr(self, f.name)[index] for f in fields(self)})

    @staticmethod
    def concat(batches: list[TickBatch]) -> TickBatch:
        if len(batches) == 1:
            return batches[0]
        if not batches:
            return TickBatch.empty()
        return TickBatch(**{f.name: np.concatenate([getattr(b, f.name) for b in batches])
                            for f in fields(TickBatch)})

    @property
    def bid(self) -> np.ndarray:
        return self.depth_price[:, 0]

    @property
    def ask(self) -> np.ndarray:
        return self.depth_price[:, 5]


_LAYOUTS = {
    tc.LTP_LEN: (tc.LTP_DTYPE, MODE_LTP, False),
    tc.QUOTE_LEN: (tc.QUOTE_DTYPE, MODE_QUOTE, False),
    tc.FULL_LEN: (tc.FULL_DTYPE, MODE_FULL, False),
    tc.INDEX_QUOTE_LEN: (tc.INDEX_QUOTE_DTYPE, MODE_QUOTE, True),
    tc.INDEX_FULL_LEN: (tc.INDEX_FULL_DTYPE, MODE_FULL, True),
}
_COPY = ("last_price:price", "last_traded_quantity:ltq", "average_traded_price:avg",
         "volume_traded:volume", "total_buy_quantity:buy_qty", "total_sell_quantity:sell_qty",
         "open:open", "high:high", "low:low", "close:close", "oi:oi",
         "exchange_timestamp:exchange_ts", "last_trade_time:last_trade_ts")
_COPY_PAIRS = [tuple(x.split(":")) for x in _COPY]


def _decode_run(rec: np.ndarray, mode: int, received_ns: int) -> TickBatch:
    n = len(rec)
    out = TickBatch.empty(n)
    out.token[:] = rec["token"]
    out.mode[:] = mode
    names = rec.dtype.names
    for src, dst in _COPY_PAIRS:
        if src in names:
            getattr(out, dst)[:] = rec[src]
    if "depth" in names:
        depth = rec["depth"]
        out.depth_price[:] = depth["price"]
        out.depth_qty[:] = depth["quantity"]
        out.depth_orders[:] = depth["orders"]
    out.received_ns[:] = received_ns
    return out


def decode(data: bytes, received_ns: int = 0) -> TickBatch:
    """Every tick of one binary frame; a heartbeat (1 byte) gives an empty batch. Packets of an
    unknown length are skipped, as kiteconnect does; a truncated frame raises ValueError."""
    if len(data) < 2:
        return TickBatch.empty()
    (count,) = struct.unpack_from(">H", data, 0)
    off, left, size = 2, count, len(data)
    runs: list[TickBatch] = []
    while left > 0:
        if off + 2 > size:
            raise ValueError(f"truncated ticker frame: {left} of {count} packets missing")
        (plen,) = struct.unpack_from(">H", data, off)
        layout = _LAYOUTS.get(plen)
        if layout is None:  # unknown packet: skip it
            off += 2 + plen
            left -= 1
            continue
        dtype, mode, _index = layout
        most = min(left, (size - off) // dtype.itemsize)
        if most == 0:
            raise ValueError("truncated ticker frame: a packet runs past the end")
        view = np.frombuffer(data, dtype=dtype, count=most, offset=off)
        other = np.flatnonzero(view["plen"] != plen)
        run = int(other[0]) if len(other) else most
        runs.append(_decode_run(view[:run], mode, received_ns))
        off += run * dtype.itemsize
        left -= run
    return TickBatch.concat(runs)
