"""Across days and outside the API, through the unmodified kiteconnect client: the MIS cut-off
square-off, the day roll (order/trade books, T+1 holdings, overnight NRML), expiry settlement,
an order from "the Kite app", and broker ids that survive a restart."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

import pytest

from mandi.core.clock import IST
from mandi.testing.kitesim import KitesimServer, start_kitesim

pytestmark = pytest.mark.integration
MP = -1  # Kite refuses MARKET orders from the API without market protection; -1 is its auto


@contextmanager
def _sim(start: datetime) -> Iterator[KitesimServer]:
    server = start_kitesim(start=start, rate_limits=False)
    server.login()
    try:
        yield server
    finally:
        server.stop()


def _move(server: KitesimServer, when: str) -> None:
    server.admin("clock", {"now": when})


def _net(kite, symbol: str, product: str) -> dict | None:
    return next((p for p in kite.positions()["net"] if p["tradingsymbol"] == symbol
                 and p["product"] == product), None)


def _minute_close(kite, token: int, day: str, hhmm: str) -> int:
    """The close of one historical minute, in paise (an independent read of the price path)."""
    start = datetime.fromisoformat(f"{day}T{hhmm}:00+05:30")
    bars = kite.historical_data(token, start, start, "minute")
    return round(bars[-1]["close"] * 100)


def test_day_roll_resets_books_moves_cnc_to_holdings_t1_and_carries_nrml() -> None:
    with _sim(datetime(2025, 11, 20, 10, 0, tzinfo=IST)) as server:  # a Thursday
        kite = server.kite()
        cnc = kite.place_order("regular", "NSE", "INFY", "BUY", 10, "CNC", "MARKET", tag="c1",
                               market_protection=MP)
        fut = next(i for i in kite.instruments("NFO") if i["name"] == "NIFTY"
                   and i["instrument_type"] == "FUT" and str(i["expiry"]) == "2025-12-30")
        kite.place_order("regular", "NFO", fut["tradingsymbol"], "BUY", fut["lot_size"], "NRML",
                         "MARKET", tag="f1", market_protection=MP)
        ltp = kite.ltp(["NSE:SBIN"])["NSE:SBIN"]["last_price"]
        rest = kite.place_order("regular", "NSE", "SBIN", "BUY", 1, "CNC", "LIMIT",
                                price=round(round(ltp * 0.9 * 20) / 20, 2), tag="r1")
        infy = next(h for h in kite.holdings() if h["tradingsymbol"] == "INFY")
        assert (infy["quantity"], infy["t1_quantity"]) == (10, 0)  # the seeded lot only
        paid = sum(t["average_price"] * t["quantity"] for t in kite.order_trades(cnc))
        _move(server, "2025-11-21T09:30:00+05:30")  # Friday
        kite = server.kite(server.login())  # yesterday's token died at 06:00
        assert kite.orders() == [] and kite.trades() == []  # the books start empty
        with pytest.raises(Exception, match="order_id"):
            kite.order_history(rest)  # the resting DAY order expired with the day
        positions = kite.positions()
        assert positions["day"] == []
        assert [p["product"] for p in positions["net"]] == ["NRML"]  # CNC left positions
        carried = positions["net"][0]
        assert carried["tradingsymbol"] == fut["tradingsymbol"]
        assert carried["quantity"] == carried["overnight_quantity"] == fut["lot_size"]
        assert carried["day_buy_quantity"] == 0
        infy = next(h for h in kite.holdings() if h["tradingsymbol"] == "INFY")
        assert (infy["quantity"], infy["t1_quantity"]) == (10, 10)  # bought Thursday: T1
        # average of the seeded lot (₹1,400 × 10) and the buy: (14000 + paid) / 20
        assert infy["average_price"] == pytest.approx((14000 + paid) / 20, abs=0.01)
        _move(server, "2025-11-24T09:30:00+05:30")  # Monday: settled
        kite = server.kite(server.login())
        infy = next(h for h in kite.holdings() if h["tradingsymbol"] == "INFY")
        assert (infy["quantity"], infy["t1_quantity"]) == (20, 0)


def test_mis_cutoff_squares_off_with_broker_order_and_charges_59_rupees() -> None:
    with _sim(datetime(2025, 11, 20, 15, 10, tzinfo=IST)) as server:
        kite = server.kite()
        kite.place_order("regular", "NSE", "SBIN", "BUY", 5, "MIS", "MARKET", tag="m1",
                         market_protection=MP)
        ltp = kite.ltp(["NSE:SBIN"])["NSE:SBIN"]["last_price"]
        waiting = kite.place_order("regular", "NSE", "SBIN", "BUY", 1, "MIS", "LIMIT",
                                   price=round(round(ltp * 0.9 * 20) / 20, 2), tag="m2")
        cash = kite.margins("equity")["available"]["cash"]
        _move(server, "2025-11-20T15:21:00+05:30")
        orders = {o["order_id"]: o for o in kite.orders()}
        assert orders[waiting]["status"] == "CANCELLED"  # open MIS orders go at the cut-off
        broker = [o for o in orders.values() if o["tag"] is None]
        assert len(broker) == 1
        sq = broker[0]
        assert (sq["transaction_type"], sq["quantity"], sq["product"], sq["status"]) == \
            ("SELL", 5, "MIS", "COMPLETE")
        assert "square-off" in sq["status_message"]
        assert sq["order_timestamp"].strftime("%H:%M:%S") == "15:20:00"
        # filled at the last price of 15:20:00, the first second of the 15:20 candle
        token = kite.ltp(["NSE:SBIN"])["NSE:SBIN"]["instrument_token"]
        first = kite.historical_data(token, datetime(2025, 11, 20, 15, 20, tzinfo=IST),
                                     datetime(2025, 11, 20, 15, 20, tzinfo=IST), "minute")
        assert sq["average_price"] == first[0]["open"]
        assert _net(kite, "SBIN", "MIS")["quantity"] == 0
        # ₹50 + 18 % GST = ₹59 debited per square-off order
        assert kite.margins("equity")["available"]["cash"] == pytest.approx(cash - 59.0)
        assert server.admin("dayroll")["charges"] == 59.0


def test_expiry_settles_options_cash_and_stock_futures_by_delivery() -> None:
    day = "2025-11-25"  # a Tuesday: NIFTY's November monthly and RELIANCE25NOVFUT expire
    with _sim(datetime(2025, 11, 25, 10, 0, tzinfo=IST)) as server:
        kite = server.kite()
        nfo = kite.instruments("NFO")
        calls = sorted((i for i in nfo if i["name"] == "NIFTY" and i["instrument_type"] == "CE"
                        and str(i["expiry"]) == day), key=lambda i: i["strike"])
        itm, otm = calls[0], calls[-1]  # deepest in and out of the money
        fut = next(i for i in nfo if i["tradingsymbol"] == "RELIANCE25NOVFUT")
        for inst in (itm, otm, fut):
            kite.place_order("regular", "NFO", inst["tradingsymbol"], "BUY", inst["lot_size"],
                             "NRML", "MARKET", tag="x1", market_protection=MP)
        _move(server, f"{day}T15:31:00+05:30")
        index = kite.ltp(["NSE:NIFTY 50"])["NSE:NIFTY 50"]["instrument_token"]
        nifty_close = _minute_close(kite, index, day, "15:29")
        rel = kite.ltp(["NSE:RELIANCE"])["NSE:RELIANCE"]["instrument_token"]
        rel_close = _minute_close(kite, rel, day, "15:29")
        assert nifty_close > itm["strike"] * 100 and nifty_close < otm["strike"] * 100
        lot = itm["lot_size"]
        p_itm = _net(kite, itm["tradingsymbol"], "NRML")
        p_otm = _net(kite, otm["tradingsymbol"], "NRML")
        p_fut = _net(kite, fut["tradingsymbol"], "NRML")
        assert p_itm["quantity"] == p_otm["quantity"] == p_fut["quantity"] == 0
        # ITM call: cash-settled at intrinsic value = index close − strike, per unit
        assert round(p_itm["sell_value"] * 100) == lot * (nifty_close - round(itm["strike"]
                                                                               * 100))
        assert p_otm["sell_value"] == 0  # expired worthless
        assert round(p_fut["sell_value"] * 100) == fut["lot_size"] * rel_close
        settled = {s["tradingsymbol"]: s["kind"] for s in server.admin("dayroll")["settlements"]}
        assert settled == {itm["tradingsymbol"]: "cash", otm["tradingsymbol"]: "worthless",
                           fut["tradingsymbol"]: "delivery"}
        _move(server, "2025-11-26T09:30:00+05:30")
        kite = server.kite(server.login())
        assert [p for p in kite.positions()["net"] if p["quantity"]] == []
        rel_h = next(h for h in kite.holdings() if h["tradingsymbol"] == "RELIANCE")
        # seeded 5 at ₹1,250 + the delivered lot at the close, in T1
        assert (rel_h["quantity"], rel_h["t1_quantity"]) == (5, fut["lot_size"])
        expected_avg = (5 * 125000 + fut["lot_size"] * rel_close) // (5 + fut["lot_size"])
        assert round(rel_h["average_price"] * 100) == expected_avg


def test_kite_app_order_has_no_tag_and_trades_like_any_order() -> None:
    with _sim(datetime(2025, 11, 20, 11, 0, tzinfo=IST)) as server:
        kite = server.kite()
        out = server.admin("orders/external", {
            "exchange": "NSE", "tradingsymbol": "TCS", "transaction_type": "BUY",
            "quantity": 3, "product": "MIS", "tag": "ignored"})
        order = next(o for o in kite.orders() if o["order_id"] == out["order_id"])
        assert order["tag"] is None and order["status"] == "COMPLETE"
        assert order["market_protection"] == -1  # the app's automatic protection on MARKET
        trades = kite.order_trades(out["order_id"])
        assert sum(t["quantity"] for t in trades) == 3
        assert _net(kite, "TCS", "MIS")["quantity"] == 3


def test_order_ids_never_repeat_after_a_restart_on_the_same_day() -> None:
    start = datetime(2025, 11, 20, 10, 0, tzinfo=IST)
    seen: list[tuple[str, str]] = []
    for _ in range(2):
        with _sim(start) as server:
            kite = server.kite()
            oid = kite.place_order("regular", "NSE", "ITC", "BUY", 1, "MIS", "MARKET", tag="i1",
                                   market_protection=MP)
            trade = kite.order_trades(oid)[0]["trade_id"]
            seen.append((oid, trade))
    (first, t1), (second, t2) = seen
    assert first[:6] == second[:6] == "251120"  # the same simulated day
    assert second != first and t2 != t1


def test_a_clock_jump_over_the_close_matches_yesterday_before_the_roll() -> None:
    """Seed 1's SBIN path on 2025-11-20 (read from that day's minute candles): about ₹983.40
    at 10:00, low ₹981.50 between 10:01 and 15:19. A CNC buy resting at ₹981.50 trades that
    afternoon, so after a jump to the next morning it is a T1 holding, not an expired order."""
    with _sim(datetime(2025, 11, 20, 15, 22, tzinfo=IST)) as reader:
        kite = reader.kite()
        token = kite.ltp(["NSE:SBIN"])["NSE:SBIN"]["instrument_token"]
        bars = kite.historical_data(token, datetime(2025, 11, 20, 10, 1, tzinfo=IST),
                                    datetime(2025, 11, 20, 15, 19, tzinfo=IST), "minute")
        low = min(b["low"] for b in bars)
    with _sim(datetime(2025, 11, 20, 10, 0, tzinfo=IST)) as server:  # the same seed, path
        kite = server.kite()
        oid = kite.place_order("regular", "NSE", "SBIN", "BUY", 1, "CNC", "LIMIT", price=low,
                               tag="j1")
        assert kite.order_history(oid)[-1]["status"] == "OPEN"  # below the 10:00 price
        _move(server, "2025-11-21T09:30:00+05:30")
        kite = server.kite(server.login())
        sbin = next(h for h in kite.holdings() if h["tradingsymbol"] == "SBIN")
        assert (sbin["quantity"], sbin["t1_quantity"]) == (20, 1)  # seeded 20 + the buy
        # a resting limit trades at its own price: (20 × ₹600.00 + ₹981.50) / 21, whole paise
        assert round(sbin["average_price"] * 100) == (20 * 60000 + round(low * 100)) // 21


def test_a_clock_jump_over_the_mis_cut_off_fills_nothing_after_it() -> None:
    """Seed 1's ICICIBANK on 2025-11-20: lows ₹1,431.00 over 15:10-15:19 and ₹1,429.95 in
    the 15:20 minute. An MIS buy resting at ₹1,430.00 would only trade after the cut-off, so
    the broker cancels it at 15:20 and nothing is bought or squared off."""
    with _sim(datetime(2025, 11, 20, 15, 10, tzinfo=IST)) as server:
        kite = server.kite()
        oid = kite.place_order("regular", "NSE", "ICICIBANK", "BUY", 1, "MIS", "LIMIT",
                               price=1430.00, tag="j2")
        assert kite.order_history(oid)[-1]["status"] == "OPEN"
        _move(server, "2025-11-20T15:21:00+05:30")
        token = kite.ltp(["NSE:ICICIBANK"])["NSE:ICICIBANK"]["instrument_token"]
        bars = kite.historical_data(token, datetime(2025, 11, 20, 15, 10, tzinfo=IST),
                                    datetime(2025, 11, 20, 15, 20, tzinfo=IST), "minute")
        assert min(b["low"] for b in bars[:-1]) > 1430.00 >= bars[-1]["low"]  # the premise
        last = kite.order_history(oid)[-1]
        assert (last["status"], last["filled_quantity"]) == ("CANCELLED", 0)
        assert kite.order_trades(oid) == []
        assert server.admin("dayroll")["squareoffs"] == []


def test_cover_orders_are_squared_off_at_the_cut_off_like_mis() -> None:
    """A cover order is intraday too: at 15:20 its stop-loss leg is cancelled and the broker
    squares the CO position off with its own order, ₹50 + 18 % GST = ₹59."""
    with _sim(datetime(2025, 11, 20, 15, 10, tzinfo=IST)) as server:
        kite = server.kite()
        ltp = kite.ltp(["NSE:SBIN"])["NSE:SBIN"]["last_price"]
        entry = kite.place_order("co", "NSE", "SBIN", "BUY", 2, "CO", "MARKET", tag="co1",
                                 market_protection=MP,
                                 trigger_price=round(round(ltp * 0.99 * 20) / 20, 2))
        assert kite.order_history(entry)[-1]["status"] == "COMPLETE"
        (leg,) = [o for o in kite.orders() if o["parent_order_id"] == entry]
        assert leg["status"] == "TRIGGER PENDING"
        _move(server, "2025-11-20T15:21:00+05:30")
        orders = {o["order_id"]: o for o in kite.orders()}
        assert orders[leg["order_id"]]["status"] == "CANCELLED"
        (sq,) = [o for o in orders.values() if o["tag"] is None]
        assert (sq["transaction_type"], sq["quantity"], sq["product"], sq["status"]) == \
            ("SELL", 2, "CO", "COMPLETE")
        assert _net(kite, "SBIN", "CO")["quantity"] == 0
        assert server.admin("dayroll")["charges"] == 59.0
