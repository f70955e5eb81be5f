"""Database info per storage segment: size on disk, exchanges, datasets and rows.

Why sizes are exact here: on native PostgreSQL each segment is its own partition subtree
(ohlcv_equity, ohlcv_derivatives, see 002_ohlcv.sql), so a segment's size is the sum of
`pg_total_relation_size` (heap + indexes + TOAST) over its leaf partitions. On TimescaleDB the
hypertable's chunks hold both segments, so its size is shared out by row count (an estimate,
and said so in `size_is_estimate`).

Datasets are (instrument, interval) pairs, counted with one GROUP BY over the segment's rows
(which also counts the provisional bars built from ticks that still wait for Kite's candle)
and named through the instrument master (falling back to the exchange Kite encodes in the
token when the master no longer knows it).
"""

from __future__ import annotations

from typing import Any

import asyncpg

from mandi.core.errors import InvalidInput
from services.history.store import (
    DERIVATIVES,
    EQUITY,
    EXCHANGE_OF_CODE,
    EXCHANGES_OF_SEGMENT,
    SEGMENTS,
    CandleStore,
)

_PROTO_SEGMENTS = {1: EQUITY, 2: DERIVATIVES}  # mandi.v1.Segment

_DATASETS = """
SELECT d.instrument_token, d.interval, d.rows, d.provisional, d.first_ts, d.last_ts, i.exchange,
       i.tradingsymbol
FROM (SELECT instrument_token, interval, count(*) AS rows,
             count(*) FILTER (WHERE provisional) AS provisional, min(ts) AS first_ts,
             max(ts) AS last_ts
      FROM ohlcv WHERE segment = $1 GROUP BY instrument_token, interval) d
LEFT JOIN LATERAL (
    SELECT exchange, tradingsymbol FROM instruments i
    WHERE i.instrument_token = d.instrument_token
    ORDER BY i.active DESC, i.last_seen DESC LIMIT 1
) i ON true
ORDER BY i.exchange, i.tradingsymbol, d.instrument_token, d.interval
"""
_DATASETS_NO_MASTER = """
SELECT instrument_token, interval, count(*) AS rows,
       count(*) FILTER (WHERE provisional) AS provisional, min(ts) AS first_ts,
       max(ts) AS last_ts, NULL::text AS exchange, NULL::text AS tradingsymbol
FROM ohlcv WHERE segment = $1 GROUP BY instrument_token, interval
ORDER BY instrument_token, interval
"""


def segment_name(segment: str | int | None) -> list[str]:
    """The segments asked for: one, or both for None / 0 / "" / "ALL"."""
    if segment in (None, 0, "", "ALL", "all"):
        return list(SEGMENTS)
    if isinstance(segment, int):
        name = _PROTO_SEGMENTS.get(segment)
    else:
        name = segment.upper().removeprefix("SEGMENT_")
    if name not in SEGMENTS:
        raise InvalidInput(
            f"unknown segment {segment!r}; expected EQUITY or DERIVATIVES", field="segment"
        )
    return [name]


async def database_info(pool: asyncpg.Pool, segment: str | int | None) -> dict[str, Any]:
    """DatabaseInfoResponse's fields for one segment (or both when `segment` is None)."""
    segments = segment_name(segment)
    engine = await CandleStore(pool).engine()
    datasets: list[dict[str, Any]] = []
    size = 0
    estimate = False
    async with pool.acquire() as conn:
        for seg in segments:
            datasets += await _datasets(conn, seg)
        if engine == "timescaledb":
            size, estimate = await _hypertable_share(conn, segments), True
        else:
            for seg in segments:
                size += int(await conn.fetchval(
                    "SELECT coalesce(sum(pg_total_relation_size(relid)), 0)"
                    " FROM pg_partition_tree($1::regclass) WHERE isleaf",
                    f"ohlcv_{seg.lower()}",
                ))
    exchanges = sorted({d["exchange"] for d in datasets if d["exchange"]})
    return {
        "segment": segments[0] if len(segments) == 1 else "ALL",
        "size_bytes": size,
        "size_is_estimate": estimate,
        "exchanges": exchanges,
        "segment_exchanges": [x for s in segments for x in EXCHANGES_OF_SEGMENT[s]],
        "datasets": len(datasets),
        "rows": sum(d["rows"] for d in datasets),
        # bars built from ticks awaiting Kite's candle (not in DatabaseInfoResponse yet)
        "provisional_rows": sum(d["provisional_rows"] for d in datasets),
        "dataset_list": datasets,
        "storage_engine": engine,
    }


async def _datasets(conn: asyncpg.Connection, segment: str) -> list[dict[str, Any]]:
    try:
        async with conn.transaction():
            rows = await conn.fetch(_DATASETS, segment)
    except asyncpg.UndefinedTableError:  # instrument master not migrated (tools, old stores)
        rows = await conn.fetch(_DATASETS_NO_MASTER, segment)
    out = []
    for r in rows:
        exchange = r["exchange"] or EXCHANGE_OF_CODE.get(r["instrument_token"] & 0xFF, "")
        out.append({
            "instrument_token": r["instrument_token"],
            "exchange": "NSE" if exchange == "INDICES" else exchange,
            "tradingsymbol": r["tradingsymbol"] or str(r["instrument_token"]),
            "interval": r["interval"],
            "rows": int(r["rows"]),
            "provisional_rows": int(r["provisional"]),
            "first_ts": r["first_ts"],
            "last_ts": r["last_ts"],
        })
    return out


async def _hypertable_share(conn: asyncpg.Connection, segments: list[str]) -> int:
    total = int(await conn.fetchval("SELECT coalesce(hypertable_size('ohlcv'), 0)"))
    counts = dict(await conn.fetch("SELECT segment, count(*) FROM ohlcv GROUP BY segment"))
    all_rows = sum(counts.values())
    if not all_rows:
        return 0
    return int(total * sum(counts.get(s, 0) for s in segments) / all_rows)


def to_proto(info: dict[str, Any], segment: int) -> Any:
    """`database_info`'s answer as a mandi.v1.DatabaseInfoResponse (`segment` = the enum)."""
    from google.protobuf.timestamp_pb2 import Timestamp

    from mandi.v1 import history_pb2

    def ts(value: Any) -> Timestamp:
        out = Timestamp()
        if value is not None:
            out.FromDatetime(value)
        return out

    return history_pb2.DatabaseInfoResponse(
        segment=segment,
        size_bytes=info["size_bytes"],
        exchanges=info["exchanges"],
        datasets=info["datasets"],
        rows=info["rows"],
        dataset_list=[
            history_pb2.DatasetInfo(
                exchange=d["exchange"], tradingsymbol=d["tradingsymbol"], interval=d["interval"],
                rows=d["rows"], first_ts=ts(d["first_ts"]), last_ts=ts(d["last_ts"]),
            )
            for d in info["dataset_list"]
        ],
        storage_engine=info["storage_engine"],
    )
