"""The account snapshot (seed 002's monitoring card, `/api/v1/account`) and the audit log reader.

Margins and holdings come from the account's broker — Kite's `/user/margins` and
`/portfolio/holdings`, or the paper broker's own book — and positions and today's P&L from the
ledger (the same figures as `Positions` and `DailyStats`). A broker part that fails (an expired
Kite session, Kite down) does not fail the snapshot: it is left empty and named in
`unavailable` with the reason, so the card still shows what the ledger knows.
"""

from __future__ import annotations

import json
from typing import Any

from google.protobuf import struct_pb2

from mandi.core.errors import MandiError
from mandi.platform.protoconv import exchange_enum, to_timestamp
from mandi.platform.service_auth import current_principal
from mandi.v1 import common_pb2
from mandi.v1 import execution_pb2 as pb
from services.execution import convert, dashboards
from services.execution.engine import Engine
from services.execution.ledger import open_positions

MAX_AUDIT_PAGE = 1000


def _paise(value: Any) -> int:
    try:
        return round(float(value or 0) * 100)
    except (TypeError, ValueError):
        return 0


def margins_to_proto(raw: dict[str, Any]) -> list[pb.SegmentMargins]:
    """Kite's margins answer (rupees, per segment) as paise."""
    out = []
    for segment in ("equity", "commodity"):
        m = raw.get(segment)
        if not isinstance(m, dict):
            continue
        avail, used = m.get("available") or {}, m.get("utilised") or {}
        out.append(pb.SegmentMargins(
            segment=segment, enabled=bool(m.get("enabled")), net_paise=_paise(m.get("net")),
            available_cash_paise=_paise(avail.get("cash")),
            opening_balance_paise=_paise(avail.get("opening_balance")),
            live_balance_paise=_paise(avail.get("live_balance")),
            collateral_paise=_paise(avail.get("collateral")),
            utilised_debits_paise=_paise(used.get("debits")),
            utilised_exposure_paise=_paise(used.get("exposure")),
            utilised_span_paise=_paise(used.get("span")),
            utilised_option_premium_paise=_paise(used.get("option_premium")),
            m2m_realised_paise=_paise(used.get("m2m_realised")),
            m2m_unrealised_paise=_paise(used.get("m2m_unrealised"))))
    return out


def holding_to_proto(h: dict[str, Any]) -> pb.Holding:
    return pb.Holding(
        symbol=common_pb2.SymbolRef(exchange=exchange_enum(str(h.get("exchange") or "NSE")),
                                    tradingsymbol=str(h.get("tradingsymbol") or "")),
        quantity=int(h.get("quantity") or 0), t1_quantity=int(h.get("t1_quantity") or 0),
        average_price_paise=_paise(h.get("average_price")),
        last_price_paise=_paise(h.get("last_price")), pnl_paise=_paise(h.get("pnl")),
        day_change_paise=_paise(h.get("day_change")), isin=str(h.get("isin") or ""))


async def snapshot(engine: Engine, account_id: str) -> pb.GetAccountSnapshotResponse:
    account, broker = await engine.account(account_id)
    unavailable: list[str] = []
    margins: list[pb.SegmentMargins] = []
    holdings: list[pb.Holding] = []
    try:
        margins = margins_to_proto(await broker.margins())
    except MandiError as exc:
        unavailable.append(f"margins: {exc.message}")
    try:
        holdings = [holding_to_proto(h) for h in await broker.holdings()]
    except MandiError as exc:
        unavailable.append(f"holdings: {exc.message}")
    rows = await open_positions(engine.pool, account_id)
    day = await dashboards.daily(engine.pool, engine.clock, account_id)
    return pb.GetAccountSnapshotResponse(
        account_id=account_id, broker=convert.BROKER_ENUM[account.broker], margins=margins,
        holdings=holdings, positions=[convert.position_to_proto(r, None) for r in rows],
        day_realized_pnl_paise=day["realized_pnl_paise"],
        day_unrealized_pnl_paise=day["unrealized_pnl_paise"],
        as_of=to_timestamp(engine.clock.now()), unavailable=unavailable)


async def audit_logs(engine: Engine, request: pb.ListAuditLogsRequest
                     ) -> pb.ListAuditLogsResponse:
    """Newest first. A signed-in non-admin user reads only its granted accounts, whatever it
    asks; no accounts named means every account, for admins, services and the system."""
    who = current_principal()
    wanted = [a for a in request.account_ids if a]
    if not who.all_accounts:
        wanted = [a for a in (wanted or sorted(who.accounts)) if a in who.accounts]
        if not wanted:
            return pb.ListAuditLogsResponse()
    limit = max(1, min(request.limit or 100, MAX_AUDIT_PAGE))
    rows = await engine.pool.fetch(
        "SELECT id, account_id, ts, actor, action, detail FROM audit_logs"
        " WHERE (cardinality($1::text[]) = 0 OR account_id = ANY($1::text[]))"
        " AND ($2::bigint = 0 OR id < $2) ORDER BY id DESC LIMIT $3",
        wanted, request.before_id, limit + 1)
    out = []
    for r in rows[:limit]:
        detail = struct_pb2.Struct()
        raw = r["detail"]
        value = json.loads(raw) if isinstance(raw, str) else raw
        if isinstance(value, dict):
            detail.update(json.loads(json.dumps(value, default=str)))
        out.append(pb.AuditLogEntry(id=r["id"], account_id=r["account_id"],
                                    ts=to_timestamp(r["ts"]), actor=r["actor"],
                                    action=r["action"], detail=detail))
    more = len(rows) > limit
    return pb.ListAuditLogsResponse(entries=out, next_before_id=out[-1].id if more else 0)
