"""gRPC surface of the history service: converts messages, resolves instruments, and calls the
domain modules beside it. Domain errors propagate; the platform interceptor maps them."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import AsyncIterator
from datetime import date, timedelta

import grpc

from mandi.core import errors
from mandi.core.candles import CandleFrame
from mandi.core.intervals import parse_interval
from mandi.platform.config import Settings
from mandi.platform.grpc_server import ServiceSpec
from mandi.platform.protoconv import (
    EXCHANGE_NAMES,
    INSTRUMENT_TYPE_NAMES,
    SEGMENT_NAMES,
    exchange_name,
    to_timestamp,
)
from mandi.v1 import common_pb2, history_pb2, history_pb2_grpc
from services.history import (
    convert,
    coverage,
    dbinfo,
    fileio,
    hdf5_import,
    hdf5_reader,
    ingest,
    reader,
)
from services.history.app import HistoryApp
from services.history.instruments import InstrumentRecord
from services.history.jobs import BatchItemSpec
from services.history.symbols_csv import Rejected, parse_symbols_csv

SERVICE_NAME = history_pb2.DESCRIPTOR.services_by_name["HistoryService"].full_name
TERMINAL = {"done", "failed", "cancelled"}
EXPORT_CHUNK = 1 << 20
DEFAULT_ACCOUNT = "default"
SOURCE_TICKS = "ticks"  # WriteCandlesRequest.source of candles built from live ticks
WRITE_SOURCES = ("", SOURCE_TICKS)
_MS = timedelta(milliseconds=1)  # requests carry [from, to); Kite's `to` is inclusive

_ERROR_CLASSES = {cls.__name__: cls for cls in (
    errors.InvalidInput, errors.NotFound, errors.PreconditionFailed, errors.AuthError,
    errors.BrokerLoginNeeded,
    errors.PermissionDenied, errors.RateLimited, errors.TemporaryError)}


def _reraise_item_error(text: str) -> None:
    """Job items record failures as 'ClassName: message'; rebuild the class for the caller."""
    name, _, message = text.partition(": ")
    raise _ERROR_CLASSES.get(name, errors.TemporaryError)(message or text)


class HistoryServicer(history_pb2_grpc.HistoryServiceServicer):
    def __init__(self, app: HistoryApp) -> None:
        self.app = app

    # --- instruments ------------------------------------------------------------------------
    async def _resolve(self, ref: common_pb2.InstrumentRef,
                       field: str = "instrument") -> InstrumentRecord:
        await self.app.instruments_ready()
        kind = ref.WhichOneof("ref")
        if kind == "instrument_token":
            return await self.app.master.get(ref.instrument_token)
        if kind == "symbol":
            return await self.app.master.lookup(
                exchange_name(ref.symbol.exchange, field=f"{field}.exchange"),
                ref.symbol.tradingsymbol)
        raise errors.InvalidInput("an instrument (token or exchange + symbol) is required",
                                  field=field)

    async def ListInstruments(self, request, context):
        await self.app.instruments_ready()
        if request.force_refresh:
            await self.app.master.refresh(force=True)
        exchange = EXCHANGE_NAMES.get(request.exchange) if request.exchange else None
        expiry = None
        if request.expiry:
            try:
                expiry = date.fromisoformat(request.expiry)
            except ValueError:
                raise errors.InvalidInput(f"malformed expiry {request.expiry!r}; expected "
                                          "YYYY-MM-DD", field="expiry") from None
        kwargs = dict(exchange=exchange, underlying=request.underlying or None, expiry=expiry,
                      strike_paise=request.strike_paise or None,
                      instrument_type=INSTRUMENT_TYPE_NAMES.get(request.instrument_type),
                      include_expired=request.include_expired)
        if request.limit < 0:
            raise errors.InvalidInput("limit must not be negative", field="limit")
        out = history_pb2.ListInstrumentsResponse()
        token = request.page.page_token
        want = request.limit or None  # 0 = everything, page by page
        while True:
            size = min(want - len(out.instruments), 10_000) if want else 10_000
            page = await self.app.master.list(limit=size, page_token=token, **kwargs)
            out.instruments.extend(convert.instrument(r) for r in page.items)
            token = page.next_page_token
            out.page.total = page.total
            if not token or (want and len(out.instruments) >= want) or request.page.page_size:
                break
        out.page.next_page_token = token
        refreshed = await self.app.master.refreshed_at()
        if refreshed:
            out.refreshed_at.CopyFrom(to_timestamp(refreshed))
        return out

    async def LookupInstrument(self, request, context):
        rec = await self._resolve(common_pb2.InstrumentRef(symbol=request.symbol), "symbol")
        return history_pb2.LookupInstrumentResponse(instrument=convert.instrument(rec))

    async def SearchInstruments(self, request, context):
        await self.app.instruments_ready()
        exchange = EXCHANGE_NAMES.get(request.exchange) if request.exchange else None
        found = await self.app.master.search(request.query, exchange=exchange,
                                             limit=request.limit or 20)
        return history_pb2.SearchInstrumentsResponse(
            instruments=[convert.instrument(r) for r in found])

    # --- fetching ---------------------------------------------------------------------------
    async def Fetch(self, request, context) -> AsyncIterator[history_pb2.FetchProgress]:
        """A one-item durable job, streamed: if the caller goes away the job still finishes."""
        inst = await self._resolve(request.instrument)
        interval = parse_interval(request.interval)
        start, end = convert.required_range(request)
        opts = convert.options(request.options)
        await self.app.fetcher.plan(inst, interval, start, end, opts)  # validates up front
        view = await self.app.queue.create_batch(
            [BatchItemSpec(interval=interval.name, instrument=inst, start=start, end=end,
                           options=opts)], start, end, opts,
            request.account_id or DEFAULT_ACCOUNT, kind="fetch")
        last = None
        while True:
            view = await self.app.queue.get(view.id)
            item = view.items[0]
            snapshot = (item.requests_done, item.requests_total, item.rows_stored, item.state)
            if item.state in TERMINAL:
                break
            if snapshot != last:
                last = snapshot
                yield history_pb2.FetchProgress(
                    requests_done=item.requests_done, requests_total=item.requests_total,
                    rows_stored=item.rows_stored, eta_seconds=view.eta_seconds)
            await asyncio.sleep(0.1)
        if item.state == "failed":
            _reraise_item_error(item.error)
        summary = history_pb2.FetchSummary(
            records=item.rows_stored, rows_fetched=item.rows_fetched,
            rows_invalid=item.rows_invalid, requests=item.requests_done,
            instrument=convert.instrument(inst),
            issues=[history_pb2.ValidationIssue(reason=k, count=v)
                    for k, v in sorted(item.issues.items())])
        yield history_pb2.FetchProgress(
            requests_done=item.requests_done, requests_total=item.requests_total,
            rows_stored=item.rows_stored, done=True, summary=summary)

    def _batch_items(self, items) -> list[BatchItemSpec]:
        out = []
        for i, it in enumerate(items):
            start, end = convert.optional_range(it)
            kind = it.instrument.WhichOneof("ref")
            if kind == "symbol":
                exch = exchange_name(it.instrument.symbol.exchange,
                                     field=f"items[{i}].exchange")
                spec = BatchItemSpec(interval=it.interval, exchange=exch,
                                     tradingsymbol=it.instrument.symbol.tradingsymbol)
            elif kind == "instrument_token":
                raise errors.InvalidInput("batch items name instruments by exchange + symbol",
                                          field=f"items[{i}].instrument")
            else:
                raise errors.InvalidInput("an instrument is required",
                                          field=f"items[{i}].instrument")
            out.append(BatchItemSpec(
                interval=spec.interval, exchange=spec.exchange,
                tradingsymbol=spec.tradingsymbol, start=start,
                end=end - _MS if end else None,
                options=convert.options(it.options) if it.HasField("options") else None))
        return out

    async def FetchBatch(self, request, context):
        await self.app.instruments_ready()
        start, end = convert.optional_range(request)
        view = await self.app.queue.create_batch(
            self._batch_items(request.items), start, end - _MS if end else None,
            convert.options(request.options), request.account_id or DEFAULT_ACCOUNT)
        return history_pb2.FetchBatchResponse(job=convert.job(view))

    async def ImportSymbols(self, request, context):
        await self.app.instruments_ready()
        parsed = parse_symbols_csv(
            request.csv, default_exchange=EXCHANGE_NAMES.get(request.default_exchange, "NSE"))
        start, end = convert.required_range(request)
        interval = parse_interval(request.interval or "day").name
        items, rejected = [], list(parsed.rejected)
        for it in parsed.items:
            try:
                inst = await self.app.master.lookup(it.exchange, it.tradingsymbol)
            except errors.NotFound as exc:
                rejected.append(Rejected(it.line, f"{it.exchange},{it.tradingsymbol}",
                                         exc.message))
                continue
            items.append(BatchItemSpec(interval=interval, instrument=inst))
        if not items:
            raise errors.InvalidInput(
                f"no usable symbol in the file ({len(rejected)} lines rejected)", field="csv")
        view = await self.app.queue.create_batch(items, start, end, convert.options(
            request.options), request.account_id or DEFAULT_ACCOUNT)
        return history_pb2.ImportSymbolsResponse(
            job=convert.job(view), accepted=len(items),
            rejected=[history_pb2.RejectedLine(line=r.line, text=r.text, reason=r.reason)
                      for r in rejected])

    # --- jobs -------------------------------------------------------------------------------
    async def GetJob(self, request, context):
        view = await self.app.queue.get(request.job_id, request.account_id or None)
        return history_pb2.GetJobResponse(job=convert.job(view))

    async def ListJobs(self, request, context):
        state = convert.JOB_STATE_NAME.get(request.state) if request.state else None
        token = request.page.page_token or "0"
        if not token.isdigit():
            raise errors.InvalidInput("page_token is not one this service gave",
                                      field="page_token")
        offset = int(token)
        views, total = await self.app.queue.list(request.account_id or None, state=state,
                                                 limit=request.page.page_size, offset=offset)
        more = offset + len(views) < total
        return history_pb2.ListJobsResponse(
            jobs=[convert.job(v) for v in views],
            page=common_pb2.PageResponse(next_page_token=str(offset + len(views)) if more else "",
                                         total=total))

    async def CancelJob(self, request, context):
        view = await self.app.queue.cancel(request.job_id, request.account_id or None)
        return history_pb2.CancelJobResponse(job=convert.job(view))

    # --- reading ----------------------------------------------------------------------------
    async def GetCandles(self, request, context):
        """Yields serialized GetCandlesResponse bytes (see register(): this method's handler
        passes bytes through), so a year of minute bars is encoded by numpy, not per value."""
        inst = await self._resolve(request.instrument)
        interval = parse_interval(request.interval).name
        resample = parse_interval(request.resample_to).name if request.resample_to else None
        start, end = convert.optional_range(request)
        first: common_pb2.Instrument | None = convert.instrument(inst)
        async for frame in reader.iter_batches(self.app.pool, inst.instrument_token, interval,
                                               start, end, resample_to=resample,
                                               batch_size=request.batch_size):
            yield convert.candles_response_bytes(frame, first)
            first = None
        if first is not None:  # nothing stored: still tell the caller which instrument
            yield convert.candles_response_bytes(CandleFrame.empty(), first)

    async def GetCoverage(self, request, context):
        inst = await self._resolve(request.instrument)
        interval = parse_interval(request.interval)
        start, end = convert.optional_range(request)
        stored = await self.app.store.stored_timestamps(inst.instrument_token, interval.name,
                                                        start, end)
        rep = coverage.report(stored, interval, start, end, self.app.clock.now())
        out = history_pb2.GetCoverageResponse(
            instrument=convert.instrument(inst), interval=interval.name, bars=rep.bars,
            expected_bars=rep.expected_bars, sessions=rep.sessions,
            missing_sessions=rep.missing_sessions, missing_dates=rep.missing_dates,
            completeness=rep.completeness)
        if rep.first_ts:
            out.first_ts.CopyFrom(to_timestamp(rep.first_ts))
        if rep.last_ts:
            out.last_ts.CopyFrom(to_timestamp(rep.last_ts))
        for m in rep.missing:
            mr = out.missing.add(missing_bars=m.missing_bars)
            getattr(mr, "from").CopyFrom(to_timestamp(m.start))
            mr.to.CopyFrom(to_timestamp(m.end))
        return out

    async def Export(self, request, context):
        inst = await self._resolve(request.instrument)
        interval = parse_interval(request.interval).name
        fmt = request.format or history_pb2.FILE_FORMAT_CSV
        start, end = convert.optional_range(request)
        frame = await reader.read(self.app.pool, inst.instrument_token, interval, start, end)
        data = await asyncio.to_thread(fileio.export, frame, fmt,
                                       series=(inst.exchange, inst.tradingsymbol, interval))
        name = fileio.filename(f"{inst.exchange}_{inst.tradingsymbol}_{interval}", fmt)
        ctype = fileio.content_type(fmt)
        for off in range(0, max(len(data), 1), EXPORT_CHUNK):
            chunk = history_pb2.ExportChunk(data=data[off:off + EXPORT_CHUNK])
            if off == 0:
                chunk.filename, chunk.content_type = name, ctype
            if off + EXPORT_CHUNK >= len(data):
                chunk.rows = len(frame)
            yield chunk

    async def DatabaseInfo(self, request, context):
        segment = SEGMENT_NAMES.get(request.segment)
        if segment is None:
            raise errors.InvalidInput("segment must be EQUITY or DERIVATIVES", field="segment")
        info = await dbinfo.database_info(self.app.pool, segment)
        out = history_pb2.DatabaseInfoResponse(
            segment=request.segment, size_bytes=info["size_bytes"],
            exchanges=info["segment_exchanges"], datasets=info["datasets"], rows=info["rows"],
            storage_engine=info["storage_engine"])
        for d in info["dataset_list"]:
            ds = out.dataset_list.add(exchange=d["exchange"], tradingsymbol=d["tradingsymbol"],
                                      interval=d["interval"], rows=d["rows"])
            if d["first_ts"]:
                ds.first_ts.CopyFrom(to_timestamp(d["first_ts"]))
            if d["last_ts"]:
                ds.last_ts.CopyFrom(to_timestamp(d["last_ts"]))
        return out

    # --- writing ----------------------------------------------------------------------------
    async def DeleteData(self, request, context):
        inst = await self._resolve(request.instrument)
        interval = parse_interval(request.interval).name if request.interval else None
        start, end = convert.optional_range(request)
        deleted = await self.app.store.delete(inst.instrument_token, interval, start, end)
        return history_pb2.DeleteDataResponse(deleted=deleted)

    async def _validated_write(self, inst: InstrumentRecord, interval: str, frame,
                               *, check: bool, overwrite: bool,
                               provisional: bool = False) -> tuple[int, int, dict]:
        return await ingest.write_validated(
            self.app.store, inst, interval, frame, now=self.app.clock.now(), check=check,
            overwrite=overwrite, provisional=provisional)

    async def ImportCandles(self, request, context):
        inst = await self._resolve(request.instrument)
        interval = parse_interval(request.interval).name
        if request.format not in (history_pb2.FILE_FORMAT_CSV, history_pb2.FILE_FORMAT_PARQUET):
            raise errors.InvalidInput("import takes CSV or Parquet", field="format")
        frame = await asyncio.to_thread(fileio.import_file, request.data, request.format)
        written, invalid, issues = await self._validated_write(
            inst, interval, frame, check=True, overwrite=request.options.overwrite)
        return history_pb2.ImportCandlesResponse(
            records=written, rows_invalid=invalid,
            issues=[history_pb2.ValidationIssue(reason=k, count=v) for k, v in issues.items()])

    async def ImportHdf5(self, request_iterator, context):
        """The chunks are spooled to a temporary file (HDF5 needs random access), capped at
        fileio.MAX_IMPORT_BYTES; the file is gone when the call ends, whatever happened."""
        first: history_pb2.ImportHdf5Chunk | None = None
        with tempfile.NamedTemporaryFile(prefix="mandi-import-", suffix=".h5") as tmp:
            size = 0
            async for chunk in request_iterator:
                first = first or chunk
                size += len(chunk.data)
                if size > fileio.MAX_IMPORT_BYTES:
                    raise errors.InvalidInput(
                        f"the file is over the limit of {fileio.MAX_IMPORT_BYTES} bytes",
                        field="file")
                await asyncio.to_thread(tmp.write, chunk.data)
            if first is None or size == 0:
                raise errors.InvalidInput("the file is empty", field="file")
            await asyncio.to_thread(tmp.flush)
            overrides = {o.key: hdf5_reader.Override(exchange=o.exchange,
                                                     symbol=o.tradingsymbol,
                                                     interval=o.interval, skip=o.skip)
                         for o in first.overrides}
            result = await hdf5_import.import_hdf5(
                self.app, tmp.name, segment=first.segment, overrides=overrides,
                dry_run=first.dry_run, overwrite=first.overwrite,
                filename=first.filename or "upload.h5")
        out = history_pb2.ImportHdf5Response(
            filename=result["file"], segment=result["segment"], dry_run=result["dry_run"],
            rows_imported=result["rows_imported"])
        for r in result["datasets"]:
            out.datasets.add(
                key=r["key"], layout=r["layout"], exchange=r["exchange"],
                tradingsymbol=r["symbol"], interval=r["interval"], rows=r["rows"],
                imported=r["imported"], skipped=r["skipped"], error=r["error"],
                notes=r["notes"],
                skipped_reasons=[history_pb2.ValidationIssue(reason=k, count=v)
                                 for k, v in r["skipped_reasons"].items()])
        return out

    async def WriteCandles(self, request, context):
        """Closed candles from marketdata arrive with source "ticks" and are stored
        provisional (Kite's candle replaces them); "" is a final candle."""
        if request.instrument_token <= 0:  # unset: the caller's mistake, not a missing contract
            raise errors.InvalidInput("an instrument_token is required",
                                      field="instrument_token")
        if request.source not in WRITE_SOURCES:
            raise errors.InvalidInput(
                f"unknown source {request.source[:40]!r}; expected \"ticks\" or empty",
                field="source")
        inst = await self._resolve(common_pb2.InstrumentRef(
            instrument_token=request.instrument_token))
        interval = parse_interval(request.interval).name
        frame = convert.frame_from_candles(list(request.candles))
        written, invalid, _ = await self._validated_write(
            inst, interval, frame, check=True, overwrite=request.overwrite,
            provisional=request.source == SOURCE_TICKS)
        return history_pb2.WriteCandlesResponse(written=written, rows_invalid=invalid)


def build_spec(settings: Settings) -> ServiceSpec:
    app = HistoryApp(settings)
    servicer = HistoryServicer(app)

    def register(server: grpc.aio.Server) -> None:
        history_pb2_grpc.add_HistoryServiceServicer_to_server(servicer, server)
        # GetCandles again, with a pass-through serializer for its pre-encoded responses; the
        # later registration of a method replaces the generated one (tested).
        server.add_registered_method_handlers(SERVICE_NAME, {
            "GetCandles": grpc.unary_stream_rpc_method_handler(
                servicer.GetCandles,
                request_deserializer=history_pb2.GetCandlesRequest.FromString,
                response_serializer=bytes),
        })

    return ServiceSpec(name="history", register=register, service_names=[SERVICE_NAME],
                       on_start=app.start, on_stop=app.stop)
