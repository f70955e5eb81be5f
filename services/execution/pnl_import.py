"""Import of the legacy `pnl_data/daily_pnl.json` / `daily_pnl.csv` records into the ledger.

A record is one day: `date`, a P&L figure (`pnl`, `total_pnl`, `net_pnl`, `realized_pnl`,
`day_pnl` or `non_equity_pnl`) and optionally `positions` [{tradingsymbol, exchange,
average_price, last_price, quantity, pnl}]. Each position becomes one imported trade; a day
without positions becomes one "(day total)" trade; when positions do not add up to the day's
figure the remainder is kept as an "(unattributed)" trade, so the calendar shows exactly the
legacy daily P&L. Every trade has an import key (a hash of its content), which makes
re-importing the same file a no-op: those rows are counted as duplicates. The count check —
records read = imported + duplicates + rejected — is printed by the CLI
(`python -m services.execution.pnl_import --account ID FILE`).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import hashlib
import io
import json
import sys
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from mandi.core.clock import IST
from mandi.core.errors import InvalidInput
from mandi.core.money import rupees_to_paise
from services.execution.instruments import DERIVATIVE_EXCHANGES
from services.execution.ledger import insert_trade_row
from services.execution.orders import new_id

# the day's figure, first found; `non_equity_pnl` is what the seed's own migration books as the
# day's realized P&L (seed 004, migrate_json_to_database)
PNL_KEYS = ("pnl", "total_pnl", "net_pnl", "realized_pnl", "day_pnl", "non_equity_pnl")


@dataclass
class ImportResult:
    records: int = 0          # day records read
    rows: int = 0             # trade rows derived from them
    imported: int = 0
    duplicates: int = 0
    rejected: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def balanced(self) -> bool:
        return self.rows == self.imported + self.duplicates + self.rejected


def _records(data: bytes, fmt: str) -> list[dict[str, Any]]:
    fmt = (fmt or "").lower()
    text = data.decode("utf-8-sig")
    if fmt == "json" or (not fmt and text.lstrip()[:1] in "[{"):
        raw = json.loads(text)
        if isinstance(raw, dict):
            raw = raw.get("records") or raw.get("data") or [
                {"date": k, **(v if isinstance(v, dict) else {"pnl": v})} for k, v in raw.items()]
        if not isinstance(raw, list):
            raise InvalidInput("JSON must be a list of day records", field="data")
        return raw
    if fmt not in ("", "csv"):
        raise InvalidInput("format must be json or csv", field="format")
    rows = list(csv.DictReader(io.StringIO(text)))
    if rows and "tradingsymbol" in rows[0]:
        days: dict[str, dict[str, Any]] = {}
        for r in rows:
            day = days.setdefault(r["date"], {"date": r["date"], "positions": []})
            if r.get("day_pnl"):
                day["pnl"] = r["day_pnl"]
            if r.get("tradingsymbol"):
                day["positions"].append(r)
        return list(days.values())
    return rows


def _pnl(rec: dict[str, Any]) -> int | None:
    for key in PNL_KEYS:
        if rec.get(key) not in (None, ""):
            return rupees_to_paise(Decimal(str(rec[key])))
    return None


def _key(*parts: Any) -> str:
    return hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()[:32]


def rows_of(rec: dict[str, Any]) -> list[dict[str, Any]]:
    day = date.fromisoformat(str(rec["date"])[:10])
    ts = datetime.combine(day, time(15, 30), IST)
    out = []
    total = 0
    for p in rec.get("positions") or []:
        exch = str(p.get("exchange") or "NSE").upper()
        qty = int(Decimal(str(p.get("quantity") or 0)))
        pnl = rupees_to_paise(Decimal(str(p.get("pnl") or 0)))
        avg = rupees_to_paise(Decimal(str(p.get("average_price") or 0)))
        last = rupees_to_paise(Decimal(str(p.get("last_price") or 0)))
        sym = str(p["tradingsymbol"]).upper()
        total += pnl
        out.append(dict(exchange=exch, tradingsymbol=sym, quantity=abs(qty),
                        side="SELL" if qty < 0 else "BUY", entry=avg, exit=last, pnl=pnl,
                        ts=ts, day=day, key=_key(day, exch, sym, qty, avg, last, pnl)))
    day_pnl = _pnl(rec)
    if day_pnl is None and not out:
        raise InvalidInput(f"record for {day} has neither a P&L nor positions", field="pnl")
    if day_pnl is not None and day_pnl != total:
        label = "(unattributed)" if out else "(day total)"
        out.append(dict(exchange="NSE", tradingsymbol=label, quantity=0, side="BUY", entry=0,
                        exit=0, pnl=day_pnl - total, ts=ts, day=day,
                        key=_key(day, label, day_pnl - total)))
    return out


async def import_pnl(pool: Any, account_id: str, data: bytes, fmt: str = "") -> ImportResult:
    result = ImportResult()
    try:
        records = _records(data, fmt)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"cannot parse the file: {exc}", field="data") from None
    result.records = len(records)
    async with pool.acquire() as conn:
        for rec in records:
            try:
                rows = rows_of(rec)
            except (KeyError, ValueError, ArithmeticError, InvalidInput, TypeError) as exc:
                result.rows += 1
                result.rejected += 1
                result.errors.append(f"{rec.get('date', '?')}: {exc}")
                continue
            for r in rows:
                result.rows += 1
                async with conn.transaction():
                    ok = await insert_trade_row(
                        conn, account_id, trade_id=new_id("trd"), exchange=r["exchange"],
                        tradingsymbol=r["tradingsymbol"],
                        segment="DERIVATIVES" if r["exchange"] in DERIVATIVE_EXCHANGES
                        else "EQUITY", side=r["side"], quantity=r["quantity"],
                        entry_price_paise=r["entry"], exit_price_paise=r["exit"],
                        entry_ts=r["ts"], exit_ts=r["ts"], trade_date=r["day"],
                        realized=r["pnl"], charges_paise=0, exit_reason="import",
                        source="import", import_key=r["key"])
                if ok:
                    result.imported += 1
                else:
                    result.duplicates += 1
    return result


def main(argv: list[str] | None = None) -> int:
    from mandi.platform.config import load_settings
    from mandi.platform.db import create_pool

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--account", required=True)
    ap.add_argument("file")
    args = ap.parse_args(argv)

    with open(args.file, "rb") as fh:
        data = fh.read()

    async def run() -> ImportResult:
        pool = await create_pool(load_settings().pg_dsn, schema="execution")
        try:
            return await import_pnl(pool, args.account, data,
                                    "csv" if args.file.endswith(".csv") else "json")
        finally:
            await pool.close()

    r = asyncio.run(run())
    print(f"records read: {r.records}; trade rows: {r.rows} = imported {r.imported} + "
          f"duplicates {r.duplicates} + rejected {r.rejected} -> "
          f"{'OK' if r.balanced else 'MISMATCH'}")
    for err in r.errors[:20]:
        print(f"  rejected: {err}", file=sys.stderr)
    return 0 if r.balanced else 1


if __name__ == "__main__":
    sys.exit(main())
