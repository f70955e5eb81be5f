"""Legacy daily_pnl.json / .csv import: duplicates detected on re-import, counts balance, the
calendar shows exactly the legacy daily P&L."""

from __future__ import annotations

import asyncio
import json
import os
import sys

import pytest

from mandi.testing.kitesim import REPO_ROOT
from services.execution import dashboards
from services.execution.pnl_import import import_pnl
from tests.integration.execution.kit import Env

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

LEGACY = [
    {"date": "2024-05-02", "pnl": 1250.5, "positions": [
        {"tradingsymbol": "SBIN", "exchange": "NSE", "average_price": 812.35,
         "last_price": 820.0, "quantity": 100, "pnl": 765.0},
        {"tradingsymbol": "NIFTY24MAYFUT", "exchange": "NFO", "average_price": 22500,
         "last_price": 22510, "quantity": 50, "pnl": 500.0}]},
    {"date": "2024-05-03", "total_pnl": -300.25, "positions": []},
    {"date": "not-a-date", "pnl": 1},
]


async def test_import_when_run_twice_second_run_all_duplicates(env: Env) -> None:
    data = json.dumps(LEGACY).encode()
    first = await import_pnl(env.pool, env.account_id, data, "json")
    assert (first.records, first.imported, first.duplicates, first.rejected) == (3, 4, 0, 1)
    assert first.balanced
    second = await import_pnl(env.pool, env.account_id, data, "json")
    assert (second.imported, second.duplicates, second.rejected) == (0, 4, 1)
    assert await env.count("trades") == 4
    days = await dashboards.calendar(env.pool, env.account_id, "2024-05-01", "2024-05-31")
    assert [(d["trade_date"].isoformat(), int(d["pnl"])) for d in days] == [
        ("2024-05-02", 125050), ("2024-05-03", -30025)]
    s = await dashboards.summarize(env.pool, env.account_id, segment="DERIVATIVES")
    assert (s.trades, s.net_paise) == (1, 50000)


async def test_import_cli_when_file_given_prints_count_check(env: Env, ledger_dsn: str,
                                                             tmp_path) -> None:
    path = tmp_path / "daily_pnl.csv"
    path.write_text("date,pnl\n2024-06-03,100.5\n2024-06-04,-20\n2024-06-04,-20\n")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.execution.pnl_import", "--account", env.account_id,
        str(path), cwd=REPO_ROOT, stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "MANDI_PG_DSN": ledger_dsn, "PYTHONPATH": str(REPO_ROOT)})
    out, _ = await proc.communicate()
    assert proc.returncode == 0
    assert "records read: 3; trade rows: 3 = imported 2 + duplicates 1 + rejected 0 -> OK" \
        in out.decode()
    assert await env.count("trades") == 2


async def test_import_when_seed_record_has_non_equity_pnl_books_that_day(env: Env) -> None:
    # seed 004's migration reads the day's realized P&L from `non_equity_pnl`
    records = [
        {"date": "2024-07-01", "non_equity_pnl": 812.75, "positions_count": 0},
        {"date": "2024-07-02", "non_equity_pnl": -150.0, "positions_count": 1, "positions": [
            {"tradingsymbol": "NIFTY24JULFUT", "exchange": "NFO", "average_price": 24000,
             "last_price": 23990, "quantity": 25, "pnl": -250.0}]},
    ]
    r = await import_pnl(env.pool, env.account_id, json.dumps(records).encode(), "json")
    # day 1: one "(day total)" row; day 2: the position (−250.00) and the remainder
    # −150.00 − (−250.00) = +100.00 as "(unattributed)"
    assert (r.records, r.imported, r.rejected) == (2, 3, 0)
    days = await dashboards.calendar(env.pool, env.account_id, "2024-07-01", "2024-07-31")
    assert [(d["trade_date"].isoformat(), int(d["pnl"])) for d in days] == [
        ("2024-07-01", 81275), ("2024-07-02", -15000)]
    rest = await env.pool.fetchval(
        "SELECT net_pnl_paise FROM trades WHERE account_id = $1 AND"
        " tradingsymbol = '(unattributed)'", env.account_id)
    assert rest == 10000
