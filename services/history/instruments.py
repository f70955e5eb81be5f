"""The instrument master: Kite's dump for NSE, BSE, NFO and BFO, kept in `history.instruments`.

Why versioned: Kite's dump lists only live contracts, but bars stored for a contract must stay
queryable by symbol after it expires (Kite serves no history for expired contracts, so our copy
is the only one). A refresh upserts every listed row (active, last_seen = today) and flips rows
that left the dump to inactive, keeping their last_seen date; nothing is deleted.

Why once a day: the dump is tens of thousands of rows and Kite rate-limits it; it changes only
overnight. Replicas serialise refreshes on an advisory lock and re-check after taking it, so a
morning stampede loads the dump once.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol

import asyncpg

from mandi.core.clock import Clock, to_ist
from mandi.core.errors import InvalidInput, NotFound
from mandi.core.money import rupees_to_paise

log = logging.getLogger(__name__)

EXCHANGES = ("NSE", "BSE", "NFO", "BFO")
DERIVATIVE_EXCHANGES = frozenset({"NFO", "BFO"})
INSTRUMENT_TYPES = ("EQ", "FUT", "CE", "PE", "INDEX")
_REFRESH_LOCK = "mandi-history:instruments-refresh"
_MAX_LIMIT = 1000

_COLUMNS = (
    "instrument_token", "exchange_token", "exchange", "tradingsymbol", "name", "segment",
    "instrument_type", "expiry", "strike_paise", "tick_size_paise", "lot_size",
    "last_price_paise", "underlying", "active", "first_seen", "last_seen",
)
_SELECT = ", ".join(c for c in _COLUMNS if c != "first_seen")


class InstrumentSource(Protocol):
    """Where dumps come from: `mandi.kite.client.KiteClient` in production."""

    async def instruments(self, exchange: str | None = None) -> list[dict[str, Any]]: ...


def storage_segment(exchange: str) -> str:
    """EQUITY (NSE, BSE, indices) or DERIVATIVES (NFO, BFO): the store keeps them apart."""
    return "DERIVATIVES" if exchange in DERIVATIVE_EXCHANGES else "EQUITY"


@dataclass(frozen=True, slots=True)
class InstrumentRecord:
    instrument_token: int
    exchange_token: int
    exchange: str
    tradingsymbol: str
    name: str
    segment: str  # Kite's segment string: NSE, NFO-OPT, INDICES…
    instrument_type: str  # EQ, FUT, CE, PE, INDEX
    expiry: date | None
    strike_paise: int
    tick_size_paise: int
    lot_size: int
    last_price_paise: int
    underlying: str
    active: bool
    last_seen: date

    @property
    def key(self) -> str:
        return f"{self.exchange}:{self.tradingsymbol}"

    @property
    def is_derivative(self) -> bool:
        return self.instrument_type in ("FUT", "CE", "PE")

    @property
    def storage_segment(self) -> str:
        return storage_segment(self.exchange)

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> InstrumentRecord:
        return cls(**{k: row[k] for k in cls.__slots__})  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class RefreshResult:
    refreshed: bool  # False when today's dump was already loaded and force was not set
    refreshed_at: datetime | None
    rows: dict[str, int]  # per exchange: rows in the dump
    deactivated: dict[str, int]  # per exchange: contracts that left the dump


@dataclass(frozen=True, slots=True)
class InstrumentPage:
    items: list[InstrumentRecord]
    total: int
    next_page_token: str


def _dump_record(row: Mapping[str, Any], exchange: str, today: date) -> tuple[Any, ...]:
    segment = str(row.get("segment") or exchange)
    itype = str(row.get("instrument_type") or "EQ").upper()
    if segment == "INDICES":
        itype = "INDEX"
    expiry = row.get("expiry")
    if isinstance(expiry, str):
        expiry = date.fromisoformat(expiry) if expiry else None
    name = str(row.get("name") or "")
    underlying = name if itype in ("FUT", "CE", "PE") else ""
    return (
        int(row["instrument_token"]), int(row.get("exchange_token") or 0), exchange,
        str(row["tradingsymbol"]), name, segment, itype, expiry,
        rupees_to_paise(row.get("strike") or 0), rupees_to_paise(row.get("tick_size") or 0),
        int(row.get("lot_size") or 0), rupees_to_paise(row.get("last_price") or 0),
        underlying, True, today, today,
    )


def _check_exchange(exchange: str, field: str = "exchange") -> str:
    ex = exchange.strip().upper()
    if ex not in EXCHANGES:
        raise InvalidInput(f"unknown exchange {exchange!r}; expected one of "
                           f"{', '.join(EXCHANGES)}", field=field)
    return ex


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class InstrumentMaster:
    """Load, refresh and query the instrument master. Time comes from the injected clock."""

    def __init__(self, pool: asyncpg.Pool, source: InstrumentSource, clock: Clock,
                 *, exchanges: Sequence[str] = EXCHANGES) -> None:
        self._pool = pool
        self._source = source
        self._clock = clock
        self._exchanges = tuple(exchanges)
        self._trgm: bool | None = None

    # --- refresh ----------------------------------------------------------------------------
    async def refresh(self, *, force: bool = False) -> RefreshResult:
        """Load today's dumps unless already loaded today (IST) or `force`."""
        now = self._clock.now()
        today = to_ist(now).date()
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", _REFRESH_LOCK)
            done = {r["exchange"]: r for r in await conn.fetch(
                "SELECT exchange, refreshed_at, trading_date FROM instrument_refreshes")}
            stale = [ex for ex in self._exchanges
                     if force or ex not in done or done[ex]["trading_date"] < today]
            if not stale:
                return RefreshResult(False, max(r["refreshed_at"] for r in done.values()), {}, {})
            rows: dict[str, int] = {}
            gone: dict[str, int] = {}
            for exchange in stale:
                dump = await self._source.instruments(exchange)
                rows[exchange], gone[exchange] = await self._load(conn, exchange, dump, today)
                await conn.execute(
                    "INSERT INTO instrument_refreshes (exchange, refreshed_at, trading_date, rows,"
                    " deactivated) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (exchange) DO UPDATE"
                    " SET refreshed_at = EXCLUDED.refreshed_at, trading_date ="
                    " EXCLUDED.trading_date, rows = EXCLUDED.rows, deactivated ="
                    " EXCLUDED.deactivated", exchange, now, today, rows[exchange], gone[exchange])
        log.info("instrument master refreshed: rows=%s deactivated=%s", rows, gone)
        return RefreshResult(True, now, rows, gone)

    async def _load(self, conn: asyncpg.Connection, exchange: str,
                    dump: Sequence[Mapping[str, Any]], today: date) -> tuple[int, int]:
        records: dict[tuple[int, str], tuple[Any, ...]] = {}
        for row in dump:
            if str(row.get("exchange", exchange)).upper() != exchange:
                continue
            rec = _dump_record(row, exchange, today)
            records[(rec[0], rec[3])] = rec
        if not records:
            # An empty dump is a Kite outage, not every contract expiring at once.
            raise InvalidInput(f"kite returned an empty instrument dump for {exchange}",
                               field="exchange")
        await conn.execute("CREATE TEMP TABLE IF NOT EXISTS instruments_load"
                           " (LIKE instruments INCLUDING DEFAULTS) ON COMMIT DROP")
        await conn.execute("TRUNCATE instruments_load")
        await conn.copy_records_to_table("instruments_load", records=list(records.values()),
                                         columns=list(_COLUMNS))
        updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in _COLUMNS
                            if c not in ("instrument_token", "exchange", "tradingsymbol",
                                         "first_seen"))
        await conn.execute(
            f"INSERT INTO instruments ({', '.join(_COLUMNS)}) SELECT {', '.join(_COLUMNS)}"
            f" FROM instruments_load ON CONFLICT (instrument_token, exchange, tradingsymbol)"
            f" DO UPDATE SET {updates},"
            " updated_at = now()")
        status = await conn.execute(
            "UPDATE instruments SET active = false, updated_at = now()"
            " WHERE exchange = $1 AND active AND last_seen < $2", exchange, today)
        return len(records), int(status.split()[-1])

    async def ensure_fresh(self) -> RefreshResult:
        """Refresh if today's dump is not loaded yet; cheap when it is."""
        return await self.refresh(force=False)

    async def refreshed_at(self) -> datetime | None:
        async with self._pool.acquire() as conn:
            return await conn.fetchval("SELECT max(refreshed_at) FROM instrument_refreshes")

    # --- point lookups ------------------------------------------------------------------------
    async def lookup(self, exchange: str, tradingsymbol: str) -> InstrumentRecord:
        """The live contract for EXCHANGE:SYMBOL, else the most recently seen expired one."""
        ex = _check_exchange(exchange)
        sym = tradingsymbol.strip().upper()
        if not sym:
            raise InvalidInput("tradingsymbol is empty", field="tradingsymbol")
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow(
                f"SELECT {_SELECT} FROM instruments WHERE exchange = $1 AND tradingsymbol = $2"
                " ORDER BY active DESC, last_seen DESC LIMIT 1", ex, sym)
            if row is None:
                loaded = await conn.fetchval(
                    "SELECT count(*) FROM instrument_refreshes WHERE exchange = $1", ex)
        if row is None:
            hint = "" if loaded else " (the instrument master has not been loaded yet)"
            raise NotFound(f"no instrument {ex}:{sym} in the instrument master{hint}",
                           field="tradingsymbol")
        return InstrumentRecord.from_row(row)

    async def get(self, instrument_token: int) -> InstrumentRecord:
        """The contract a token names now (the live one if Kite reused the token)."""
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow(
                f"SELECT {_SELECT} FROM instruments WHERE instrument_token = $1"
                " ORDER BY active DESC, last_seen DESC LIMIT 1", instrument_token)
        if row is None:
            raise NotFound(f"no instrument with token {instrument_token}",
                           field="instrument_token")
        return InstrumentRecord.from_row(row)

    # --- search and listing -------------------------------------------------------------------
    async def _has_trgm(self, conn: asyncpg.Connection) -> bool:
        if self._trgm is None:
            self._trgm = bool(await conn.fetchval(
                "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm')"))
        return self._trgm

    async def search(self, query: str, *, exchange: str | None = None,
                     limit: int = 20, include_expired: bool = False) -> list[InstrumentRecord]:
        """Autocomplete: exact symbol first, then symbol prefix, then name prefix, then fuzzy
        (trigram similarity when pg_trgm exists, substring otherwise)."""
        q = query.strip().upper()
        if not q:
            raise InvalidInput("search query is empty", field="query")
        if len(q) > 64:
            raise InvalidInput("search query is longer than 64 characters", field="query")
        limit = max(1, min(limit or 20, 100))
        ex = _check_exchange(exchange) if exchange else None
        prefix = _like_escape(q) + "%"
        async with self._pool.acquire() as conn:
            if await self._has_trgm(conn):
                fuzzy = ("public.similarity(tradingsymbol, $1)"
                         " + 0.5 * public.similarity(upper(name), $1)")
                match = "tradingsymbol OPERATOR(public.%) $1 OR upper(name) OPERATOR(public.%) $1"
            else:
                fuzzy = "0"
                match = "tradingsymbol LIKE '%' || $2 OR upper(name) LIKE '%' || $2"
            rows = await conn.fetch(
                f"SELECT {_SELECT}, CASE WHEN tradingsymbol = $1 THEN 0"
                " WHEN tradingsymbol LIKE $2 THEN 1 WHEN upper(name) LIKE $2 THEN 2 ELSE 3 END"
                f" AS rank, {fuzzy} AS score FROM instruments"
                f" WHERE (tradingsymbol LIKE $2 OR upper(name) LIKE $2 OR {match})"
                " AND ($3::text IS NULL OR exchange = $3) AND (active OR $4)"
                " ORDER BY rank, score DESC, length(tradingsymbol), tradingsymbol,"
                " CASE exchange WHEN 'NSE' THEN 0 WHEN 'NFO' THEN 1 ELSE 2 END, exchange"
                " LIMIT $5", q, prefix, ex, include_expired, limit)
        return [InstrumentRecord.from_row(r) for r in rows]

    async def list(
        self, *, exchange: str | None = None, underlying: str | None = None,
        expiry: date | None = None, strike_paise: int | None = None,
        instrument_type: str | None = None, include_expired: bool = False,
        limit: int = 100, page_token: str = "",
    ) -> InstrumentPage:
        """Filtered listing (derivative chains: underlying + expiry + strike + CE/PE/FUT),
        ordered by exchange, symbol; `page_token` continues a previous page."""
        ex = _check_exchange(exchange) if exchange else None
        itype = instrument_type.strip().upper() if instrument_type else None
        if itype is not None and itype not in INSTRUMENT_TYPES:
            raise InvalidInput(f"unknown instrument type {instrument_type!r}; expected one of "
                               f"{', '.join(INSTRUMENT_TYPES)}", field="instrument_type")
        if strike_paise is not None and strike_paise < 0:
            raise InvalidInput("strike must not be negative", field="strike_paise")
        if limit < 0:
            raise InvalidInput("limit must not be negative", field="limit")
        limit = min(limit or 100, _MAX_LIMIT)
        offset = _decode_page_token(page_token)
        where = ("($1::text IS NULL OR exchange = $1) AND ($2::text IS NULL OR underlying = $2)"
                 " AND ($3::date IS NULL OR expiry = $3)"
                 " AND ($4::bigint IS NULL OR strike_paise = $4)"
                 " AND ($5::text IS NULL OR instrument_type = $5) AND (active OR $6)")
        args = (ex, underlying.strip().upper() if underlying else None, expiry, strike_paise,
                itype, include_expired)
        async with self._pool.acquire() as conn:
            total = await conn.fetchval(f"SELECT count(*) FROM instruments WHERE {where}", *args)
            rows = await conn.fetch(
                f"SELECT {_SELECT} FROM instruments WHERE {where}"
                " ORDER BY exchange, expiry NULLS FIRST, tradingsymbol, instrument_token"
                " LIMIT $7 OFFSET $8", *args, limit, offset)
        nxt = offset + len(rows)
        token = _encode_page_token(nxt) if nxt < total else ""
        return InstrumentPage([InstrumentRecord.from_row(r) for r in rows], int(total), token)


def _encode_page_token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode()


def _decode_page_token(token: str) -> int:
    if not token:
        return 0
    try:
        text = base64.urlsafe_b64decode(token.encode()).decode()
        if not text.startswith("o:"):
            raise ValueError(text)
        offset = int(text[2:])
        if offset < 0:
            raise ValueError(text)
        return offset
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput("page_token is not one this service issued",
                           field="page_token") from None
