"""`/api/data`: the data-fetcher API users already script against, served by the history service.

Field names and the error envelope follow the original API; additions (jobs, candles, coverage,
export, search, import) use the same conventions. Dates are exchange (IST) dates; `to_date` is
inclusive. Fetches are bounded (services/gateway/fetch_budget.py): above a number of Kite calls
they need `"confirm": true`, and they count against the caller's daily Kite-call quota.
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime
from typing import Annotated, Any

import grpc
from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import JSONResponse, Response, StreamingResponse

from mandi.core.clock import IST
from mandi.core.errors import InvalidInput, NotFound
from mandi.core.intervals import parse_interval
from mandi.platform.protoconv import (
    EXCHANGE_NAMES,
    INSTRUMENT_TYPE_NAMES,
    SEGMENT_EXCHANGES,
    exchange_enum,
    from_timestamp,
    has_timestamp,
    parse_ist,
    segment_enum,
    symbol_ref,
    to_timestamp,
)
from mandi.v1 import common_pb2, history_pb2
from services.gateway.auth.enforce import Me
from services.gateway.clients import Backends
from services.gateway.deps import backends
from services.gateway.fetch_budget import KiteCallQuota, require_confirmation
from services.gateway.routers.auth import Host
from services.gateway.schemas.data import BatchBody, BatchItemBody, FetchBody

router = APIRouter(prefix="/api/data", tags=["data"])
Stubs = Annotated[Backends, Depends(backends)]

FETCH_TIMEOUT_S = 6 * 3600.0  # a synchronous fetch may legitimately take long; async is better
MAX_UPLOAD_BYTES = 1 << 20
LOOKUP_CONCURRENCY = 32  # a batch's symbol lookups in flight at once
FORMATS = {"csv": history_pb2.FILE_FORMAT_CSV, "excel": history_pb2.FILE_FORMAT_EXCEL,
           "xlsx": history_pb2.FILE_FORMAT_EXCEL, "json": history_pb2.FILE_FORMAT_JSON,
           "parquet": history_pb2.FILE_FORMAT_PARQUET, "hdf5": history_pb2.FILE_FORMAT_HDF5,
           "h5": history_pb2.FILE_FORMAT_HDF5}
JOB_STATES = {1: "queued", 2: "running", 3: "done", 4: "failed", 5: "cancelled"}


def _interval(name: str, field: str = "interval") -> str:
    """The canonical Kite name of an interval given by name or alias (`5min` → `5minute`)."""
    return parse_interval(name, field=field).name


class FetchGate:
    """The bounded-work checks of one fetch request, bound to its caller (fetch_budget.py)."""

    def __init__(self, request: Request, who: Me, host: Host) -> None:
        self.who, self.host, self.clock = who, host, request.app.state.clock

    def confirm(self, calls: int, confirmed: bool) -> None:
        s = self.host.settings
        require_confirmation(calls, confirmed, limit=s.gateway_fetch_confirm_calls,
                             rate_per_s=s.kite_historical_rate)

    async def charge(self, calls: int) -> None:
        s = self.host.settings
        quota = KiteCallQuota(self.host.redis, s.redis_prefix, s.gateway_kite_calls_per_day)
        await quota.charge(self.who.username, calls, self.clock.now())


async def fetch_gate(request: Request, who: Me, host: Host) -> FetchGate:
    return FetchGate(request, who, host)


Gate = Annotated[FetchGate, Depends(fetch_gate)]


def _kite_calls(interval: str, from_date: str, to_date: str) -> int:
    """Kite requests a full fetch of the range takes (the estimate the budget checks)."""
    return parse_interval(interval).requests_for(*_range(from_date, to_date))


def _range(from_date: str, to_date: str) -> tuple[datetime, datetime]:
    start = parse_ist(from_date, field="from_date")
    end = parse_ist(to_date, field="to_date", end_of_day=True)
    if start >= end:
        raise InvalidInput(f"from_date {from_date} is after to_date {to_date}", field="from_date")
    return start, end


def _options(body: FetchBody | BatchItemBody) -> history_pb2.FetchOptions:
    return history_pb2.FetchOptions(
        validate=body.validate_, overwrite=body.overwrite, incremental=body.incremental,
        oi=getattr(body, "oi", False), continuous=getattr(body, "continuous", False))


def _ist_date(ts: Any) -> str | None:
    return from_timestamp(ts).astimezone(IST).date().isoformat() if has_timestamp(ts) else None


def _elapsed(started: Any, finished: Any) -> float | None:
    """Seconds an item took, once it has finished (None before)."""
    if not (has_timestamp(started) and has_timestamp(finished)):
        return None
    return round((from_timestamp(finished) - from_timestamp(started)).total_seconds(), 2)


def _item_json(it: history_pb2.JobItemStatus) -> dict[str, Any]:
    """One job item, with the seed's `date_range` ("YYYY-MM-DD to YYYY-MM-DD", IST dates, both
    inclusive) and `elapsed_seconds` beside the progress counters."""
    start, end = _ist_date(getattr(it, "from")), _ist_date(it.to)
    return {"exchange": it.exchange, "symbol": it.tradingsymbol, "interval": it.interval,
            "state": JOB_STATES.get(it.state, "unknown"), "requests_done": it.requests_done,
            "requests_total": it.requests_total, "rows_stored": it.rows_stored,
            "rows_invalid": it.rows_invalid, "error": it.error or None,
            "date_range": f"{start} to {end}" if start and end else None,
            "elapsed_seconds": _elapsed(it.started_at, it.finished_at)}


def _instrument_json(inst: common_pb2.Instrument) -> dict[str, Any]:
    return {
        "instrument_token": inst.instrument_token,
        "exchange_token": inst.exchange_token,
        "tradingsymbol": inst.tradingsymbol,
        "name": inst.name,
        "last_price": inst.last_price_paise / 100,
        "expiry": inst.expiry,
        "strike": inst.strike_paise / 100,
        "tick_size": inst.tick_size_paise / 100,
        "lot_size": inst.lot_size,
        "instrument_type": INSTRUMENT_TYPE_NAMES.get(inst.instrument_type, ""),
        "segment": inst.segment,
        "exchange": EXCHANGE_NAMES.get(inst.exchange, ""),
        "underlying": inst.underlying,
        "active": inst.active,
        "last_seen": inst.last_seen,
    }


def job_json(job: history_pb2.Job) -> dict[str, Any]:
    return {
        "job_id": job.id,
        "kind": job.kind,
        "state": JOB_STATES.get(job.state, "unknown"),
        "requests_done": job.requests_done,
        "requests_total": job.requests_total,
        "requests_left": max(0, job.requests_total - job.requests_done),
        "rows_stored": job.rows_stored,
        "errors": job.errors,
        "eta_seconds": round(job.eta_seconds, 1),
        "error": job.error or None,
        "created_at": from_timestamp(job.created_at).isoformat()
        if has_timestamp(job.created_at) else None,
        "finished_at": from_timestamp(job.finished_at).isoformat()
        if has_timestamp(job.finished_at) else None,
        "items": [_item_json(it) for it in job.items],
    }


async def _first_listing(stubs: Backends, symbol: str, exchanges: tuple[str, ...]) -> str | None:
    """The first of `exchanges` that lists `symbol`, or None when none does."""
    for exch in exchanges:
        ref = symbol_ref(exch, symbol)
        try:
            await stubs.history.LookupInstrument(
                history_pb2.LookupInstrumentRequest(symbol=ref.symbol))
            return exch
        except grpc.aio.AioRpcError as exc:  # NOT_FOUND on NSE means try BSE; else report it
            if exc.code() != grpc.StatusCode.NOT_FOUND:
                raise
    return None


def _not_listed(symbol: str, exchanges: tuple[str, ...]) -> str:
    return f"no {' or '.join(exchanges)} instrument named {symbol.upper()!r}"


async def _resolve_equity_exchange(stubs: Backends, symbol: str) -> str:
    """The original API auto-detects the exchange of an equity: NSE first, then BSE."""
    exchanges = SEGMENT_EXCHANGES["EQUITY"]
    found = await _first_listing(stubs, symbol, exchanges)
    if found is None:
        raise NotFound(_not_listed(symbol, exchanges), field="symbol")
    return found


async def _fetch_one(stubs: Backends, body: FetchBody, exchange: str) -> dict[str, Any]:
    interval = _interval(body.interval)
    start, end = _range(body.from_date, body.to_date)
    req = history_pb2.FetchRequest(
        instrument=symbol_ref(exchange, body.symbol), interval=interval,
        options=_options(body))
    getattr(req, "from").CopyFrom(to_timestamp(start))
    req.to.CopyFrom(to_timestamp(end))
    t0 = time.monotonic()
    summary = None
    async for progress in stubs.history.Fetch(req, timeout=FETCH_TIMEOUT_S):
        if progress.done:
            summary = progress.summary
    if summary is None:
        raise InvalidInput("the history service ended the fetch without a summary")
    return {
        "success": True,
        "exchange": exchange,
        "symbol": body.symbol.upper(),
        "interval": interval,
        "records": summary.records,
        "rows_fetched": summary.rows_fetched,
        "rows_invalid": summary.rows_invalid,
        "invalid_reasons": {i.reason: i.count for i in summary.issues},
        "requests": summary.requests,
        "date_range": f"{body.from_date} to {body.to_date}",
        "elapsed_seconds": round(time.monotonic() - t0, 2),
    }


def _batch_item(item: BatchItemBody, exchange: str) -> history_pb2.BatchItem:
    start, end = _range(item.from_date, item.to_date)
    out = history_pb2.BatchItem(instrument=symbol_ref(exchange, item.symbol),
                                interval=_interval(item.interval), options=_options(item))
    getattr(out, "from").CopyFrom(to_timestamp(start))
    out.to.CopyFrom(to_timestamp(end))
    return out


async def _queue(stubs: Backends, items: list[history_pb2.BatchItem]) -> history_pb2.Job:
    resp = await stubs.history.FetchBatch(history_pb2.FetchBatchRequest(items=items))
    return resp.job


@router.post("/fetch-equity")
async def fetch_equity(body: FetchBody, stubs: Stubs, gate: Gate) -> JSONResponse:
    calls = _kite_calls(body.interval, body.from_date, body.to_date)
    gate.confirm(calls, body.confirm)
    if body.exchange:
        exchange_enum(body.exchange, allowed=SEGMENT_EXCHANGES["EQUITY"])
        exchange = body.exchange.upper()
    else:
        exchange = await _resolve_equity_exchange(stubs, body.symbol)
    await gate.charge(calls)
    return await _fetch_or_queue(stubs, body, exchange)


@router.post("/fetch-derivatives")
async def fetch_derivatives(body: FetchBody, stubs: Stubs, gate: Gate) -> JSONResponse:
    if not body.exchange:
        raise InvalidInput("exchange is required for derivatives (NFO or BFO)", field="exchange")
    exchange_enum(body.exchange, allowed=SEGMENT_EXCHANGES["DERIVATIVES"])
    calls = _kite_calls(body.interval, body.from_date, body.to_date)
    gate.confirm(calls, body.confirm)
    await gate.charge(calls)
    return await _fetch_or_queue(stubs, body, body.exchange.upper())


async def _fetch_or_queue(stubs: Stubs, body: FetchBody, exchange: str) -> JSONResponse:
    if body.async_:
        item = _batch_item(BatchItemBody(
            exchange=exchange, symbol=body.symbol, from_date=body.from_date,
            to_date=body.to_date, interval=body.interval, validate=body.validate_,
            overwrite=body.overwrite, incremental=body.incremental), exchange)
        job = await _queue(stubs, [item])
        return JSONResponse({"success": True, **job_json(job)}, status_code=202)
    return JSONResponse(await _fetch_one(stubs, body, exchange))


def _batch_candidates(i: int, req: BatchItemBody) -> tuple[str, ...]:
    """Where item `i` may be listed: its own exchange, else its segment's (NSE then BSE, NFO
    then BFO, as fetch-equity auto-detects). Bad input is a 400 naming `requests[i].<field>`."""
    seg = req.segment.upper()
    segment_enum(seg, field=f"requests[{i}].segment")
    try:
        _batch_item(req, SEGMENT_EXCHANGES[seg][0])  # dates and interval, before any lookup
    except InvalidInput as exc:
        raise InvalidInput(exc.message, field=f"requests[{i}].{exc.field}") from None
    if not req.exchange:
        return SEGMENT_EXCHANGES[seg]
    exchange_enum(req.exchange, field=f"requests[{i}].exchange", allowed=SEGMENT_EXCHANGES[seg])
    return (req.exchange.upper(),)


def _batch_result(req: BatchItemBody, it: history_pb2.JobItemStatus | None, exchange: str,
                  error: str) -> dict[str, Any]:
    """One entry of `results`, as the seed shows it: success, symbol, interval, records,
    date_range (the request's dates), elapsed_seconds (the item's own fetch time)."""
    if it is None:  # never queued: the symbol is not listed
        return {"success": False, "exchange": exchange, "symbol": req.symbol.upper(),
                "interval": _interval(req.interval), "records": 0, "rows_invalid": 0,
                "date_range": f"{req.from_date} to {req.to_date}", "elapsed_seconds": 0.0,
                "error": error}
    error = it.error or (JOB_STATES[it.state] if it.state in (4, 5) else "")
    return {"success": it.state == 3, "exchange": it.exchange, "symbol": it.tradingsymbol,
            "interval": it.interval, "records": it.rows_stored, "rows_invalid": it.rows_invalid,
            "date_range": f"{req.from_date} to {req.to_date}",
            "elapsed_seconds": _elapsed(it.started_at, it.finished_at),
            **({"error": error} if error else {})}


@router.post("/fetch-batch")
async def fetch_batch(body: BatchBody, stubs: Stubs, gate: Gate) -> JSONResponse:
    """Queue every listed item as one job. An item whose symbol no exchange lists fails alone
    (the seed's per-item `success`), it does not sink the batch; input errors are a 400. The
    quota is charged for the listed items only."""
    if not body.requests:
        raise InvalidInput("requests is empty: give at least one symbol", field="requests")
    candidates = [_batch_candidates(i, req) for i, req in enumerate(body.requests)]
    calls = [_kite_calls(r.interval, r.from_date, r.to_date) for r in body.requests]
    gate.confirm(sum(calls), body.confirm)
    lookups = asyncio.Semaphore(LOOKUP_CONCURRENCY)

    async def listing(req: BatchItemBody, where: tuple[str, ...]) -> str | None:
        async with lookups:
            return await _first_listing(stubs, req.symbol, where)

    listings = await asyncio.gather(*(listing(req, where) for req, where in zip(
        body.requests, candidates, strict=True)))
    exchanges: list[str] = []
    unlisted: dict[int, str] = {}
    items = []
    for i, (req, where, found) in enumerate(zip(body.requests, candidates, listings,
                                                strict=True)):
        exchanges.append(found or where[0])
        if found is None:
            unlisted[i] = _not_listed(req.symbol, where)
        else:
            items.append(_batch_item(req, found))
    rejected = [{"index": i, "symbol": body.requests[i].symbol.upper(), "error": msg}
                for i, msg in unlisted.items()]
    if items:
        await gate.charge(sum(c for i, c in enumerate(calls) if i not in unlisted))
    if body.async_:
        if not items:
            first = min(unlisted)
            raise NotFound(unlisted[first], field=f"requests[{first}].symbol")
        job = await _queue(stubs, items)
        return JSONResponse({"success": True, **job_json(job), "rejected": rejected},
                            status_code=202)
    job = await _wait_job(stubs, (await _queue(stubs, items)).id) if items else None
    queued = iter(job.items if job is not None else ())
    results = [_batch_result(req, None if i in unlisted else next(queued), exchanges[i],
                             unlisted.get(i, ""))
               for i, req in enumerate(body.requests)]
    ok = sum(1 for r in results if r["success"])
    return JSONResponse({"total": len(results), "successful": ok, "failed": len(results) - ok,
                         "success_rate": round(100.0 * ok / len(results), 1),
                         "job_id": job.id if job is not None else None, "results": results})


async def _wait_job(stubs: Backends, job_id: str) -> history_pb2.Job:
    while True:
        job = (await stubs.history.GetJob(history_pb2.GetJobRequest(job_id=job_id))).job
        if job.state in (3, 4, 5):
            return job
        await asyncio.sleep(0.25)


@router.get("/jobs")
async def list_jobs(stubs: Stubs, state: str | None = None,
                    limit: Annotated[int, Query(ge=1, le=100)] = 20,
                    page_token: Annotated[str, Query(max_length=20)] = "") -> dict[str, Any]:
    """History fetch jobs, newest first (seed 001's "recent fetches"); `state` one of queued,
    running, done, failed, cancelled; `next_page_token` pages on."""
    states = {v: k for k, v in JOB_STATES.items()}
    if state is not None and state.strip().lower() not in states:
        raise InvalidInput(f"state must be one of {', '.join(states)}", field="state")
    if page_token and not page_token.isdigit():
        raise InvalidInput("page_token is not one this API gave", field="page_token")
    resp = await stubs.history.ListJobs(history_pb2.ListJobsRequest(
        state=states[state.strip().lower()] if state else 0,
        page=common_pb2.PageRequest(page_size=limit, page_token=page_token)))
    return {"success": True, "count": len(resp.jobs), "total": resp.page.total,
            "next_page_token": resp.page.next_page_token or None,
            "jobs": [job_json(j) for j in resp.jobs]}


@router.get("/jobs/{job_id}")
async def get_job(job_id: str, stubs: Stubs) -> dict[str, Any]:
    job = (await stubs.history.GetJob(history_pb2.GetJobRequest(job_id=job_id))).job
    return {"success": True, **job_json(job)}


@router.delete("/jobs/{job_id}")
async def cancel_job(job_id: str, stubs: Stubs) -> dict[str, Any]:
    job = (await stubs.history.CancelJob(history_pb2.CancelJobRequest(job_id=job_id))).job
    return {"success": True, **job_json(job)}


@router.get("/instruments/{exchange}")
async def instruments(exchange: str, stubs: Stubs,
                      limit: Annotated[int, Query(ge=0, le=100_000)] = 0,
                      force_refresh: bool = False) -> dict[str, Any]:
    req = history_pb2.ListInstrumentsRequest(exchange=exchange_enum(exchange), limit=limit,
                                             force_refresh=force_refresh)
    resp = await stubs.history.ListInstruments(req)
    return {"success": True, "exchange": exchange.upper(), "count": len(resp.instruments),
            "instruments": [_instrument_json(i) for i in resp.instruments]}


@router.get("/lookup/{exchange}/{symbol}")
async def lookup(exchange: str, symbol: str, stubs: Stubs) -> dict[str, Any]:
    ref = symbol_ref(exchange, symbol)
    inst = (await stubs.history.LookupInstrument(
        history_pb2.LookupInstrumentRequest(symbol=ref.symbol))).instrument
    return {"success": True, "exchange": exchange.upper(), "symbol": inst.tradingsymbol,
            "instrument_token": inst.instrument_token, "instrument": _instrument_json(inst)}


@router.get("/search")
async def search(stubs: Stubs, q: Annotated[str, Query(min_length=1, max_length=64)],
                 exchange: str | None = None,
                 limit: Annotated[int, Query(ge=1, le=100)] = 20) -> dict[str, Any]:
    req = history_pb2.SearchInstrumentsRequest(
        query=q, exchange=exchange_enum(exchange) if exchange else 0, limit=limit)
    resp = await stubs.history.SearchInstruments(req)
    return {"success": True, "query": q, "count": len(resp.instruments),
            "instruments": [_instrument_json(i) for i in resp.instruments]}


@router.get("/database-info/{segment}")
async def database_info(segment: str, stubs: Stubs) -> dict[str, Any]:
    resp = await stubs.history.DatabaseInfo(
        history_pb2.DatabaseInfoRequest(segment=segment_enum(segment)))
    # `file_path` is the seed's HDF5 file; bars live in PostgreSQL here, so there is none
    return {"success": True, "segment": segment.upper(), "file_path": None,
            "exists": resp.rows > 0,
            "size_mb": round(resp.size_bytes / 1e6, 2), "exchanges": list(resp.exchanges),
            "total_datasets": resp.datasets, "rows": resp.rows,
            "storage_engine": resp.storage_engine,
            "datasets": [{"exchange": d.exchange, "symbol": d.tradingsymbol,
                          "interval": d.interval, "rows": d.rows,
                          "start_date": _ist_date(d.first_ts), "end_date": _ist_date(d.last_ts)}
                         for d in resp.dataset_list]}


def _coverage_request(exchange: str, symbol: str, interval: str, from_date: str | None,
                      to_date: str | None) -> history_pb2.GetCoverageRequest:
    req = history_pb2.GetCoverageRequest(instrument=symbol_ref(exchange, symbol),
                                         interval=_interval(interval))
    if from_date:
        getattr(req, "from").CopyFrom(to_timestamp(parse_ist(from_date, field="from_date")))
    if to_date:
        req.to.CopyFrom(to_timestamp(parse_ist(to_date, field="to_date", end_of_day=True)))
    return req


@router.get("/existing-range/{exchange}/{symbol}/{interval}")
async def existing_range(exchange: str, symbol: str, interval: str,
                         stubs: Stubs) -> dict[str, Any]:
    cov = await stubs.history.GetCoverage(
        _coverage_request(exchange, symbol, interval, None, None))
    out: dict[str, Any] = {"success": True, "exchange": exchange.upper(),
                           "symbol": symbol.upper(), "interval": cov.interval,
                           "start_date": _ist_date(cov.first_ts),
                           "end_date": _ist_date(cov.last_ts), "bars": cov.bars}
    if cov.bars == 0:
        out["message"] = "No existing data found"
    return out


@router.get("/coverage/{exchange}/{symbol}/{interval}")
async def coverage(exchange: str, symbol: str, interval: str, stubs: Stubs,
                   from_date: str | None = None, to_date: str | None = None) -> dict[str, Any]:
    cov = await stubs.history.GetCoverage(
        _coverage_request(exchange, symbol, interval, from_date, to_date))
    return {"success": True, "exchange": exchange.upper(), "symbol": symbol.upper(),
            "interval": cov.interval, "start_date": _ist_date(cov.first_ts),
            "end_date": _ist_date(cov.last_ts), "bars": cov.bars,
            "expected_bars": cov.expected_bars, "sessions": cov.sessions,
            "missing_sessions": cov.missing_sessions, "missing_dates": list(cov.missing_dates),
            "missing": [{"from": from_timestamp(getattr(m, "from")).astimezone(IST).isoformat(),
                         "to": from_timestamp(m.to).astimezone(IST).isoformat(),
                         "missing_bars": m.missing_bars} for m in cov.missing],
            "completeness": round(cov.completeness, 6)}


def _candles_request(exchange: str, symbol: str, interval: str, from_date: str, to_date: str,
                     resample: str | None) -> history_pb2.GetCandlesRequest:
    start, end = _range(from_date, to_date)
    req = history_pb2.GetCandlesRequest(instrument=symbol_ref(exchange, symbol),
                                        interval=_interval(interval),
                                        resample_to=_interval(resample, "resample")
                                        if resample else "")
    getattr(req, "from").CopyFrom(to_timestamp(start))
    req.to.CopyFrom(to_timestamp(end))
    return req


@router.get("/candles/{exchange}/{symbol}/{interval}")
async def candles(exchange: str, symbol: str, interval: str, stubs: Stubs, from_date: str,
                  to_date: str, format: str = "json", resample: str | None = None) -> Response:
    from services.gateway import candle_format

    fmt = candle_format.check_format(format)
    req = _candles_request(exchange, symbol, interval, from_date, to_date, resample)
    batches = [r.batch async for r in stubs.history.GetCandles(req)]
    return candle_format.render(batches, fmt, name=f"{symbol.upper()}_{req.interval}")


@router.get("/export/{exchange}/{symbol}/{interval}")
async def export(exchange: str, symbol: str, interval: str, stubs: Stubs, from_date: str,
                 to_date: str, format: str = "csv") -> StreamingResponse:
    fmt = FORMATS.get(format.lower())
    if fmt is None:
        raise InvalidInput(f"unknown format {format!r}; expected csv, excel, json, parquet or hdf5",
                           field="format")
    start, end = _range(from_date, to_date)
    req = history_pb2.ExportRequest(instrument=symbol_ref(exchange, symbol),
                                    interval=_interval(interval), format=fmt)
    getattr(req, "from").CopyFrom(to_timestamp(start))
    req.to.CopyFrom(to_timestamp(end))
    stream = stubs.history.Export(req)
    first = await stream.read()
    if first is None or not hasattr(first, "data"):
        raise NotFound("nothing to export", field="symbol")

    async def body():
        yield first.data
        async for chunk in stream:
            yield chunk.data

    return StreamingResponse(body(), media_type=first.content_type or "application/octet-stream",
                             headers={"Content-Disposition":
                                      f'attachment; filename="{first.filename}"'})


@router.delete("/candles/{exchange}/{symbol}")
async def delete_candles(exchange: str, symbol: str, stubs: Stubs, interval: str | None = None,
                         from_date: str | None = None,
                         to_date: str | None = None) -> dict[str, Any]:
    req = history_pb2.DeleteDataRequest(instrument=symbol_ref(exchange, symbol),
                                        interval=_interval(interval) if interval else "")
    if from_date:
        getattr(req, "from").CopyFrom(to_timestamp(parse_ist(from_date, field="from_date")))
    if to_date:
        req.to.CopyFrom(to_timestamp(parse_ist(to_date, field="to_date", end_of_day=True)))
    resp = await stubs.history.DeleteData(req)
    return {"success": True, "deleted": resp.deleted}


async def _read_upload(file: UploadFile, limit: int) -> bytes:
    data = await file.read(limit + 1)
    if len(data) > limit:
        raise InvalidInput(f"upload is larger than {limit // 1024} KiB", field="file")
    if not data:
        raise InvalidInput("upload is empty", field="file")
    return data


@router.post("/import-symbols")
async def import_symbols(
    stubs: Stubs, file: Annotated[UploadFile, File()], from_date: Annotated[str, Form()],
    to_date: Annotated[str, Form()], interval: Annotated[str, Form()] = "day",
    exchange: Annotated[str, Form()] = "NSE", incremental: Annotated[bool, Form()] = True,
) -> JSONResponse:
    data = await _read_upload(file, MAX_UPLOAD_BYTES)
    start, end = _range(from_date, to_date)
    req = history_pb2.ImportSymbolsRequest(
        csv=data, default_exchange=exchange_enum(exchange), interval=_interval(interval),
        options=history_pb2.FetchOptions(validate=True, incremental=incremental))
    getattr(req, "from").CopyFrom(to_timestamp(start))
    req.to.CopyFrom(to_timestamp(end))
    resp = await stubs.history.ImportSymbols(req)
    return JSONResponse({"success": True, "accepted": resp.accepted,
                         "rejected": [{"line": r.line, "text": r.text, "reason": r.reason}
                                      for r in resp.rejected],
                         **job_json(resp.job)}, status_code=202)


@router.post("/import-candles/{exchange}/{symbol}/{interval}")
async def import_candles(exchange: str, symbol: str, interval: str, stubs: Stubs,
                         file: Annotated[UploadFile, File()],
                         format: Annotated[str, Form()] = "csv",
                         overwrite: Annotated[bool, Form()] = False) -> dict[str, Any]:
    fmt = {"csv": history_pb2.FILE_FORMAT_CSV,
           "parquet": history_pb2.FILE_FORMAT_PARQUET, "hdf5": history_pb2.FILE_FORMAT_HDF5,
           "h5": history_pb2.FILE_FORMAT_HDF5}.get(format.lower())
    if fmt is None:
        raise InvalidInput(f"unknown format {format!r}; expected csv or parquet", field="format")
    data = await _read_upload(file, 256 * MAX_UPLOAD_BYTES)
    resp = await stubs.history.ImportCandles(history_pb2.ImportCandlesRequest(
        instrument=symbol_ref(exchange, symbol), interval=_interval(interval), format=fmt,
        data=data, options=history_pb2.FetchOptions(validate=True, overwrite=overwrite)))
    return {"success": True, "records": resp.records, "rows_invalid": resp.rows_invalid,
            "invalid_reasons": {i.reason: i.count for i in resp.issues},
            "imported_at": datetime.now(UTC).isoformat()}


UPLOAD_CHUNK = 1 << 20  # HDF5 uploads reach history in 1 MiB messages, never one big one
HDF5_IMPORT_TIMEOUT_S = 1800.0  # a full EQUITY.h5 (10^7 bars) takes minutes, not the default 30 s


def _hdf5_overrides(mapping: str) -> list[history_pb2.Hdf5Override]:
    """The `mapping` form field: JSON {key: {"exchange", "symbol", "interval", "skip"}}."""
    if not mapping.strip():
        return []
    try:
        raw = json.loads(mapping)
    except ValueError:
        raise InvalidInput("mapping must be a JSON object", field="mapping") from None
    if not isinstance(raw, dict):
        raise InvalidInput("mapping must be a JSON object of key → {exchange, symbol, "
                           "interval, skip}", field="mapping")
    out = []
    for key, spec in raw.items():
        if spec is None or spec is False:
            spec = {"skip": True}
        if not isinstance(spec, dict) or set(spec) - {"exchange", "symbol", "interval", "skip"}:
            raise InvalidInput(f"mapping[{key!r}] must be an object with exchange, symbol, "
                               "interval or skip", field="mapping")
        try:
            out.append(history_pb2.Hdf5Override(
                key=str(key), exchange=str(spec.get("exchange") or ""),
                tradingsymbol=str(spec.get("symbol") or ""),
                interval=_interval(str(spec["interval"]), "mapping") if spec.get("interval")
                else "", skip=bool(spec.get("skip", False))))
        except (TypeError, ValueError):
            raise InvalidInput(f"mapping[{key!r}] is malformed", field="mapping") from None
    return out


@router.post("/import-hdf5")
async def import_hdf5(stubs: Stubs, file: Annotated[UploadFile, File()],
                      segment: Annotated[str, Form()] = "",
                      dry_run: Annotated[bool, Form()] = False,
                      overwrite: Annotated[bool, Form()] = False,
                      mapping: Annotated[str, Form()] = "") -> dict[str, Any]:
    """The user's HDF5 store (seed 001's EQUITY.h5 / DERIVATIVES.h5): every dataset found is
    reported with rows imported and skipped (history/hdf5_import.py says what is
    all-or-nothing). The upload is bounded by the gateway's multipart limit."""
    seg = segment.strip().upper()
    if seg and seg not in SEGMENT_EXCHANGES:
        raise InvalidInput(f"unknown segment {segment!r}; expected EQUITY or DERIVATIVES",
                           field="segment")
    overrides = _hdf5_overrides(mapping)
    head = await file.read(UPLOAD_CHUNK)
    if not head:
        raise InvalidInput("upload is empty", field="file")

    async def chunks():
        yield history_pb2.ImportHdf5Chunk(
            data=head, segment=seg, overrides=overrides, dry_run=dry_run, overwrite=overwrite,
            filename=(file.filename or "")[:255])
        while data := await file.read(UPLOAD_CHUNK):
            yield history_pb2.ImportHdf5Chunk(data=data)

    resp = await stubs.history.ImportHdf5(chunks(), timeout=HDF5_IMPORT_TIMEOUT_S)
    return {"success": True, "filename": resp.filename, "segment": resp.segment or None,
            "dry_run": resp.dry_run, "rows_imported": resp.rows_imported,
            "datasets": [{"key": d.key, "layout": d.layout, "exchange": d.exchange or None,
                          "symbol": d.tradingsymbol or None, "interval": d.interval or None,
                          "rows": d.rows, "imported": d.imported, "skipped": d.skipped,
                          "skipped_reasons": {i.reason: i.count for i in d.skipped_reasons},
                          "error": d.error or None, "notes": list(d.notes)}
                         for d in resp.datasets],
            "imported_at": datetime.now(UTC).isoformat()}
