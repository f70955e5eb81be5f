"""F&O expiry: open ledger positions in contracts that expired are settled by the exchange.

At the close (15:30 IST) of an expiry day the worker settles every open NFO/BFO position in a
contract expiring that day, at the underlying's closing price (its last price after the close):

* options: intrinsic value per unit (CE: close − strike, PE: strike − close), 0 when out of the
  money — `expiry_worthless`, no charges; in the money, index options are cash-settled
  (`expiry_cash`) with STT on the exercised long (0.125 % of the settlement value, 0.15 % from
  2026-04-01);
* index futures: cash-settled at the close (`expiry_cash`);
* stock futures (and stock options in the money): physical delivery (`expiry_delivery`) — the
  contract closes at the settlement price and the shares arrive as a CNC position (a holding
  from the next day).

The closing trade is booked like any other (an order row marked `external`, a fill, a trade via
`insert_trade_row`), idempotent on the position id. A position whose expiry day passed while the
worker was not running is not guessed at: it is audited as `expiry_unsettled` and stays open
for reconciliation to report.
"""

from __future__ import annotations

import logging
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from mandi.core.calendar import session_close
from mandi.core.clock import to_ist
from services.execution.accounts import Account
from services.execution.instruments import DERIVATIVE_EXCHANGES
from services.execution.ledger import Fill, audit, insert_trade_row, record_fill
from services.execution.orders import COMPLETE, OrderRepo, OrderSpec

log = logging.getLogger(__name__)

INDEX_UNDERLYING = {
    "NIFTY": ("NSE", "NIFTY 50"), "BANKNIFTY": ("NSE", "NIFTY BANK"),
    "FINNIFTY": ("NSE", "NIFTY FIN SERVICE"), "MIDCPNIFTY": ("NSE", "NIFTY MID SELECT"),
    "NIFTYNXT50": ("NSE", "NIFTY NEXT 50"), "SENSEX": ("BSE", "SENSEX"),
    "BANKEX": ("BSE", "BANKEX"),
}
EXERCISE_STT_PCT = ((date(2026, 4, 1), Decimal("0.15")), (date(2000, 1, 1), Decimal("0.125")))


def exercise_stt(settlement_value_paise: int, on: date) -> int:
    """STT on an exercised long option: a percentage of the settlement (intrinsic) value."""
    pct = next(p for since, p in EXERCISE_STT_PCT if on >= since)
    exact = Decimal(settlement_value_paise) * pct / 100
    return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _as_date(value: Any) -> date | None:
    if isinstance(value, date):
        return value
    if isinstance(value, str) and value:
        return date.fromisoformat(value[:10])
    return None


def underlying_of(contract: dict[str, Any], exchange: str) -> tuple[str, str, bool]:
    """(exchange, tradingsymbol, is_index) of a derivative's underlying."""
    name = str(contract.get("name") or "").upper().replace(" ", "")
    if name in INDEX_UNDERLYING:
        exch, sym = INDEX_UNDERLYING[name]
        return exch, sym, True
    return ("BSE" if exchange == "BFO" else "NSE"), str(contract.get("name") or ""), False


def settlement(contract: dict[str, Any], close_paise: int, is_index: bool) -> tuple[int, str]:
    """(price per unit in paise, how) for a contract at the underlying's close."""
    itype = str(contract.get("instrument_type") or "")
    if itype in ("CE", "PE"):
        strike = round(Decimal(str(contract.get("strike") or 0)) * 100)
        intrinsic = close_paise - strike if itype == "CE" else strike - close_paise
        if intrinsic <= 0:
            return 0, "worthless"
        return int(intrinsic), "cash" if is_index else "delivery"
    return close_paise, "cash" if is_index else "delivery"


async def _contracts(engine: Any, account: Account, exchange: str, today: date,
                     cache: dict[Any, Any]) -> dict[str, dict[str, Any]]:
    key = (account.account_id, exchange)
    hit = cache.get(key)
    if hit is not None and hit[0] == today:
        return hit[1]
    rows = await engine.brokers.get(account).instruments(exchange)
    table = {str(r["tradingsymbol"]): r for r in rows}
    cache[key] = (today, table)
    return table


async def settle_expiries(engine: Any, account: Account, *,
                          cache: dict[Any, Any] | None = None) -> list[dict[str, Any]]:
    """Settle what expired today (after 15:30 IST). Returns one dict per settled position."""
    cache = {} if cache is None else cache
    aid = account.account_id
    now = engine.clock.now()
    today = to_ist(now).date()
    if now < session_close(today):
        return []
    rows = await engine.pool.fetch(
        "SELECT * FROM positions WHERE account_id = $1 AND status = 'open'"
        " AND exchange = ANY($2::text[])", aid, list(DERIVATIVE_EXCHANGES))
    out = []
    for pos in rows:
        contract = (await _contracts(engine, account, pos["exchange"], today, cache)).get(
            pos["tradingsymbol"])
        expiry = _as_date(None if contract is None else contract.get("expiry"))
        if contract is not None and (expiry is None or expiry > today):
            continue
        if contract is None or expiry < today:  # expired while the worker was not running
            if ("unsettled", pos["position_id"]) not in cache:  # audited once per process
                cache[("unsettled", pos["position_id"])] = True
                await audit(engine.pool, aid, "system", "expiry_unsettled", now,
                            symbol=f"{pos['exchange']}:{pos['tradingsymbol']}",
                            expiry=expiry or "no longer listed")
            continue
        exch, sym, is_index = underlying_of(contract, pos["exchange"])
        quotes = await engine.brokers.get(account).quotes([f"{exch}:{sym}"])
        quote = quotes.get(f"{exch}:{sym}")
        if quote is None or not quote.last_paise:
            log.warning("account %s: no closing price for %s:%s", aid, exch, sym)
            continue
        price, how = settlement(contract, quote.last_paise, is_index)
        done = await settle_position(engine, account, pos, price, how,
                                     session_close(expiry), (exch, sym), quote.last_paise)
        if done:
            out.append({"tradingsymbol": pos["tradingsymbol"], "price_paise": price,
                        "how": how, "underlying_close_paise": quote.last_paise})
    return out


