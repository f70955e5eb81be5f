"""gRPC surface of the marketdata service: validates requests, resolves instruments, and reads
or edits the shared state through the bus and the hub. Domain errors propagate; the platform
interceptor maps them (bad input → INVALID_ARGUMENT naming the field).

StreamTicks answers with pre-encoded bytes (see `register` in build_spec): the hub writes each
batch's Tick messages with numpy once and every subscriber sends those bytes as they are.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc

from mandi.core import errors
from mandi.core.intervals import parse_interval
from mandi.kite import ticker_codec as tc
from mandi.platform.config import Settings
from mandi.platform.grpc_server import ServiceSpec
from mandi.platform.protoconv import has_timestamp
from mandi.platform.status import grpc_error_to_domain
from mandi.v1 import common_pb2, marketdata_pb2, marketdata_pb2_grpc
from services.marketdata.app import IngesterFactory, MarketdataApp
from services.marketdata.bus import LogEntry

SERVICE_NAME = marketdata_pb2.DESCRIPTOR.services_by_name["MarketdataService"].full_name
MAX_QUEUE = 1_000_000

_MODES = {marketdata_pb2.TICK_MODE_LTP: tc.MODE_LTP, marketdata_pb2.TICK_MODE_QUOTE: tc.MODE_QUOTE,
          marketdata_pb2.TICK_MODE_FULL: tc.MODE_FULL}
_MODE_ENUMS = {v: k for k, v in _MODES.items()}


def _ts(epoch_s: int):
    out = common_pb2.Tick().exchange_ts  # a fresh Timestamp
    out.seconds = epoch_s
    return out


def _candle_response(e: LogEntry, interval: str) -> marketdata_pb2.StreamCandlesResponse:
    if e.gap is not None:
        g = e.gap
        gap = marketdata_pb2.CandleGap(to=_ts(g.end), reason=g.reason)
        getattr(gap, "from").seconds = g.start
        return marketdata_pb2.StreamCandlesResponse(instrument_token=g.token, interval=interval,
                                                    gap=gap, closed=True)
    b = e.bar
    div = tc.price_divisor(b.token)
    return marketdata_pb2.StreamCandlesResponse(
        instrument_token=b.token, interval=b.interval, closed=True, source=b.source,
        candle=common_pb2.Candle(ts=_ts(b.start), open=b.open / div, high=b.high / div,
                                 low=b.low / div, close=b.close / div, volume=b.volume,
                                 oi=b.oi))


def _queue_size(value: int) -> int:
    if value < 0 or value > MAX_QUEUE:
        raise errors.InvalidInput(f"queue_size must be between 0 (server default) and "
                                  f"{MAX_QUEUE}", field="queue_size")
    return value


def _token(t: int, field: str) -> int:
    if t <= 0 or t >= 1 << 32:  # Kite tokens are the u32 of the ticker packets
        raise errors.InvalidInput(f"{t} is not an instrument token", field=field)
    return t


def _tokens(values, field: str = "instrument_tokens") -> list[int]:
    return [_token(t, f"{field}[{i}]") for i, t in enumerate(values)]


class MarketdataServicer(marketdata_pb2_grpc.MarketdataServiceServicer):
    def __init__(self, app: MarketdataApp) -> None:
        self.app = app

    # --- instruments ------------------------------------------------------------------------
    async def _resolve(self, refs, field: str = "instruments") -> list[common_pb2.Instrument]:
        if not refs:
            raise errors.InvalidInput("at least one instrument is required", field=field)
        out = []
        for i, ref in enumerate(refs):
            kind = ref.WhichOneof("ref")
            if kind == "instrument_token":
                _token(ref.instrument_token, f"{field}[{i}].instrument_token")
                out.append(common_pb2.Instrument(instrument_token=ref.instrument_token))
            elif kind == "symbol":
                if not ref.symbol.tradingsymbol.strip():
                    raise errors.InvalidInput("a trading symbol is required",
                                              field=f"{field}[{i}].symbol.tradingsymbol")
                try:
                    out.append(await self.app.lookup(ref.symbol))
                except grpc.aio.AioRpcError as exc:
                    err = grpc_error_to_domain(exc)
                    if isinstance(err, errors.InvalidInput | errors.NotFound):
                        err.field = f"{field}[{i}].symbol"
                    raise err from None
            else:
                raise errors.InvalidInput("an instrument (token or exchange + symbol) is "
                                          "required", field=f"{field}[{i}]")
        return out

    # --- subscriptions ----------------------------------------------------------------------
    async def Subscribe(self, request, context):
        intervals = []
        for i, name in enumerate(request.candle_intervals):
            iv = parse_interval(name, field=f"candle_intervals[{i}]")
            if not iv.is_intraday:
                raise errors.InvalidInput("candles from ticks are intraday (minute … 60minute)",
                                          field=f"candle_intervals[{i}]")
            intervals.append(iv.name)
        if request.mode == marketdata_pb2.TICK_MODE_UNSPECIFIED:
            mode = tc.MODE_FULL if intervals else tc.MODE_QUOTE  # Kite's default is quote
        elif request.mode in _MODES:
            mode = _MODES[request.mode]
        else:
            raise errors.InvalidInput(f"unknown tick mode {request.mode}", field="mode")
        insts = await self._resolve(request.instruments)
        meta = {i.instrument_token: i.SerializeToString() for i in insts if i.tradingsymbol}
        await self.app.bus.subscribe([i.instrument_token for i in insts], mode, intervals, meta)
        return marketdata_pb2.SubscribeResponse(subscribed=insts)

    async def Unsubscribe(self, request, context):
        insts = await self._resolve(request.instruments)
        dropped, _released = await self.app.bus.unsubscribe(i.instrument_token for i in insts)
        return marketdata_pb2.UnsubscribeResponse(unsubscribed=dropped)

    async def ListSubscriptions(self, request, context):
        out = marketdata_pb2.ListSubscriptionsResponse()
        for token, reg in sorted((await self.app.bus.registry()).items()):
            inst = (common_pb2.Instrument.FromString(reg.meta) if reg.meta
                    else common_pb2.Instrument(instrument_token=token))
            out.subscriptions.add(instrument=inst, mode=_MODE_ENUMS[reg.mode],
                                  candle_intervals=reg.intervals)
        return out

    # --- streams ----------------------------------------------------------------------------
    async def StreamTicks(self, request, context) -> AsyncIterator[bytes]:
        """Serialized StreamTicksResponse messages (passed through by the handler)."""
        tokens = _tokens(request.instrument_tokens)
        sub = self.app.hub.open_ticks(tokens or None, _queue_size(request.queue_size))
        try:
            # registered: tell the caller now (the gateway's /ws/market waits for it), not
            # with the first tick, which may be a market session away
            await context.send_initial_metadata(())
            while True:
                msg = await sub.next_message()
                if msg is None:
                    return
                yield msg
        finally:
            self.app.hub.close_ticks(sub)

    async def StreamCandles(self, request, context):
        tokens = _tokens(request.instrument_tokens)
        interval = parse_interval(request.interval)
        if not interval.is_intraday:
            raise errors.InvalidInput("candles from ticks are intraday (minute … 60minute)",
                                      field="interval")
        if request.include_forming:
            raise errors.InvalidInput("forming candles are not streamed yet; closed ones are",
                                      field="include_forming")
        # bar starts are whole seconds, so "after s.n" is "after s"
        since = request.since.seconds if has_timestamp(request.since) else None
        sub, until = self.app.hub.open_candles(tokens or None, interval.name, since,
                                               _queue_size(request.queue_size))
        try:
            await context.send_initial_metadata(())  # registered (see StreamTicks)
            if since is not None:
                async for e in self.app.bus.read_log(until=until):
                    if sub.wants(e):
                        sub.delivered(e)
                        yield _candle_response(e, interval.name)
            while True:
                entries = await sub.next_entries()
                if entries is None:
                    return
                for e in entries:
                    sub.delivered(e)
                    yield _candle_response(e, interval.name)
        finally:
            self.app.hub.close_candles(sub)

    # --- last prices and status -------------------------------------------------------------
    async def GetLtp(self, request, context):
        insts = await self._resolve(request.instruments)
        found = await self.app.bus.get_ltps(i.instrument_token for i in insts)
        out = marketdata_pb2.GetLtpResponse()
        for inst in insts:
            ltp = found.get(inst.instrument_token)
            if ltp is None:
                continue
            paise = round(ltp.price * 100 / tc.price_divisor(ltp.token))
            p = out.prices.add(instrument_token=ltp.token, last_price_paise=paise)
            if ltp.exchange_ts:
                p.ts.seconds = ltp.exchange_ts
            else:  # ltp / quote modes carry no exchange time: when it was read off the socket
                p.ts.FromNanoseconds(ltp.received_ns)
        return out

    async def GetStatus(self, request, context):
        st = self.app.feed_status()
        out = marketdata_pb2.GetStatusResponse(
            active=bool(st.get("active")), replica_id=self.app.replica_id,
            active_replica_id=st.get("active_replica_id") or "",
            subscribed_instruments=len(await self.app.bus.registry()),
            stream_subscribers=self.app.hub.subscribers)
        for c in st.get("connections", ()):
            out.connections.add(index=c.get("index", 0), state=c.get("state", ""),
                                instruments=c.get("instruments", 0),
                                reconnects=c.get("reconnects", 0), error=c.get("error") or "")
        return out


def make_spec(app: MarketdataApp) -> ServiceSpec:
    servicer = MarketdataServicer(app)

    def register(server: grpc.aio.Server) -> None:
        marketdata_pb2_grpc.add_MarketdataServiceServicer_to_server(servicer, server)
        # StreamTicks again with a pass-through serializer for the hub's pre-encoded bytes;
        # the later registration replaces the generated one (as history's GetCandles does).
        server.add_registered_method_handlers(SERVICE_NAME, {
            "StreamTicks": grpc.unary_stream_rpc_method_handler(
                servicer.StreamTicks,
                request_deserializer=marketdata_pb2.StreamTicksRequest.FromString,
                response_serializer=bytes),
        })

    return ServiceSpec(name="marketdata", register=register, service_names=[SERVICE_NAME],
                       on_start=app.start, on_stop=app.stop)


def build_spec(settings: Settings, *,
               ingester_factory: IngesterFactory | None = None) -> ServiceSpec:
    """The service as `run_service` starts it. The lead's Ingester plugs in through
    `ingester_factory(app)`; without one this replica only fans out."""
    return make_spec(MarketdataApp(settings, ingester_factory=ingester_factory))
