"""Protobuf ↔ history domain objects (instruments, jobs, candle batches, options)."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np

from mandi.core.candles import CandleFrame
from mandi.core.errors import InvalidInput
from mandi.platform import wire
from mandi.platform.protoconv import (
    EXCHANGES,
    INSTRUMENT_TYPES,
    from_timestamp,
    has_timestamp,
    to_timestamp,
)
from mandi.v1 import common_pb2, history_pb2
from services.history.fetcher import FetchOptions
from services.history.instruments import InstrumentRecord
from services.history.jobs import JobView

JOB_STATE = {"queued": common_pb2.JOB_STATE_QUEUED, "running": common_pb2.JOB_STATE_RUNNING,
             "done": common_pb2.JOB_STATE_DONE, "failed": common_pb2.JOB_STATE_FAILED,
             "cancelled": common_pb2.JOB_STATE_CANCELLED}
JOB_STATE_NAME = {v: k for k, v in JOB_STATE.items()}


def instrument(rec: InstrumentRecord) -> common_pb2.Instrument:
    return common_pb2.Instrument(
        instrument_token=rec.instrument_token, exchange_token=rec.exchange_token,
        tradingsymbol=rec.tradingsymbol, name=rec.name,
        exchange=EXCHANGES.get(rec.exchange, 0), segment=rec.segment,
        instrument_type=INSTRUMENT_TYPES.get(rec.instrument_type, 0),
        expiry=rec.expiry.isoformat() if rec.expiry else "", strike_paise=rec.strike_paise,
        tick_size_paise=rec.tick_size_paise, lot_size=rec.lot_size,
        last_price_paise=rec.last_price_paise, underlying=rec.underlying, active=rec.active,
        last_seen=rec.last_seen.isoformat() if rec.last_seen else "")


def options(opts: history_pb2.FetchOptions) -> FetchOptions:
    return FetchOptions(validate=opts.validate, overwrite=opts.overwrite,
                        incremental=opts.incremental, oi=opts.oi, continuous=opts.continuous)


def required_range(msg, *, exclusive_end: bool = True) -> tuple[datetime, datetime]:
    """`from`/`to` of a request. Requests carry [from, to); Kite's `to` is inclusive, so a
    fetch asks for everything up to 1 ms before `to`."""
    start_ts, end_ts = getattr(msg, "from"), msg.to
    if not has_timestamp(start_ts):
        raise InvalidInput("from is required", field="from")
    if not has_timestamp(end_ts):
        raise InvalidInput("to is required", field="to")
    start, end = from_timestamp(start_ts), from_timestamp(end_ts)
    if start >= end:
        raise InvalidInput(f"from {start.isoformat()} is not before to {end.isoformat()}",
                           field="from")
    return start, (end - timedelta(milliseconds=1)) if exclusive_end else end


def optional_range(msg) -> tuple[datetime | None, datetime | None]:
    start_ts, end_ts = getattr(msg, "from"), msg.to
    start = from_timestamp(start_ts) if has_timestamp(start_ts) else None
    end = from_timestamp(end_ts) if has_timestamp(end_ts) else None
    if start is not None and end is not None and start >= end:
        raise InvalidInput(f"from {start.isoformat()} is not before to {end.isoformat()}",
                           field="from")
    return start, end


def job(view: JobView) -> history_pb2.Job:
    out = history_pb2.Job(
        id=view.id, kind=view.kind, state=JOB_STATE.get(view.state, 0),
        requests_done=view.requests_done, requests_total=view.requests_total,
        rows_stored=view.rows_stored, errors=view.errors, eta_seconds=view.eta_seconds,
        error=view.error or "", account_id=view.account_id or "")
    out.created_at.CopyFrom(to_timestamp(view.created_at))
    if view.started_at:
        out.started_at.CopyFrom(to_timestamp(view.started_at))
    if view.finished_at:
        out.finished_at.CopyFrom(to_timestamp(view.finished_at))
    for it in view.items:
        item = history_pb2.JobItemStatus(
            exchange=it.exchange, tradingsymbol=it.tradingsymbol, interval=it.interval,
            state=JOB_STATE.get(it.state, 0), requests_done=it.requests_done,
            requests_total=it.requests_total, rows_stored=it.rows_stored,
            rows_invalid=it.rows_invalid, error=it.error or "")
        for name, value in (("from", it.range_from), ("to", it.range_to),
                            ("started_at", it.started_at), ("finished_at", it.finished_at)):
            if value is not None:
                getattr(item, name).CopyFrom(to_timestamp(value))
        out.items.append(item)
    return out


def candle_batch(frame: CandleFrame) -> common_pb2.CandleBatch:
    """Columnar batch; numpy arrays go straight into the packed repeated fields."""
    return common_pb2.CandleBatch(
        ts_unix_ms=frame.ts.tolist(), open=frame.open.tolist(), high=frame.high.tolist(),
        low=frame.low.tolist(), close=frame.close.tolist(), volume=frame.volume.tolist(),
        oi=frame.oi.tolist())


def frame_from_candles(candles: list[common_pb2.Candle]) -> CandleFrame:
    if not candles:
        return CandleFrame.empty()
    ts = np.fromiter((c.ts.seconds * 1000 + c.ts.nanos // 1_000_000 for c in candles),
                     dtype=np.int64, count=len(candles))
    col = {k: np.fromiter((getattr(c, k) for c in candles), dtype=np.float64,
                          count=len(candles)) for k in ("open", "high", "low", "close")}
    vol = np.fromiter((c.volume for c in candles), dtype=np.int64, count=len(candles))
    oi = np.fromiter((c.oi for c in candles), dtype=np.int64, count=len(candles))
    return CandleFrame(ts=ts, volume=vol, oi=oi, **col)


def candle_batch_bytes(frame: CandleFrame) -> bytes:
    """The wire bytes of `candle_batch(frame)`, written by numpy (see mandi.platform.wire)."""
    return b"".join((
        wire.packed_int64(1, frame.ts), wire.packed_doubles(2, frame.open),
        wire.packed_doubles(3, frame.high), wire.packed_doubles(4, frame.low),
        wire.packed_doubles(5, frame.close), wire.packed_int64(6, frame.volume),
        wire.packed_int64(7, frame.oi)))


def candles_response_bytes(frame: CandleFrame,
                           inst: common_pb2.Instrument | None = None) -> bytes:
    """A serialized GetCandlesResponse (batch = field 1, instrument = field 2)."""
    batch = candle_batch_bytes(frame)  # a set sub-message is written even when empty
    out = wire.varint(1 << 3 | 2) + wire.varint(len(batch)) + batch
    if inst is not None:
        out += wire.field_bytes(2, inst.SerializeToString())
    return out
