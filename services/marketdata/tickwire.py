"""The binary form of a TickBatch on the Redis tick channel.

Every replica's Hub reads the ingester's ticks from Redis, so the format sits on the hot path
twice (pack once, unpack once per replica). It is columns, not records: a small header and then
each column's raw little-endian array, so packing is a few `tobytes()` and unpacking is
`np.frombuffer` views — no per-tick Python. Only what a Tick message can carry travels (no
last-trade time), and column groups a batch does not use are left out: an LTP-only batch is
token, mode, price and receive time (25 bytes a tick); quote adds nine columns; full adds OI,
exchange time and the 5+5 depth levels (depth as uint32 / uint16, the packet's own widths).
"""

from __future__ import annotations

import struct

import numpy as np

from services.marketdata.ticks import MODE_FULL, MODE_QUOTE, TickBatch

MAGIC = b"MDT1"
_HEADER = struct.Struct("<4sBI")  # magic, groups, n
_QUOTE = 1
_FULL = 2

_BASE_COLS = (("token", "<i8"), ("mode", "u1"), ("price", "<i8"), ("received_ns", "<i8"))
_QUOTE_COLS = tuple((name, "<i8") for name in (
    "ltq", "avg", "volume", "buy_qty", "sell_qty", "open", "high", "low", "close"))
_FULL_COLS = (("oi", "<i8"), ("exchange_ts", "<i8"))
_DEPTH_COLS = (("depth_price", "<u4"), ("depth_qty", "<u4"), ("depth_orders", "<u2"))


def pack(batch: TickBatch) -> bytes:
    """The batch as one message for the tick channel."""
    n = len(batch)
    top = int(batch.mode.max()) if n else 0
    groups = (_QUOTE if top >= MODE_QUOTE else 0) | (_FULL if top >= MODE_FULL else 0)
    parts = [_HEADER.pack(MAGIC, groups, n)]
    cols = list(_BASE_COLS)
    if groups & _QUOTE:
        cols += _QUOTE_COLS
    if groups & _FULL:
        cols += _FULL_COLS + _DEPTH_COLS
    for name, dtype in cols:
        parts.append(np.ascontiguousarray(getattr(batch, name), dtype=dtype).tobytes())
    return b"".join(parts)


def unpack(data: bytes) -> TickBatch:
    """The batch `pack` wrote; ValueError for anything else (a foreign publisher, a truncated
    message). Columns the sender left out get TickBatch's 'absent' values (-1 or 0)."""
    if len(data) < _HEADER.size:
        raise ValueError("tick message shorter than its header")
    magic, groups, n = _HEADER.unpack_from(data, 0)
    if magic != MAGIC:
        raise ValueError(f"not a tick message (magic {magic!r})")
    cols = list(_BASE_COLS)
    if groups & _QUOTE:
        cols += _QUOTE_COLS
    if groups & _FULL:
        cols += _FULL_COLS + _DEPTH_COLS
    need = _HEADER.size + sum(n * np.dtype(dt).itemsize * (10 if name.startswith("depth_")
                                                            else 1) for name, dt in cols)
    if len(data) != need:
        raise ValueError(f"tick message of {len(data)} bytes; {n} ticks need {need}")
    out = TickBatch.empty(n) if groups != (_QUOTE | _FULL) else None
    values: dict[str, np.ndarray] = {}
    off = _HEADER.size
    for name, dtype in cols:
        width = 10 if name.startswith("depth_") else 1
        arr = np.frombuffer(data, dtype=dtype, count=n * width, offset=off)
        off += arr.nbytes
        if width == 10:
            arr = arr.reshape(n, 10).astype(np.int64)
        elif name != "mode":
            arr = arr.astype(np.int64, copy=False)
        values[name] = arr
    if out is None:  # every column present
        values["last_trade_ts"] = np.zeros(n, dtype=np.int64)
        return TickBatch(**values)
    for name, arr in values.items():
        setattr(out, name, arr)
    return out
