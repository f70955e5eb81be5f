"""gRPC surface of the execution service: converts messages, checks the caller's role for admin
RPCs, and delegates to the domain modules beside it. Domain errors propagate as
mandi.core.errors classes; the platform interceptor maps them to status codes."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import grpc

from mandi.core.clock import to_ist
from mandi.core.errors import InvalidInput, PermissionDenied
from mandi.platform.account_scope import scoped_by_account
from mandi.platform.config import Settings
from mandi.platform.grpc_client import EVENT_CURSOR_KEY
from mandi.platform.grpc_server import ServiceSpec
from mandi.platform.service_auth import current_principal
from mandi.v1 import execution_pb2 as pb
from mandi.v1 import execution_pb2_grpc
from services.execution import (
    convert,
    dashboards,
    emergency,
    gtt,
    outbox,
    pnl_import,
    reconcile,
    snapshot,
)
from services.execution.engine import Engine
from services.execution.ledger import open_positions
from services.execution.orders import STATUSES, OrderRepo

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["ExecutionService"].full_name


def is_admin(context: grpc.aio.ServicerContext) -> bool:
    """True only for a call whose signed principal (verified by the platform interceptor,
    mandi/platform/service_auth.py) is an admin; a service (svc:*) never is."""
    return current_principal().is_admin


def _need(value: str, field: str) -> str:
    if not value:
        raise InvalidInput(f"{field} is required", field=field)
    return value


@scoped_by_account(pb.DESCRIPTOR.services_by_name["ExecutionService"])  # users: their accounts
class ExecutionServicer(execution_pb2_grpc.ExecutionServiceServicer):
    def __init__(self, holder: dict[str, Any]) -> None:
        self._holder = holder  # filled by on_start (the engine needs the event loop)

    @property
    def engine(self) -> Engine:
        return self._holder["engine"]

    async def _account(self, account_id: str) -> None:
        await self.engine.accounts.get(_need(account_id, "account_id"))

    async def _order(self, account_id: str, row: Any) -> pb.Order:
        kids = await OrderRepo.children(self.engine.pool, account_id, row["order_id"])
        return convert.order_to_proto(row, kids)

    # --- orders ----------------------------------------------------------------------------
    async def PlaceOrder(self, request: pb.PlaceOrderRequest, context: Any) -> Any:
        spec = convert.spec_from_proto(request.order)
        row, dup = await self.engine.place(_need(request.account_id, "account_id"), spec)
        if dup or row["quantity"] != spec.quantity or row["status"] == "PENDING" or \
                row["broker_order_id"] is None:
            order = await self._order(request.account_id, row)  # may be a sliced parent
        else:
            order = convert.order_to_proto(row)
        return pb.PlaceOrderResponse(order=order, duplicate=dup)

    async def ModifyOrder(self, request: pb.ModifyOrderRequest, context: Any) -> Any:
        row = await self.engine.modify(
            _need(request.account_id, "account_id"), _need(request.order_id, "order_id"),
            quantity=request.quantity, price_paise=request.price_paise,
            trigger_price_paise=request.trigger_price_paise,
            order_type=convert.ORDER_TYPES.get(request.order_type, ""))
        return pb.ModifyOrderResponse(order=await self._order(request.account_id, row))

    async def CancelOrder(self, request: pb.CancelOrderRequest, context: Any) -> Any:
        row = await self.engine.cancel(_need(request.account_id, "account_id"),
                                       _need(request.order_id, "order_id"))
        return pb.CancelOrderResponse(order=await self._order(request.account_id, row))

    async def ListOrders(self, request: pb.ListOrdersRequest, context: Any) -> Any:
        await self._account(request.account_id)
        status = next((s for s in STATUSES if convert.STATUS_ENUM[s] == request.status), "")
        size = min(request.page.page_size or 100, 500)
        offset = int(request.page.page_token or 0) if (request.page.page_token or "0").isdigit() \
            else 0
        rows = await self.engine.pool.fetch(
            "SELECT * FROM orders WHERE account_id = $1 AND parent_order_id IS NULL"
            " AND ($2 = '' OR status = $2) ORDER BY created_at DESC, order_id LIMIT $3 OFFSET $4",
            request.account_id, status, size + 1, offset)
        more = len(rows) > size
        orders = [await self._order(request.account_id, r) for r in rows[:size]]
        return pb.ListOrdersResponse(orders=orders, page={"next_page_token": str(offset + size)
                                                          if more else ""})

    async def GetOrder(self, request: pb.GetOrderRequest, context: Any) -> Any:
        aid = _need(request.account_id, "account_id")
        row = await OrderRepo.get(self.engine.pool, aid, _need(request.order_id, "order_id"))
        events = await self.engine.pool.fetch(
            "SELECT * FROM order_events WHERE account_id = $1 AND order_id = $2 ORDER BY id",
            aid, request.order_id)
        return pb.GetOrderResponse(order=await self._order(aid, row),
                                   events=[convert.event_to_proto(dict(e)) for e in events])

    async def StreamOrderEvents(self, request: pb.StreamOrderEventsRequest,
                                context: Any) -> AsyncIterator[pb.OrderEvent]:
        """The account's order_events rows from the table (the outbox, services/execution/
        outbox.py): after `since_event_id` (0: from now on; < 0: all of them); then live."""
        await self._account(request.account_id)

        async def ready(cursor: int) -> None:
            # initial metadata once subscribed: the gateway waits for it before its snapshot;
            # it names the cursor the stream starts from, so a client can resume from there
            await context.send_initial_metadata(((EVENT_CURSOR_KEY, str(cursor)),))

        async for row in outbox.relay(
                self.engine.pool, self.engine.events.redis,
                self.engine.events.channel(request.account_id),
                request.account_id, request.since_event_id, ready=ready):
            yield convert.event_to_proto(row)

    # --- ledger ----------------------------------------------------------------------------
    async def Positions(self, request: pb.PositionsRequest, context: Any) -> Any:
        await self._account(request.account_id)
        rows = await open_positions(self.engine.pool, request.account_id,
                                    include_closed=request.include_closed)
        gtts = await self.engine.pool.fetch(
            "SELECT * FROM gtts WHERE account_id = $1 AND status = 'active'", request.account_id)
        by_key = {(g["exchange"], g["tradingsymbol"], g["product"]): g for g in gtts}
        return pb.PositionsResponse(positions=[
            convert.position_to_proto(r, by_key.get((r["exchange"], r["tradingsymbol"],
                                                     r["product"]))) for r in rows])

    async def Trades(self, request: pb.TradesRequest, context: Any) -> Any:
        await self._account(request.account_id)
        rows, summary, token = await dashboards.trades(
            self.engine.pool, request.account_id, from_date=request.from_date,
            to_date=request.to_date, symbol=request.symbol, segment=request.segment,
            page_size=request.page.page_size, page_token=request.page.page_token)
        return pb.TradesResponse(
            trades=[convert.trade_to_proto(r) for r in rows],
            summary=pb.TradesSummary(trades=summary.trades,
                                     total_profit_paise=summary.total_profit_paise,
                                     total_loss_paise=summary.total_loss_paise,
                                     net_paise=summary.net_paise, win_rate=summary.win_rate),
            page={"next_page_token": token, "total": summary.trades})

    async def PnlSummary(self, request: pb.PnlSummaryRequest, context: Any) -> Any:
        await self._account(request.account_id)
        c = await dashboards.cumulative(self.engine.pool, self.engine.clock, request.account_id)
        return pb.PnlSummaryResponse(all_time_paise=c["all_time"], year_paise=c["year"],
                                     month_paise=c["month"], week_paise=c["week"],
                                     day_paise=c["day"])

    async def PnlCalendar(self, request: pb.PnlCalendarRequest, context: Any) -> Any:
        await self._account(request.account_id)
        year = to_ist(self.engine.clock.now()).year  # a missing end: the current IST year's
        rows = await dashboards.calendar(self.engine.pool, request.account_id,
                                         request.from_date or f"{year}-01-01",
                                         request.to_date or f"{year}-12-31")
        return pb.PnlCalendarResponse(days=[
            pb.DailyPnl(date=r["trade_date"].isoformat(), pnl_paise=int(r["pnl"]),
                        trades=int(r["trades"])) for r in rows])

    async def DailyStats(self, request: pb.DailyStatsRequest, context: Any) -> Any:
        await self._account(request.account_id)
        d = await dashboards.daily(self.engine.pool, self.engine.clock, request.account_id,
                                   request.date)
        return pb.DailyStatsResponse(**d)

    # --- GTT -------------------------------------------------------------------------------
    async def CreateGtt(self, request: pb.CreateGttRequest, context: Any) -> Any:
        g = request.gtt
        row = await gtt.create(
            self.engine, _need(request.account_id, "account_id"),
            exchange=convert.exchange_name(g.symbol.exchange, field="symbol.exchange"),
            symbol=_need(g.symbol.tradingsymbol.upper(), "symbol"),
            product=convert.PRODUCTS.get(g.product, "CNC"), legs=convert.legs_from_proto(g),
            last_price=g.last_price_paise)
        return pb.CreateGttResponse(gtt=convert.gtt_to_proto(row))

    async def ModifyGtt(self, request: pb.ModifyGttRequest, context: Any) -> Any:
        row = await gtt.modify(self.engine, _need(request.account_id, "account_id"),
                               _need(request.gtt.gtt_id, "gtt_id"),
                               convert.legs_from_proto(request.gtt))
        return pb.ModifyGttResponse(gtt=convert.gtt_to_proto(row))

    async def DeleteGtt(self, request: pb.DeleteGttRequest, context: Any) -> Any:
        row = await gtt.delete(self.engine, _need(request.account_id, "account_id"),
                               _need(request.gtt_id, "gtt_id"))
        return pb.DeleteGttResponse(gtt=convert.gtt_to_proto(row))

    async def ListGtts(self, request: pb.ListGttsRequest, context: Any) -> Any:
        await self._account(request.account_id)
        rows = await gtt.list_gtts(self.engine, request.account_id,
                                   list(request.entry_order_ids))
        return pb.ListGttsResponse(gtts=[convert.gtt_to_proto(r) for r in rows])

    # --- safety ----------------------------------------------------------------------------
    async def EmergencyStop(self, request: pb.EmergencyStopRequest, context: Any) -> Any:
        r = await emergency.emergency_stop(self.engine, _need(request.account_id, "account_id"),
                                           reason=request.reason,
                                           actor=request.actor or "api")
        return pb.EmergencyStopResponse(orders_cancelled=r.orders_cancelled,
                                        gtts_deleted=r.gtts_deleted,
                                        positions_squared_off=r.positions_squared_off,
                                        blocked=r.blocked, failures=r.failures)

    async def ResetEmergencyStop(self, request: pb.ResetEmergencyStopRequest,
                                 context: Any) -> Any:
        blocked = await emergency.reset(self.engine, _need(request.account_id, "account_id"),
                                        actor=request.actor or "admin",
                                        is_admin=is_admin(context))
        return pb.ResetEmergencyStopResponse(blocked=blocked)

    async def GetRiskLimits(self, request: pb.GetRiskLimitsRequest, context: Any) -> Any:
        lim = await self.engine.accounts.limits(_need(request.account_id, "account_id"))
        await self._account(request.account_id)
        return pb.GetRiskLimitsResponse(limits=convert.limits_to_proto(lim))

    async def SetRiskLimits(self, request: pb.SetRiskLimitsRequest, context: Any) -> Any:
        if not is_admin(context):
            raise PermissionDenied("risk limits are changed only by an admin", field="actor")
        aid = _need(request.account_id, "account_id")
        current = await self.engine.accounts.limits(aid)
        given = convert.limits_from_proto(request.limits)
        merged = replace(given, **{k: getattr(current, k) for k, v in given.__dict__.items()
                                   if isinstance(v, (int, float)) and not isinstance(v, bool)
                                   and v == 0})
        lim = await self.engine.accounts.set_limits(aid, merged, request.actor or "admin")
        return pb.SetRiskLimitsResponse(limits=convert.limits_to_proto(lim))

    async def Reconcile(self, request: pb.ReconcileRequest, context: Any) -> Any:
        diffs = await reconcile.reconcile(self.engine, _need(request.account_id, "account_id"),
                                          actor="api")
        return pb.ReconcileResponse(differences=[
            pb.ReconcileDifference(kind=d.kind, key=d.key, action=d.action, detail=d.detail)
            for d in diffs])

    async def ListAccounts(self, request: pb.ListAccountsRequest, context: Any) -> Any:
        out = []
        who = current_principal()
        for a in await self.engine.accounts.list():
            if not who.may_use(a.account_id):
                continue  # a user sees only the accounts granted to it
            lim = await self.engine.accounts.limits(a.account_id)
            out.append(pb.Account(account_id=a.account_id, broker=convert.BROKER_ENUM[a.broker],
                                  name=a.name, limits=convert.limits_to_proto(lim)))
        return pb.ListAccountsResponse(accounts=out)

    async def ImportPnl(self, request: pb.ImportPnlRequest, context: Any) -> Any:
        await self._account(request.account_id)
        r = await pnl_import.import_pnl(self.engine.pool, request.account_id, request.data,
                                        request.format)
        return pb.ImportPnlResponse(records=r.imported, duplicates=r.duplicates,
                                    rejected=r.rejected)

    async def GetAccountSnapshot(self, request: pb.GetAccountSnapshotRequest,
                                 context: Any) -> Any:
        return await snapshot.snapshot(self.engine, _need(request.account_id, "account_id"))

    async def ListAuditLogs(self, request: pb.ListAuditLogsRequest, context: Any) -> Any:
        return await snapshot.audit_logs(self.engine, request)


def build_spec(settings: Settings) -> ServiceSpec:
    from services.execution.wiring import Runtime

    holder: dict[str, Any] = {}
    servicer = ExecutionServicer(holder)
    runtime = Runtime(settings, fault_point=settings.execution_test_fault,
                      poll_interval_s=settings.execution_poll_s)

    async def on_start() -> None:
        holder["engine"] = await runtime.start()

    async def on_stop() -> None:
        with contextlib.suppress(asyncio.CancelledError):
            await runtime.stop()

    return ServiceSpec(
        name="execution",
        register=lambda server: execution_pb2_grpc.add_ExecutionServiceServicer_to_server(
            servicer, server),
        service_names=[SERVICE_NAME],
        on_start=on_start,
        on_stop=on_stop,
    )