async def settle_position(engine: Any, account: Account, pos: Any, price: int, how: str,
                          when: datetime, underlying: tuple[str, str],
                          underlying_close: int) -> bool:
    """Close one open position at its settlement price (one transaction, idempotent).
    Physical delivery books the shares at the underlying's close: for an option that, with
    the intrinsic value booked on the option, nets to the strike."""
    aid = account.account_id
    inst = await engine.instrument(account, pos["exchange"], pos["tradingsymbol"])
    und = await engine.instrument(account, *underlying) if how == "delivery" else None
    day = to_ist(when).date()
    async with engine.pool.acquire() as conn, conn.transaction():
        pos = await conn.fetchrow("SELECT * FROM positions WHERE position_id = $1"
                                  " AND status = 'open' FOR UPDATE", pos["position_id"])
        if pos is None:
            return False
        q = pos["quantity"]
        qty = abs(q)
        side = "SELL" if q > 0 else "BUY"
        spec = OrderSpec(client_order_id=f"expiry:{pos['position_id']}",
                         exchange=pos["exchange"], tradingsymbol=pos["tradingsymbol"],
                         side=side, quantity=qty, order_type="MARKET", product=pos["product"],
                         purpose="adopted")
        row = await OrderRepo.insert_row(conn, aid, spec, now=when, status=COMPLETE,
                                         message=f"settled at expiry ({how})")
        if row is None:
            return False
        await conn.execute(
            "UPDATE orders SET external = true, filled_quantity = $3,"
            " average_price_paise = $4, broker_status = 'COMPLETE'"
            " WHERE account_id = $1 AND order_id = $2", aid, row["order_id"], qty, price)
        value = qty * price
        fee = exercise_stt(value, day) if how != "worthless" and q > 0 and \
            inst.instrument_type in ("CE", "PE") else 0
        await conn.execute(
            "INSERT INTO fills (account_id, broker_trade_id, order_id, exchange, tradingsymbol,"
            " product, side, quantity, price_paise, charges_paise, ts)"
            " VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)",
            aid, f"expiry:{pos['position_id']}", row["order_id"], pos["exchange"],
            pos["tradingsymbol"], pos["product"], side, qty, price, fee, when)
        cost = pos["cost_paise"]
        gross = value - cost if q > 0 else cost - value
        trade_id = f"exp{pos['position_id']}"
        await insert_trade_row(
            conn, aid, trade_id=trade_id, exchange=pos["exchange"],
            tradingsymbol=pos["tradingsymbol"], segment=inst.segment,
            side="BUY" if q > 0 else "SELL", quantity=qty,
            entry_price_paise=(2 * cost + qty) // (2 * qty), exit_price_paise=price,
            entry_ts=pos["opened_at"], exit_ts=when, trade_date=day, realized=gross,
            charges_paise=pos["entry_charges_paise"] + fee, exit_reason=f"expiry_{how}",
            strategy_id=pos["strategy_id"], position_id=pos["position_id"],
            exit_order_id=row["order_id"], import_key=f"expiry:{pos['position_id']}")
        await conn.execute("UPDATE trades SET external = true WHERE account_id = $1"
                           " AND trade_id = $2", aid, trade_id)
        await conn.execute(
            "UPDATE positions SET quantity = 0, cost_paise = 0, entry_charges_paise = 0,"
            " realized_pnl_paise = realized_pnl_paise + $2, status = 'closed', closed_at = $3,"
            " updated_at = $3, last_price_paise = $4 WHERE position_id = $1",
            pos["position_id"], gross, when, price)
        if und is not None:  # physical delivery: the shares arrive (or leave) as CNC
            takes = (q > 0) != (inst.instrument_type == "PE")  # long call/future, short put
            await record_fill(conn, aid, Fill(
                f"delivery:{pos['position_id']}", row["order_id"], und.exchange,
                und.tradingsymbol, "CNC", "BUY" if takes else "SELL", qty, underlying_close,
                when), und, exit_reason="expiry_delivery", strategy_id=pos["strategy_id"])
        await audit(conn, aid, "exchange", "expiry_settled", when,
                    symbol=f"{pos['exchange']}:{pos['tradingsymbol']}", how=how,
                    price_paise=price, quantity=q, realized_paise=gross)
    return True
