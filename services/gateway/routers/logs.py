"""Seed 002's `GET /api/v1/logs?level=&limit=&before=`: the recent log records a caller may see,
newest first — the log records of the caller's bots (strategy's `bot_logs`; `bot_id=` narrows
to one bot) and execution's audit log of the caller's accounts (risk rejections, GTTs,
emergency stops, reconciliation …; an admin's covers every account). `source` says which.

Audit entries carry no level; it follows from the action: `*_failed` and unsettled expiries are
`error`, refusals, loss-limit hits and emergency stops `warning`, the rest `info`. `level` is the
lowest wanted (debug, info, warning, error).

Pages: `next_before` (opaque, "<bot cursor>.<audit cursor>") continues where the page ended in
both sources at once; a bare bot-log id, as earlier versions gave, still works. If execution
is unreachable the bot records are still served and `unavailable` says so.
"""

from __future__ import annotations

from typing import Annotated, Any

import grpc
from fastapi import APIRouter, Query
from google.protobuf import json_format

from mandi.core.errors import InvalidInput
from mandi.platform.protoconv import from_timestamp
from mandi.v1 import execution_pb2 as pb
from services.gateway.auth.enforce import Me
from services.gateway.routers.bots import log_json, logs_request
from services.gateway.routers.strategy import Caller, Stubs

router = APIRouter(prefix="/api/v1", tags=["bots"])

LEVELS = ("debug", "info", "warning", "error")
WARNING_ACTIONS = ("rejected", "emergency_stop", "daily_loss_limit_hit", "loss_limit_square_off")
DONE = -1  # a source's cursor once it has nothing older
UNREACHABLE = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)


def audit_level(action: str) -> str:
    if action.endswith("_failed") or action == "expiry_unsettled":
        return "error"
    if any(w in action for w in WARNING_ACTIONS):
        return "warning"
    return "info"


def audit_json(e: pb.AuditLogEntry) -> dict[str, Any]:
    detail = json_format.MessageToDict(e.detail)
    return {"id": f"audit-{e.id}", "source": "audit", "account_id": e.account_id,
            "ts": from_timestamp(e.ts).isoformat(), "level": audit_level(e.action),
            "event": e.action, "actor": e.actor,
            "message": f"{e.action} by {e.actor}" + (f" ({e.account_id})" if e.account_id else ""),
            "fields": detail}


def _cursor(before: str | None) -> tuple[int, int]:
    if not before:
        return 0, 0
    bot, sep, audit = before.partition(".")
    try:
        pair = int(bot), int(audit) if sep else 0
    except ValueError:
        raise InvalidInput("before must be the next_before of the previous page",
                           field="before") from None
    if min(pair) < DONE or max(pair) > 2**63 - 1:
        raise InvalidInput("before must be the next_before of the previous page", field="before")
    return pair


def _advance(items: list[dict[str, Any]], taken: int, cursor: int, more: bool,
             id_of: Any) -> int:
    """A source's next cursor once its first `taken` items went into the page."""
    if taken < len(items):
        return id_of(items[taken - 1]) if taken else cursor
    if not more:
        return DONE
    return id_of(items[-1]) if items else cursor


@router.get("/logs")
async def logs(stubs: Stubs, md: Caller, who: Me, bot_id: str | None = None,
               level: str | None = None, since: str | None = None,
               before: Annotated[str | None, Query(max_length=48)] = None,
               limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> dict[str, Any]:
    wanted = (level or "debug").strip().lower()
    if wanted not in LEVELS:
        raise InvalidInput(f"level must be one of {', '.join(LEVELS)}", field="level")
    bot_cur, audit_cur = _cursor(before)
    bots: list[dict[str, Any]] = []
    bots_more, bots_read, unavailable = False, True, []
    if bot_cur != DONE:
        try:
            resp = await stubs.strategy.ListBotLogs(
                logs_request(bot_id or "", level, since, bot_cur or None, limit), metadata=md)
            bots = [{**log_json(r), "source": "bot"} for r in resp.logs]
            bots_more = bool(resp.next_before_id)
        except grpc.aio.AioRpcError as exc:
            if exc.code() not in UNREACHABLE or bot_id:
                raise
            unavailable.append("bot: the strategy service is not reachable")
            bots_read = False
    audits: list[tuple[int, dict[str, Any] | None]] = []  # (id, record or None if filtered)
    audit_more = False
    accounts = [] if who.is_admin else sorted(who.accounts)
    if audit_cur != DONE and not bot_id and (who.is_admin or accounts):
        try:
            resp_a = await stubs.execution.ListAuditLogs(pb.ListAuditLogsRequest(
                account_ids=accounts, before_id=max(audit_cur, 0), limit=limit), metadata=md)
            floor = LEVELS.index(wanted)
            audits = [(e.id, rec if LEVELS.index(rec["level"]) >= floor else None)
                      for e in resp_a.entries for rec in [audit_json(e)]]
            audit_more = bool(resp_a.next_before_id)
        except grpc.aio.AioRpcError as exc:
            if exc.code() not in UNREACHABLE:
                raise
            unavailable.append("audit: the execution service is not reachable")
            audit_more = True  # not read: keep its cursor
    # merge newest first; filtered audit entries are consumed as they are passed
    page: list[dict[str, Any]] = []
    bi = ai = 0
    while len(page) < limit:
        while ai < len(audits) and audits[ai][1] is None:
            ai += 1
        b = bots[bi] if bi < len(bots) else None
        a = audits[ai][1] if ai < len(audits) else None
        if b is None and a is None:
            break
        if a is None or (b is not None and b["ts"] >= a["ts"]):
            page.append(b)
            bi += 1
        else:
            page.append(a)
            ai += 1
    while len(page) >= limit and ai < len(audits) and audits[ai][1] is None:
        ai += 1
    next_bot = (_advance(bots, bi, bot_cur, bots_more, lambda r: r["id"])
                if bots_read and bot_cur != DONE else bot_cur)
    next_audit = _advance(audits, ai, audit_cur, audit_more, lambda r: r[0]) \
        if audit_cur != DONE else DONE
    done = next_bot == DONE and next_audit == DONE
    return {"success": True, "logs": page, "count": len(page),
            "next_before": None if done else f"{next_bot}.{next_audit}",
            "unavailable": unavailable}
