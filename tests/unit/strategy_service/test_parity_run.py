"""The parity service's pure parts: which days the nightly run reports (driven by an injected
clock), which bots ran on a day, and how the bot's record and execution's orders become the
comparison's live orders."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from mandi.core.clock import IST
from mandi.core.errors import InvalidInput
from mandi.platform.protoconv import to_timestamp
from mandi.v1 import common_pb2, execution_pb2
from services.strategy import parity as P
from services.strategy.bot_store import BotOrderRow, BotRow
from services.strategy.parity_run import (
    external_order,
    finished_days,
    live_order,
    parse_day,
    ran_on,
    refusal_rule,
    squared_off_order,
)

WED = date(2026, 3, 4)  # a trading day; Tue 3rd is an NSE holiday, 7th/8th a weekend


def _ist(d: date, hh: int, mm: int) -> datetime:
    return datetime(d.year, d.month, d.day, hh, mm, tzinfo=IST)


@pytest.mark.parametrize(("now", "days"), [
    (_ist(WED, 15, 29), [date(2026, 3, 2)]),  # before the close: not today; no holiday
    (_ist(WED, 15, 59), [date(2026, 3, 2)]),  # closed, but not 30 minutes ago
    (_ist(WED, 16, 0), [WED, date(2026, 3, 2)]),
    (_ist(date(2026, 3, 8), 10, 0), [date(2026, 3, 6), date(2026, 3, 5), WED]),  # Sunday
])
def test_the_nightly_run_reports_trading_days_half_an_hour_after_their_close(now, days):
    assert finished_days(now) == days


def _bot(state) -> BotRow:
    return BotRow(id="b1", owner="u", name="n", spec=b"", account_id="A", mode="paper",
                  product="MIS", state=state)


def test_a_bot_ran_on_a_day_when_it_went_live_before_its_end_and_processed_a_bar_of_it():
    start, end = P.ist_day_bounds(WED)
    inside = start + 10 * 3600 * 10**9
    assert ran_on(_bot({"first_live_ts": inside, "last_bar": {"NSE:SBIN": inside}}), start, end)
    assert not ran_on(_bot({"first_live_ts": end + 1, "last_bar": {"NSE:SBIN": end + 1}}),
                      start, end), "went live the next day"
    assert not ran_on(_bot({"first_live_ts": start - 86_400 * 10**9,
                            "last_bar": {"NSE:SBIN": start - 1}}), start, end), "stopped before"
    assert not ran_on(_bot({}), start, end), "never ran"


def test_bad_dates_are_refused_naming_the_field():
    assert parse_day("2026-03-04") == WED
    for bad in ("2026-13-01", "04-03-2026", "", "yesterday"):
        with pytest.raises(InvalidInput) as err:
            parse_day(bad)
        assert err.value.field == "date"


def test_the_risk_rule_is_read_from_the_recorded_refusal():
    assert refusal_rule("FAILED_PRECONDITION: daily_loss_limit: the daily loss limit was hit; "
                        "new positions are blocked") == P.LOSS_LIMIT_RULE
    assert refusal_rule("FAILED_PRECONDITION: quantity: must be positive") == "quantity"
    assert refusal_rule("INVALID_ARGUMENT: Bad Thing: x") == ""
    assert refusal_rule("UNAVAILABLE") == ""


def _row(coid: str, reason: str, status: str = "", order_id: str = "o1") -> BotOrderRow:
    return BotOrderRow(client_order_id=coid, bar_ts=_ist(WED, 10, 0).astimezone(UTC),
                       symbol="NSE:SBIN", side="BUY", quantity=3, tag="main", reason=reason,
                       order_id=order_id, status=status)


def _exec(coid: str, status: int, filled: int, avg: int, at: datetime,
          strategy: str = "b1") -> execution_pb2.Order:
    return execution_pb2.Order(
        order_id="o1", status=status, filled_quantity=filled, average_price_paise=avg,
        status_message="no margin" if status == execution_pb2.ORDER_STATUS_REJECTED else "",
        created_at=to_timestamp(at), request=execution_pb2.OrderRequest(
            client_order_id=coid, side=execution_pb2.SIDE_SELL, quantity=3,
            strategy_id=strategy,
            symbol=common_pb2.SymbolRef(exchange=common_pb2.EXCHANGE_NSE, tradingsymbol="SBIN")))


def test_the_bots_record_joined_with_executions_order():
    at = _ist(WED, 10, 1)
    filled = live_order(_row("b1:1:0.main.in", "entry"),
                        _exec("b1:1:0.main.in", execution_pb2.ORDER_STATUS_COMPLETE, 3, 75_005,
                              at))
    assert (filled.kind, filled.status, filled.price_paise, filled.filled_qty) == \
        ("in", "filled", 75_005, 3)
    assert filled.sent_ts == int(at.timestamp()) * 10**9 and filled.filled
    assert filled.bar_ts == int(_ist(WED, 10, 0).timestamp()) * 10**9
    refused = live_order(_row("b1:1:0.main.in", "entry", order_id="",
                              status="REFUSED: FAILED_PRECONDITION: daily_loss_limit: hit"), None)
    assert (refused.status, refused.rule, refused.filled) == ("refused", P.LOSS_LIMIT_RULE, False)
    rejected = live_order(_row("b1:1:0.main.out", "signal"),
                          _exec("b1:1:0.main.out", execution_pb2.ORDER_STATUS_REJECTED, 0, 0, at))
    assert (rejected.kind, rejected.status, rejected.detail) == ("out", "rejected", "no margin")
    part = live_order(_row("b1:1:0.main.out", "squareoff"),
                      _exec("b1:1:0.main.out", execution_pb2.ORDER_STATUS_CANCELLED, 2, 75_000,
                            at))
    assert (part.status, part.filled_qty) == ("filled", 2)
    assert live_order(_row("b1:1:0.main.in", "entry", order_id=""), None).status == "unsent"


def test_an_execution_order_the_bot_did_not_record_is_read_as_a_leg_when_it_can_be():
    at = _ist(WED, 11, 7)
    gtt = external_order("b1", _exec("b1:1772600000:0.main.stop",
                                     execution_pb2.ORDER_STATUS_COMPLETE, 3, 74_000, at),
                         ["NSE:SBIN"], 60 * 10**9)
    assert (gtt.symbol, gtt.tag, gtt.kind, gtt.reason, gtt.side) == \
        ("NSE:SBIN", "main", "out", "stop", "SELL")
    assert gtt.bar_ts == int(_ist(WED, 11, 7).timestamp()) * 10**9
    odd = external_order("b1", _exec("manual-1", execution_pb2.ORDER_STATUS_COMPLETE, 3,
                                     74_000, at), ["NSE:SBIN"], 60 * 10**9)
    assert (odd.tag, odd.reason) == ("manual-1", "external")


def test_a_gtt_exit_the_bot_recorded_with_its_fill_is_filled_without_executions_row():
    """The ladder's bots record a GTT's exit ("gtt:<id>:sl", reason stop) with its fill."""
    import dataclasses
    from types import SimpleNamespace

    at = _ist(WED, 11, 3)
    row = SimpleNamespace(**{**dataclasses.asdict(_row("gtt:g1:sl", "stop", status="COMPLETE")),
                             "filled_quantity": 3, "average_price_paise": 74_100,
                             "filled_at": at})
    o = live_order(row, None)
    assert (o.kind, o.reason, o.status, o.price_paise, o.filled_qty) == \
        ("out", "stop", "filled", 74_100, 3)
    assert o.bracket and o.sent_ts == int(at.timestamp()) * 10**9


def test_an_exit_the_brokers_squareoff_made_is_its_fill_and_the_legs_share_of_it():
    """The bot's record of a late cut-off exit (status SQUARED_OFF, the square-off's order id)
    joined with the broker's square-off, which closed the account's 8 shares (the leg's 3)."""
    at, filled = _ist(WED, 15, 21), _ist(WED, 15, 20)
    sq = _exec("asqf:20260304:K1", execution_pb2.ORDER_STATUS_COMPLETE, 8, 74_950, at,
               strategy="")
    sq.filled_at.CopyFrom(to_timestamp(filled))
    o = squared_off_order(_row("b1:1:0.main.out", "squareoff", status="SQUARED_OFF: by K1"), sq)
    assert (o.kind, o.status, o.price_paise, o.filled_qty, o.qty, o.by_broker) == \
        ("out", "filled", 74_950, 3, 3, True)
    assert (o.sent_ts, o.filled_ts) == (int(at.timestamp()) * 10**9,
                                        int(filled.timestamp()) * 10**9)


async def test_a_gtt_exit_recorded_before_its_order_was_known_takes_executions_fill():
    """The bot recorded a GTT's exit when it saw the GTT triggered, before the exit order was
    known (no order id, no fill). Execution's order "gtt:<id>:sl" does not carry the bot's id;
    the report still finds it by the recorded client_order_id and takes its fill."""
    import dataclasses
    from types import SimpleNamespace

    from services.strategy.parity_run import ParityRunner

    at = _ist(WED, 11, 3)
    gtt_row = dataclasses.replace(_row("gtt:g1:sl", "stop", status="TRIGGERED", order_id=""))
    entry_row = _row("b1:1:0.main.in", "entry")
    sl = _exec("gtt:g1:sl", execution_pb2.ORDER_STATUS_COMPLETE, 3, 74_100, at, strategy="")
    sl.order_id = "o2"
    entry = _exec("b1:1:0.main.in", execution_pb2.ORDER_STATUS_COMPLETE, 3, 75_000,
                  _ist(WED, 10, 1))
    other = _exec("gtt:g9:sl", execution_pb2.ORDER_STATUS_COMPLETE, 3, 1, at, strategy="")
    other.order_id = "o9"  # another bot's GTT exit on the account: not this bot's

    class Bots:
        async def orders(self, _bot_id):
            return [entry_row, gtt_row]

    class Execution:
        async def ListOrders(self, req, **_kw):
            return execution_pb2.ListOrdersResponse(orders=[other, sl, entry])

        async def GetOrder(self, req, **_kw):
            raise AssertionError("looked up by order id")

    runner = ParityRunner(Bots(), None)  # type: ignore[arg-type]
    runner.execution = Execution()  # type: ignore[assignment]
    start = int(_ist(WED, 0, 0).timestamp()) * 10**9
    live = await runner._live(SimpleNamespace(id="b1", account_id="A"), ["NSE:SBIN"],
                              60 * 10**9, start, start + 86_400 * 10**9)
    by = {o.client_order_id: o for o in live}
    assert set(by) == {"b1:1:0.main.in", "gtt:g1:sl"}
    assert (by["gtt:g1:sl"].status, by["gtt:g1:sl"].price_paise,
            by["gtt:g1:sl"].filled_qty) == ("filled", 74_100, 3)
