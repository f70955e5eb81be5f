"""`GET /api/v1/account?account_id=`: the account snapshot of seed 002's monitoring page —
margins and holdings from the broker (Kite, or the paper broker's own book), positions and
today's P&L from execution's ledger. Amounts in rupees like the rest of `/api/v1`, each also
in paise (`*_paise`) where the card adds them up.

The guard answers 404 for an account the caller does not hold. A broker part that could not be
read (an expired Kite session) is empty and named in `unavailable` rather than failing the call.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from mandi.platform.protoconv import EXCHANGE_NAMES
from mandi.v1 import execution_pb2 as pb
from services.gateway.routers.strategy import Caller
from services.gateway.routers.trading import Account, Stubs, _ts, position_json, rupees

router = APIRouter(prefix="/api/v1", tags=["trading"])
BROKERS = {pb.BROKER_KIND_KITE: "kite", pb.BROKER_KIND_PAPER: "paper"}


def margins_json(m: pb.SegmentMargins) -> dict[str, Any]:
    return {"enabled": m.enabled, "net": rupees(m.net_paise),
            "available": {"cash": rupees(m.available_cash_paise),
                          "opening_balance": rupees(m.opening_balance_paise),
                          "live_balance": rupees(m.live_balance_paise),
                          "collateral": rupees(m.collateral_paise)},
            "utilised": {"debits": rupees(m.utilised_debits_paise),
                         "exposure": rupees(m.utilised_exposure_paise),
                         "span": rupees(m.utilised_span_paise),
                         "option_premium": rupees(m.utilised_option_premium_paise),
                         "m2m_realised": rupees(m.m2m_realised_paise),
                         "m2m_unrealised": rupees(m.m2m_unrealised_paise)}}


def holding_json(h: pb.Holding) -> dict[str, Any]:
    return {"exchange": EXCHANGE_NAMES.get(h.symbol.exchange), "symbol": h.symbol.tradingsymbol,
            "isin": h.isin or None, "quantity": h.quantity, "t1_quantity": h.t1_quantity,
            "average_price": rupees(h.average_price_paise),
            "last_price": rupees(h.last_price_paise),
            "pnl": rupees(h.pnl_paise), "day_change": rupees(h.day_change_paise)}


def account_json(s: pb.GetAccountSnapshotResponse) -> dict[str, Any]:
    """The snapshot as `GET /api/v1/account` answers it (and `/ws/account` sends it)."""
    day = s.day_realized_pnl_paise + s.day_unrealized_pnl_paise
    return {"success": True, "account_id": s.account_id, "broker": BROKERS.get(s.broker),
            "as_of": _ts(s.as_of), "margins": {m.segment: margins_json(m) for m in s.margins},
            "holdings": [holding_json(h) for h in s.holdings],
            "positions": [position_json(p) for p in s.positions],
            "pnl": {"today": rupees(day), "today_paise": day,
                    "realized": rupees(s.day_realized_pnl_paise),
                    "realized_paise": s.day_realized_pnl_paise,
                    "unrealized": rupees(s.day_unrealized_pnl_paise),
                    "unrealized_paise": s.day_unrealized_pnl_paise},
            "unavailable": list(s.unavailable)}


@router.get("/account")
async def account(stubs: Stubs, md: Caller, account_id: Account) -> dict[str, Any]:
    return account_json(await stubs.execution.GetAccountSnapshot(
        pb.GetAccountSnapshotRequest(account_id=account_id), metadata=md))
