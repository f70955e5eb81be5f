"""Symbol references resolve through history's LookupInstrument over gRPC. The history side is
a one-method HistoryService on a real socket answering from a dict (the real history service
needs PostgreSQL and an instrument dump; its LookupInstrument is tested with it), with the error
a missing symbol gets there: NOT_FOUND naming `symbol`."""

from __future__ import annotations

import asyncio

import grpc
import pytest

from mandi.core.errors import NotFound
from mandi.platform.config import load_settings
from mandi.platform.grpc_server import ServerReady, ServiceSpec, serve
from mandi.v1 import common_pb2, history_pb2, history_pb2_grpc, marketdata_pb2
from tests.integration.marketdata.fanout_kit import served

pytestmark = [pytest.mark.integration]

INFY = common_pb2.Instrument(instrument_token=408065, tradingsymbol="INFY",
                             exchange=common_pb2.EXCHANGE_NSE, tick_size_paise=5)


class _Lookup(history_pb2_grpc.HistoryServiceServicer):
    async def LookupInstrument(self, request, context):
        if (request.symbol.exchange, request.symbol.tradingsymbol) != (common_pb2.EXCHANGE_NSE,
                                                                       "INFY"):
            raise NotFound(f"no instrument {request.symbol.tradingsymbol}", field="symbol")
        return history_pb2.LookupInstrumentResponse(instrument=INFY)


def _sym(symbol: str) -> common_pb2.InstrumentRef:
    return common_pb2.InstrumentRef(symbol=common_pb2.SymbolRef(
        exchange=common_pb2.EXCHANGE_NSE, tradingsymbol=symbol))


async def test_subscribe_when_symbol_given_resolves_it_and_lists_it_by_name() -> None:
    servicer = _Lookup()
    spec = ServiceSpec("history", lambda s: history_pb2_grpc.add_HistoryServiceServicer_to_server(
        servicer, s), [history_pb2.DESCRIPTOR.services_by_name["HistoryService"].full_name])
    ready, stop = ServerReady(), asyncio.Event()
    task = asyncio.create_task(serve(spec, load_settings({}), port=0, metrics_port=-1,
                                     ready=ready, stop=stop))
    await asyncio.wait_for(ready.wait(), 10)
    try:
        async with served(history_addr=f"127.0.0.1:{ready.port}") as md:
            r = await md.stub.Subscribe(marketdata_pb2.SubscribeRequest(
                instruments=[_sym("INFY")], mode=marketdata_pb2.TICK_MODE_LTP))
            assert [i.instrument_token for i in r.subscribed] == [408065]
            listed = await md.stub.ListSubscriptions(marketdata_pb2.ListSubscriptionsRequest())
            assert [s.instrument.tradingsymbol for s in listed.subscriptions] == ["INFY"]
            with pytest.raises(grpc.aio.AioRpcError) as exc:
                await md.stub.Subscribe(marketdata_pb2.SubscribeRequest(
                    instruments=[_sym("INFY"), _sym("NOPE")]))
            assert exc.value.code() == grpc.StatusCode.NOT_FOUND
            assert exc.value.details().startswith("instruments[1].symbol: ")
            assert (await md.bus.registry())[408065].refs == 1  # the failed call added nothing
    finally:
        stop.set()
        await task
