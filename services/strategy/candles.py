"""Candles for backtests, read from the history service's GetCandles stream over gRPC.

The strategy service owns no market data (DESIGN.md: a service's tables are written only by that
service); it asks history for the columnar batches and assembles the library's `Bars`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

import grpc
import numpy as np

from mandi.core.backtest.data import Bars
from mandi.core.errors import InvalidInput, MandiError, NotFound, TemporaryError
from mandi.platform.protoconv import EXCHANGE_NAMES, to_timestamp
from mandi.platform.status import grpc_error_to_domain
from mandi.v1 import common_pb2, history_pb2, history_pb2_grpc

BATCH_ROWS = 50_000
READ_TIMEOUT_S = 600.0  # a year of minute bars for one symbol streams in well under this


def symbol_name(ref: common_pb2.SymbolRef) -> str:
    return f"{EXCHANGE_NAMES.get(ref.exchange, '?')}:{ref.tradingsymbol}"


async def load_bars(
    stub: history_pb2_grpc.HistoryServiceStub, symbol: common_pb2.SymbolRef, interval: str,
    start: datetime, end: datetime, *,
    on_batch: Callable[[int], Awaitable[None]] | None = None,
) -> Bars:
    """All bars of `symbol` in [start, end). `on_batch(rows_so_far)` runs after each batch
    (progress, lease renewal, cancellation). No bars at all is an error naming the gap, because
    a backtest over nothing would report a meaningless flat result."""
    req = history_pb2.GetCandlesRequest(
        instrument=common_pb2.InstrumentRef(symbol=symbol), interval=interval,
        batch_size=BATCH_ROWS)
    getattr(req, "from").CopyFrom(to_timestamp(start))
    req.to.CopyFrom(to_timestamp(end))
    parts: dict[str, list[np.ndarray]] = {k: [] for k in
                                          ("ts", "open", "high", "low", "close", "volume")}
    rows = 0
    try:
        async for resp in stub.GetCandles(req, timeout=READ_TIMEOUT_S):
            b = resp.batch
            parts["ts"].append(np.asarray(b.ts_unix_ms, dtype=np.int64) * 1_000_000)
            for name in ("open", "high", "low", "close"):
                parts[name].append(np.asarray(getattr(b, name), dtype=np.float64))
            parts["volume"].append(np.asarray(b.volume, dtype=np.int64))
            rows += len(b.ts_unix_ms)
            if on_batch is not None:
                await on_batch(rows)
    except grpc.aio.AioRpcError as exc:
        err = grpc_error_to_domain(exc)
        if exc.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
            raise TemporaryError(f"history service unavailable: {err.message}") from exc
        raise type(err)(f"history service: {err.message}", field=err.field) from exc
    name = symbol_name(symbol)
    if rows == 0:
        raise NotFound(f"no {interval} candles stored for {name} in the requested range; "
                       "fetch them with the history service first", field="symbols")
    cols = {k: np.concatenate(v) for k, v in parts.items()}
    try:
        return Bars(cols["ts"], cols["open"], cols["high"], cols["low"], cols["close"],
                    cols["volume"], name)
    except InvalidInput as exc:
        raise MandiError(f"history returned unusable candles for {name}: {exc.message}") from exc
