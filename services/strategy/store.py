"""PostgreSQL access of the strategy service: strategy definitions, backtest jobs and results.

Everything SQL lives here so the job runner and the servicer speak in plain records. Jobs are
claimed with `FOR UPDATE SKIP LOCKED` and held by a lease that the worker renews with every
progress update; a job whose lease ran out (its process died) is claimable again, which is what
makes a backtest survive a restart.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg

from mandi.core.errors import AlreadyExists, InvalidInput, NotFound

ACTIVE_STATES = ("queued", "running")
TERMINAL_STATES = ("done", "failed", "cancelled")


def _encode_metrics(metrics: dict[str, Any]) -> str:
    """JSON for jsonb, which has no Infinity/NaN (profit factor is infinite with no losses)."""
    return json.dumps({k: (repr(v) if isinstance(v, float) and not math.isfinite(v) else v)
                       for k, v in metrics.items()})


def _decode_metrics(text: str | None) -> dict[str, Any] | None:
    if not text:
        return None
    raw = json.loads(text)
    return {k: (float(v) if v in ("inf", "-inf", "nan") else v) for k, v in raw.items()}


def _uuid(value: str, *, what: str, field_name: str = "id") -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise InvalidInput(f"malformed {what} id {value!r}", field=field_name) from None


def _text(value: str) -> str:
    """PostgreSQL text holds no NUL; a filter column keeps the rest (the spec keeps it all)."""
    return value.replace("\x00", "")


# --- strategies ---------------------------------------------------------------------------------
@dataclass
class StrategyRecord:
    id: str
    owner: str
    name: str
    type: str
    params: dict[str, Any] = field(default_factory=dict)
    rules: dict[str, Any] | None = None
    code: str = ""
    version: int = 1
    created_at: datetime | None = None
    updated_at: datetime | None = None


def _strategy(row: asyncpg.Record) -> StrategyRecord:
    return StrategyRecord(
        id=str(row["id"]), owner=row["owner"], name=row["name"], type=row["type"],
        params=json.loads(row["params"]) if row["params"] else {},
        rules=json.loads(row["rules"]) if row["rules"] is not None else None,
        code=row["code"], version=row["version"], created_at=row["created_at"],
        updated_at=row["updated_at"])


class StrategyStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def create(self, rec: StrategyRecord) -> StrategyRecord:
        try:
            row = await self.pool.fetchrow(
                "INSERT INTO strategies (id, owner, name, type, params, rules, code)"
                " VALUES ($1, $2, $3, $4, $5::jsonb, $6::jsonb, $7) RETURNING *",
                uuid.uuid4(), rec.owner, rec.name, rec.type, json.dumps(rec.params),
                None if rec.rules is None else json.dumps(rec.rules), rec.code)
        except asyncpg.UniqueViolationError:
            raise AlreadyExists(f"a strategy named {rec.name!r} already exists",
                                field="name") from None
        return _strategy(row)

    async def get(self, strategy_id: str, *, owner: str | None = None) -> StrategyRecord:
        row = await self.pool.fetchrow(
            "SELECT * FROM strategies WHERE id = $1", _uuid(strategy_id, what="strategy"))
        if row is None or (owner is not None and row["owner"] != owner):
            raise NotFound(f"no strategy {strategy_id}", field="id")
        return _strategy(row)

    async def get_by_name(self, owner: str, name: str) -> StrategyRecord | None:
        row = await self.pool.fetchrow(
            "SELECT * FROM strategies WHERE owner = $1 AND name = $2", owner, name)
        return None if row is None else _strategy(row)

    async def update(self, rec: StrategyRecord) -> StrategyRecord:
        try:
            row = await self.pool.fetchrow(
                "UPDATE strategies SET name = $2, type = $3, params = $4::jsonb,"
                " rules = $5::jsonb, code = $6, version = version + 1, updated_at = now()"
                " WHERE id = $1 RETURNING *",
                _uuid(rec.id, what="strategy"), rec.name, rec.type, json.dumps(rec.params),
                None if rec.rules is None else json.dumps(rec.rules), rec.code)
        except asyncpg.UniqueViolationError:
            raise AlreadyExists(f"a strategy named {rec.name!r} already exists",
                                field="name") from None
        if row is None:
            raise NotFound(f"no strategy {rec.id}", field="id")
        return _strategy(row)

    async def delete(self, strategy_id: str, *, owner: str | None = None) -> None:
        sid = _uuid(strategy_id, what="strategy")
        if owner is None:
            status = await self.pool.execute("DELETE FROM strategies WHERE id = $1", sid)
        else:
            status = await self.pool.execute(
                "DELETE FROM strategies WHERE id = $1 AND owner = $2", sid, owner)
        if status.endswith(" 0"):
            raise NotFound(f"no strategy {strategy_id}", field="id")

    async def list(self, owner: str | None, *, limit: int, offset: int
                   ) -> tuple[list[StrategyRecord], int]:
        rows = await self.pool.fetch(
            "SELECT *, count(*) OVER () AS total FROM strategies"
            " WHERE ($1::text IS NULL OR owner = $1) ORDER BY name, id LIMIT $2 OFFSET $3",
            owner, limit, offset)
        total = rows[0]["total"] if rows else (
            await self.pool.fetchval(
                "SELECT count(*) FROM strategies WHERE ($1::text IS NULL OR owner = $1)", owner))
        return [_strategy(r) for r in rows], int(total)


# --- backtest jobs ------------------------------------------------------------------------------
@dataclass
class BacktestRow:
    id: str
    owner: str
    admin: bool
    spec: bytes
    state: str
    progress: float
    bars_done: int
    bars_total: int
    error: str
    cancel_requested: bool
    attempts: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    metrics: dict[str, Any] | None = None
    kind: str = "backtest"
    # an optimisation's latest ranking (OptimizeProgress); a backtest's results so far
    # (BacktestPartial)
    partial: bytes | None = None


def _backtest(row: asyncpg.Record) -> BacktestRow:
    metrics = row["metrics"] if "metrics" in row.keys() else None
    partial = row["partial"]
    return BacktestRow(
        id=str(row["id"]), owner=row["owner"], admin=row["admin"], spec=bytes(row["spec"]),
        state=row["state"], progress=row["progress"], bars_done=row["bars_done"],
        bars_total=row["bars_total"], error=row["error"],
        cancel_requested=row["cancel_requested"], attempts=row["attempts"],
        created_at=row["created_at"], started_at=row["started_at"],
        finished_at=row["finished_at"], metrics=_decode_metrics(metrics), kind=row["kind"],
        partial=None if partial is None else bytes(partial))


@dataclass
class TradeRow:
    symbol: str
    side: str
    quantity: int
    entry_ts: datetime
    entry_price_paise: int
    exit_ts: datetime | None
    exit_price_paise: int
    gross_pnl_paise: int
    charges_paise: int
    net_pnl_paise: int
    exit_reason: str = ""


@dataclass
class Results:
    metrics: dict[str, Any]
    equity_ts: list[datetime]
    equity_paise: list[int]
    drawdown: list[float]
    trades: list[TradeRow]
    data_source: dict[str, Any] | None = None  # see jobs.data_source


@dataclass(frozen=True)
class HistoryFilter:
    """Which runs a history page lists (empty = any)."""

    state: str = ""
    strategy: str = ""  # type or name
    symbol: str = ""    # EXCHANGE:SYMBOL


def page_token(created_at: datetime, backtest_id: str) -> str:
    """The keyset cursor after a run: opaque to clients, stable while runs are added."""
    raw = f"{created_at.isoformat()}|{backtest_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def parse_page_token(token: str, field_name: str = "page.page_token"
                     ) -> tuple[datetime, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        ts_text, _, id_text = raw.partition("|")
        ts = datetime.fromisoformat(ts_text)
        bid = uuid.UUID(id_text)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidInput("malformed page_token; pass back next_page_token unchanged",
                           field=field_name) from None
    if ts.tzinfo is None:
        raise InvalidInput("malformed page_token; pass back next_page_token unchanged",
                           field=field_name)
    return ts, bid


class LeaseLost(Exception):
    """Another worker owns the job now (this one stalled past its lease); stop quietly."""


_SELECT_BACKTEST = (
    "SELECT b.*, r.metrics FROM backtests b"
    " LEFT JOIN backtest_results r ON r.backtest_id = b.id WHERE b.id = $1")


class BacktestStore:
    def __init__(self, pool: asyncpg.Pool, *, max_attempts: int = 3) -> None:
        self.pool = pool
        self.max_attempts = max_attempts

    async def create(self, owner: str, admin: bool, spec: bytes, *, kind: str = "backtest",
                     strategy_type: str = "", strategy_name: str = "",
                     symbols: list[str] | None = None) -> BacktestRow:
        row = await self.pool.fetchrow(
            "INSERT INTO backtests (id, owner, admin, spec, kind, strategy_type, strategy_name,"
            " symbols) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING *",
            uuid.uuid4(), owner, admin, spec, kind, _text(strategy_type), _text(strategy_name),
            [_text(x) for x in symbols or []])
        return _backtest(row)

    async def history(self, owner: str, flt: HistoryFilter, *, limit: int,
                      after: tuple[datetime, uuid.UUID] | None = None
                      ) -> tuple[list[BacktestRow], int, str]:
        """One page of the owner's backtests, newest first: (rows, total matching, the
        next page's token or "")."""
        where = ("owner = $1 AND kind = 'backtest'"
                 " AND ($2 = '' OR state = $2)"
                 " AND ($3 = '' OR strategy_type = $3 OR strategy_name = $3)"
                 " AND ($4 = '' OR $4 = ANY (symbols))")
        args: list[Any] = [owner, flt.state, flt.strategy, flt.symbol]
        rows = await self.pool.fetch(
            "SELECT b.*, r.metrics FROM backtests b"
            " LEFT JOIN backtest_results r ON r.backtest_id = b.id"
            f" WHERE {where} AND ($5::timestamptz IS NULL OR (created_at, id) < ($5, $6))"
            " ORDER BY created_at DESC, id DESC LIMIT $7",
            *args, after[0] if after else None, after[1] if after else None, limit + 1)
        total = await self.pool.fetchval(f"SELECT count(*) FROM backtests WHERE {where}", *args)
        nxt = ""
        if len(rows) > limit:
            rows = rows[:limit]
            nxt = page_token(rows[-1]["created_at"], str(rows[-1]["id"]))
        return [_backtest(r) for r in rows], int(total), nxt

    async def delete_or_cancel(self, backtest_id: str) -> tuple[str, BacktestRow]:
        """Delete a finished run with its results (cascade); a queued or running one is
        cancelled instead (its worker stops at the next chunk), and a second call once it has
        settled deletes it. Returns ("deleted" | "cancelled", the row)."""
        row = await self.get(backtest_id)
        if row.state in ACTIVE_STATES:
            return "cancelled", await self.request_cancel(backtest_id)
        status = await self.pool.execute(
            "DELETE FROM backtests WHERE id = $1 AND state = ANY ($2::text[])",
            uuid.UUID(row.id), list(TERMINAL_STATES))
        if status.endswith(" 0"):  # it was deleted meanwhile, or claimed again (lease lost)
            return "cancelled", await self.request_cancel(backtest_id)
        return "deleted", row

    async def save_partial(self, backtest_id: str, worker: str, partial: bytes,
                           progress: float) -> None:
        """An optimisation's ranking so far, readable while it runs."""
        await self.pool.execute(
            "UPDATE backtests SET partial = $3, progress = $4, updated_at = now()"
            " WHERE id = $1 AND lease_owner = $2 AND state = 'running'",
            uuid.UUID(backtest_id), worker, partial, progress)

    async def get(self, backtest_id: str) -> BacktestRow:
        row = await self.pool.fetchrow(_SELECT_BACKTEST, _uuid(backtest_id, what="backtest"))
        if row is None:
            raise NotFound(f"no backtest {backtest_id}", field="id")
        return _backtest(row)

    async def claim(self, worker: str, lease_s: float) -> BacktestRow | None:
        """Take the oldest runnable job: queued, or running with an expired lease. Jobs that
        already lost their worker `max_attempts` times fail instead of taking another down;
        flagged-cancelled ones are settled. Each settles in its own transaction so one poison
        job cannot hide the rest of the queue."""
        while True:
            async with self.pool.acquire() as conn, conn.transaction():
                row = await conn.fetchrow(
                    "SELECT id, attempts, cancel_requested FROM backtests"
                    " WHERE state = 'queued' OR (state = 'running' AND lease_until < now())"
                    " ORDER BY created_at FOR UPDATE SKIP LOCKED LIMIT 1")
                if row is None:
                    return None
                if row["cancel_requested"]:
                    await conn.execute(
                        "UPDATE backtests SET state = 'cancelled', finished_at = now(),"
                        " updated_at = now(), lease_owner = NULL WHERE id = $1", row["id"])
                    continue
                if row["attempts"] >= self.max_attempts:
                    await conn.execute(
                        "UPDATE backtests SET state = 'failed', finished_at = now(),"
                        " updated_at = now(), lease_owner = NULL, error = $2 WHERE id = $1",
                        row["id"], f"abandoned after {row['attempts']} attempts (worker lost)")
                    continue
                claimed = await conn.fetchrow(
                    "UPDATE backtests SET state = 'running', attempts = attempts + 1,"
                    " lease_owner = $2, lease_until = now() + make_interval(secs => $3),"
                    " started_at = coalesce(started_at, now()), updated_at = now(),"
                    " progress = 0, bars_done = 0,"  # a backtest restarts from its first bar
                    " partial = CASE WHEN kind = 'backtest' THEN NULL ELSE partial END"
                    " WHERE id = $1 RETURNING *",
                    row["id"], worker, lease_s)
                return _backtest(claimed)

    async def heartbeat(self, backtest_id: str, worker: str, lease_s: float, *,
                        progress: float, bars_done: int, bars_total: int,
                        partial: bytes | None = None) -> bool:
        """Record progress (and a backtest's results so far) and renew the lease; True when
        a cancel was requested."""
        row = await self.pool.fetchrow(
            "UPDATE backtests SET progress = $3, bars_done = $4, bars_total = $5,"
            " lease_until = now() + make_interval(secs => $6), updated_at = now(),"
            " partial = coalesce($7, partial)"
            " WHERE id = $1 AND lease_owner = $2 AND state = 'running'"
            " RETURNING cancel_requested",
            uuid.UUID(backtest_id), worker, progress, bars_done, bars_total, lease_s, partial)
        if row is None:
            raise LeaseLost(backtest_id)
        return bool(row["cancel_requested"])

    async def finish(self, backtest_id: str, worker: str, state: str, *, error: str = "",
                     results: Results | None = None, bars_done: int = 0,
                     bars_total: int = 0, partial: bytes | None = None) -> bool:
        """Settle a job; False when this worker no longer holds it."""
        bid = uuid.UUID(backtest_id)
        async with self.pool.acquire() as conn, conn.transaction():
            status = await conn.execute(
                "UPDATE backtests SET state = $3, error = $4, finished_at = now(),"
                " updated_at = now(), lease_owner = NULL, lease_until = NULL,"
                " progress = CASE WHEN $3 = 'done' THEN 1 ELSE progress END,"
                " bars_done = greatest(bars_done, $5), bars_total = greatest(bars_total, $6),"
                " partial = coalesce($7, partial)"
                " WHERE id = $1 AND lease_owner = $2 AND state = 'running'",
                bid, worker, state, error, bars_done, bars_total, partial)
            if status.endswith(" 0"):
                return False
            if results is not None:
                await conn.execute(
                    "INSERT INTO backtest_results"
                    " (backtest_id, metrics, equity_ts, equity_paise, drawdown, data_source)"
                    " VALUES ($1, $2::jsonb, $3, $4, $5, $6::jsonb)",
                    bid, _encode_metrics(results.metrics), results.equity_ts,
                    results.equity_paise, results.drawdown,
                    None if results.data_source is None else json.dumps(results.data_source))
                if results.trades:
                    await conn.copy_records_to_table(
                        "backtest_trades",
                        records=[(bid, i, t.symbol, t.side, t.quantity, t.entry_ts,
                                  t.entry_price_paise, t.exit_ts, t.exit_price_paise,
                                  t.gross_pnl_paise, t.charges_paise, t.net_pnl_paise,
                                  t.exit_reason) for i, t in enumerate(results.trades)],
                        columns=["backtest_id", "seq", "symbol", "side", "quantity",
                                 "entry_ts", "entry_price_paise", "exit_ts",
                                 "exit_price_paise", "gross_pnl_paise", "charges_paise",
                                 "net_pnl_paise", "exit_reason"])
            return True

    async def release(self, backtest_id: str, worker: str) -> None:
        """Give a job back to the queue (graceful shutdown) so the next process starts it
        at once instead of waiting for the lease to run out."""
        await self.pool.execute(
            "UPDATE backtests SET state = 'queued', lease_owner = NULL, lease_until = NULL,"
            " attempts = greatest(attempts - 1, 0), updated_at = now()"
            " WHERE id = $1 AND lease_owner = $2 AND state = 'running'",
            uuid.UUID(backtest_id), worker)

    async def request_cancel(self, backtest_id: str) -> BacktestRow:
        """Queued jobs are cancelled at once; running ones are flagged and stop at the next
        chunk boundary; finished ones are left as they are (cancel is idempotent)."""
        bid = _uuid(backtest_id, what="backtest")
        async with self.pool.acquire() as conn, conn.transaction():
            state = await conn.fetchval(
                "SELECT state FROM backtests WHERE id = $1 FOR UPDATE", bid)
            if state is None:
                raise NotFound(f"no backtest {backtest_id}", field="id")
            if state == "queued":
                await conn.execute(
                    "UPDATE backtests SET state = 'cancelled', cancel_requested = true,"
                    " finished_at = now(), updated_at = now() WHERE id = $1", bid)
            elif state == "running":
                await conn.execute(
                    "UPDATE backtests SET cancel_requested = true, updated_at = now()"
                    " WHERE id = $1", bid)
        return await self.get(backtest_id)

    async def results(self, backtest_id: str) -> Results | None:
        bid = _uuid(backtest_id, what="backtest")
        row = await self.pool.fetchrow(
            "SELECT * FROM backtest_results WHERE backtest_id = $1", bid)
        if row is None:
            return None
        trades = await self.pool.fetch(
            "SELECT * FROM backtest_trades WHERE backtest_id = $1 ORDER BY seq", bid)
        return Results(
            metrics=_decode_metrics(row["metrics"]) or {}, equity_ts=list(row["equity_ts"]),
            equity_paise=list(row["equity_paise"]), drawdown=list(row["drawdown"]),
            data_source=json.loads(row["data_source"]) if row["data_source"] else None,
            trades=[TradeRow(
                symbol=t["symbol"], side=t["side"], quantity=t["quantity"],
                entry_ts=t["entry_ts"], entry_price_paise=t["entry_price_paise"],
                exit_ts=t["exit_ts"], exit_price_paise=t["exit_price_paise"],
                gross_pnl_paise=t["gross_pnl_paise"], charges_paise=t["charges_paise"],
                net_pnl_paise=t["net_pnl_paise"], exit_reason=t["exit_reason"])
                for t in trades])
