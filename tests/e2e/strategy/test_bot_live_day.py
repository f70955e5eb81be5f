"""One EMA bot in paper and in live mode on a replayed kitesim day, through the whole stack as
processes, crashed 3 times.

kitesim's clock waits at 09:13 (running at 1×) while history, marketdata, execution and strategy
start together as processes on real PostgreSQL and Redis, then replays the day at 500× (a
process start would cost a simulated hour on a loaded machine). At 10:00 the same EMA-crossover
bot (SBIN, minute bars, fixed qty, MIS) is deployed twice — on the paper account (PaperBroker)
and in live mode on the simulator's Kite account (KiteBroker) — and both are started at once,
early in a simulated minute, so they have the same first live bar. The strategy process dies
three times: first between recording a bar's orders and sending them (a test fault point), then
twice by SIGKILL mid-session; each successor is started before the crash. It takes the bots'
leases when the dead one's expire, sends what was recorded but not acknowledged, rebuilds the
strategies from the candle log (StreamCandles since=) and goes on.

At the close, execution holds, for each of the two bots, exactly the orders the backtester's
trade list of that day's candles implies — the same client_order_ids "<bot>:<signal bar>:<leg>",
sides and quantities, none twice — and each bot's own order record matches execution's; the live
bot's are one Kite order each at kitesim, the paper bot's none. Issue #12's acceptance: the bot
in live mode produces the same orders as in paper mode for the same day (the same
"<signal bar>:<leg>", side and quantity sets).

Parity: half an hour after the close (by the strategy process's clock, kitesim's) its nightly
run stores each bot's parity report of the day — the backtest of the day's stored candles
against the bot's orders and execution's fills — with zero unexplained differences. A fill of
the live bot then moved by ₹50 in execution's ledger shows up, on a refreshed report, as the one
unexplained difference, with its P&L effect.

On the paper account a momentum-ladder bot (INFY) runs beside them from the second replica on,
through both SIGKILLs: its legs' entries each get one GTT (stop and target at the real fill),
some legs are closed by their GTTs (reason stop/target in the bot's record, with the fill),
and every leg is flat by the close; its parity report of the day has no unexplained
difference either (GTT exits pair with the backtest's stop/target exits by leg).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections import Counter
from datetime import datetime
from datetime import time as clock_time

import asyncpg
import httpx
import pytest
import redis
from google.protobuf import json_format, struct_pb2
from prometheus_client.parser import text_string_to_metric_families

from mandi.core.backtest.data import Bars
from mandi.core.backtest.engine import run_backtest
from mandi.testing.kitesim import free_port, kitesim_process
from mandi.testing.services import service_started_ahead, services_together
from mandi.testing.signed_channel import signed_channel
from mandi.v1 import common_pb2, execution_pb2, execution_pb2_grpc, strategy_pb2, strategy_pb2_grpc
from services.execution.orders import tag_for
from services.strategy import definitions, library
from services.strategy.bot_squareoff import SQUARED_OFF
from tests.e2e.history.kit import fresh_db, history_env, own_api_key

pytestmark = [pytest.mark.e2e, pytest.mark.heavy]

DAY = "2026-03-04"
SPEED = 500.0
SYMBOL = "SBIN"
BOTS_FROM = "10:00"  # the EMA bots' start: a morning's bars replayed to them from the candle log
QTY = 3


def _at(hhmm: str) -> datetime:
    return datetime.fromisoformat(f"{DAY}T{hhmm}:00+05:30")


def _deploy_request(account: str, mode: int) -> strategy_pb2.DeployRequest:
    params = struct_pb2.Struct()
    params.update({"fast": 5, "slow": 20})
    spec = strategy_pb2.BacktestSpec(
        strategy=strategy_pb2.StrategyDef(type="ema_crossover", params=params),
        symbols=[common_pb2.SymbolRef(exchange=common_pb2.EXCHANGE_NSE, tradingsymbol=SYMBOL)],
        interval="minute", sizing=strategy_pb2.Sizing(type="fixed_qty", qty=QTY),
        costs=strategy_pb2.Costs(product=strategy_pb2.PRODUCT_MIS, disable_charges=True))
    return strategy_pb2.DeployRequest(spec=spec, account_id=account, name=f"ema-sbin-{account}",
                                      mode=mode)


def _ladder_request() -> strategy_pb2.DeployRequest:
    params = struct_pb2.Struct()
    params.update({"fast": 3, "slow": 8, "qty": 2, "p1_stop_pct": 0.3, "p1_target_pct": 0.5,
                   "p2_trigger_pct": 0.1, "p2_stop_pct": 0.3, "p3_trigger_pct": 0.2,
                   "p3_stop_pct": 0.5, "exit_on_reverse": False})  # legs live by their GTTs
    spec = strategy_pb2.BacktestSpec(
        strategy=strategy_pb2.StrategyDef(type="momentum_ladder", params=params),
        symbols=[common_pb2.SymbolRef(exchange=common_pb2.EXCHANGE_NSE, tradingsymbol="INFY")],
        interval="minute", sizing=strategy_pb2.Sizing(type="fixed_qty", qty=1),
        costs=strategy_pb2.Costs(product=strategy_pb2.PRODUCT_MIS, disable_charges=True))
    return strategy_pb2.DeployRequest(spec=spec, account_id="PAPER1", name="ladder-infy",
                                      mode=strategy_pb2.RUN_MODE_PAPER)


async def _bot_orders(dsn: str, bot: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetch("SELECT * FROM strategy.bot_orders WHERE bot_id = $1", bot)
    finally:
        await conn.close()


def _check_ladder(ex_addr: str, dsn: str, bot: str, state: dict) -> None:
    """One GTT per filled entry, legs closed by them, nothing left open."""
    rows = asyncio.run(_bot_orders(dsn, bot))
    assert not state.get("legs"), "MIS legs are squared off by the close"
    entries = [r for r in rows if r["reason"] == "entry" and r["filled_quantity"]]
    assert entries, "the ladder should trade the day"
    with signed_channel(ex_addr) as ch:
        gtts = execution_pb2_grpc.ExecutionServiceStub(ch).ListGtts(
            execution_pb2.ListGttsRequest(account_id="PAPER1",
                                          entry_order_ids=[r["order_id"] for r in entries]),
            timeout=10).gtts
    per_entry = Counter(g.entry_order_id for g in gtts)
    assert set(per_entry) == {r["order_id"] for r in entries}, "every filled entry protected"
    assert max(per_entry.values()) == 1, "a GTT placed twice"
    by_gtt = [r for r in rows if r["reason"] in ("stop", "target")]
    assert by_gtt, ("no leg closed by its GTT", Counter(r["reason"] for r in rows))
    assert all(r["gtt_id"] and r["filled_quantity"] and r["average_price_paise"]
               for r in by_gtt if r["status"] == "COMPLETE")
    assert {g.status for g in gtts} <= {"triggered", "deleted"}, "a GTT outlived its leg"


def _ns(v: float) -> int:
    """Epoch ns from the state Struct (a double: whole seconds survive, nanoseconds do not)."""
    return round(float(v) / 1e9) * 10**9


async def _unsent(dsn: str, bot: str) -> list[str]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("SELECT client_order_id FROM strategy.bot_orders"
                                " WHERE bot_id = $1 AND status = ''", bot)
    finally:
        await conn.close()
    return [r["client_order_id"] for r in rows]


def _get_bot(addr: str, bot: str) -> strategy_pb2.GetBotResponse:
    with signed_channel(addr) as ch:
        return strategy_pb2_grpc.StrategyServiceStub(ch).GetBot(
            strategy_pb2.GetBotRequest(deployment_id=bot), timeout=10)


def _wait(cond, what: str, deadline_s: float, log=lambda: "", every_s: float = 0.1) -> None:
    end = time.monotonic() + deadline_s
    while not cond():
        assert time.monotonic() < end, f"{what}\n{log()[-4000:]}"
        time.sleep(every_s)


def _expected_orders(sim, bot: str, spec: strategy_pb2.BacktestSpec,
                     first_live_ts: int) -> set[tuple[str, str, int]]:
    """(client_order_id, side, qty) implied by the backtest of the day's candles."""
    kite = sim.kite()
    token = next(int(r["instrument_token"]) for r in kite.instruments("NSE")
                 if r["tradingsymbol"] == SYMBOL)
    rows = kite.historical_data(token, _at("09:15"), _at("15:30"), "minute")
    assert len(rows) == 375
    ts = [int(r["date"].timestamp()) * 10**9 for r in rows]
    bars = Bars(ts, [r["open"] for r in rows], [r["high"] for r in rows],
                [r["low"] for r in rows], [r["close"] for r in rows],
                [r["volume"] for r in rows], f"NSE:{SYMBOL}")
    rec = definitions.from_proto(spec.strategy)
    trade_from = sum(1 for t in ts if t < first_live_ts)
    # a bot squares off on the last bar closing before the 15:20 cut-off: the backtest at 15:19
    cfg = dataclasses.replace(library.config_of(spec), squareoff_ist=clock_time(15, 19))
    result = run_backtest({bars.symbol: bars},
                          lambda _s: library.build(rec.type, rec.params, rec.rules), cfg,
                          trade_from=trade_from)
    out = set()
    for t in result.trades:  # a fill at bar k's open was signalled by bar k-1
        long = t.side == "long"
        out.add((f"{bot}:{t.entry_ts // 10**9 - 60}:0.main.in", "BUY" if long else "SELL",
                 t.qty))
        out.add((f"{bot}:{t.exit_ts // 10**9 - 60}:0.main.out", "SELL" if long else "BUY",
                 t.qty))
    return out


EMA_BOTS = (("PAPER1", strategy_pb2.RUN_MODE_PAPER),  # PaperBroker
            ("SIM001", strategy_pb2.RUN_MODE_LIVE))   # KiteBroker against the simulator's Kite


def _start_in_one_minute(sim, stub: strategy_pb2_grpc.StrategyServiceStub,
                         bots: list[str]) -> None:
    """Start the bots at once, early in a simulated minute: each bot's first live bar is the
    minute its task begins in (500×: a minute lasts 120 ms), and the same bot on two accounts
    trades the same day only from the same first bar."""
    end = time.monotonic() + 5
    while sim.now().second >= 10:  # one clock read costs a few simulated seconds
        assert time.monotonic() < end, "the simulated clock did not move"
    futures = [stub.Start.future(strategy_pb2.StartRequest(deployment_id=b), timeout=10)
               for b in bots]
    for f in futures:
        assert f.result().state.status == strategy_pb2.BOT_STATUS_RUNNING


def test_ema_bot_in_paper_and_live_mode_over_a_replayed_day_crashed_three_times(
    tmp_path,
) -> None:
    key = own_api_key()
    prefix = f"e2e-bot-{key['MANDI_KITE_API_KEY']}"
    with contextlib.ExitStack() as stack:
        r = redis.Redis.from_url("redis://127.0.0.1:6379/0")
        stack.callback(lambda: [r.delete(k) for k in r.scan_iter(f"{prefix}*")])
        dsn = stack.enter_context(fresh_db())  # before the simulated day starts
        # the day waits at 09:13 (real time) while the stack starts: the processes' start costs
        # seconds, simulated hours at 500× on a loaded machine
        sim = stack.enter_context(kitesim_process(
            "--start", f"{DAY}T09:13:00+05:30", "--speed", "1", "--no-rate-limits",
            seed=11, env=key))
        t0, marks = time.monotonic(), []

        def mark(what: str) -> None:  # the simulated time each step of the set-up reached
            marks.append(f"{what} {sim.now():%H:%M:%S} (+{time.monotonic() - t0:.1f} s)")

        env = history_env(sim, dsn, MANDI_REDIS_PREFIX=prefix, MANDI_KITE_HISTORICAL_RATE="50",
                          **{f"MANDI_{name}_ADDR": f"127.0.0.1:{free_port()}"
                             for name in ("HISTORY", "MARKETDATA", "EXECUTION")})
        st_env = {**env, "MANDI_STRATEGY_BOT_LEASE_S": "2", "MANDI_STRATEGY_REPLICA_ID": "S1",
                  "MANDI_STRATEGY_PARITY_POLL_S": "0.5"}

        def strategy_ahead():  # a replica started now; calling the result waits for it
            return stack.enter_context(service_started_ahead(
                "strategy", {**st_env, "MANDI_STRATEGY_ADDR": f"127.0.0.1:{free_port()}"},
                tmp_path))

        # the services start together (each spends seconds importing, migrating and logging in
        # to Kite, and reaches the others lazily); the first strategy replica dies between
        # recording a bar's orders and sending them
        _, _, ex, first = stack.enter_context(services_together([
            ("history", env),
            ("marketdata", {**env, "MANDI_MARKETDATA_LEASE_S": "4",
                            "MANDI_MARKETDATA_CANDLE_GRACE_S": "120"}),
            # fills into the ledger within a simulated 2 min (an exit after the MIS cut-off is
            # taken only when it reduces a position execution knows)
            ("execution", {**env, "MANDI_EXECUTION_POLL_S": "0.25"}),
            ("strategy", {**st_env, "MANDI_STRATEGY_ADDR": f"127.0.0.1:{free_port()}",
                          "MANDI_STRATEGY_TEST_FAULT": "after_bar_saved"})], tmp_path))
        mark("services")
        # the replay: the services' clocks follow within their 5 s resync, well before 10:00
        sim.admin("clock", {"speed": SPEED})
        _wait(lambda: sim.now() >= _at(BOTS_FROM), f"the day did not reach {BOTS_FROM}", 30)
        with signed_channel(first.addr) as ch:
            stub = strategy_pb2_grpc.StrategyServiceStub(ch)
            bots = {account: stub.Deploy(_deploy_request(account, mode),
                                         timeout=30).deployment_id
                    for account, mode in EMA_BOTS}
            _start_in_one_minute(sim, stub, list(bots.values()))
        mark("bots started")
        # the next replica starts meanwhile (the first holds the bots' leases by now) and takes
        # the bots over once their leases expire, 2 s after the fault
        next_replica = strategy_ahead()
        _wait(lambda: first.proc.poll() is not None, "the fault never fired", 120, first.log)
        assert first.proc.returncode == 137
        unsent = {b: asyncio.run(_unsent(dsn, b)) for b in bots.values()}
        mark("fault")
        print("recorded, unsent:", unsent)
        assert any(unsent.values()), "the fault left recorded, unsent orders"

        # the next one sends them on resume, trades on and is SIGKILLed mid-session, twice
        replica = next_replica()
        with signed_channel(replica.addr) as ch:
            stub = strategy_pb2_grpc.StrategyServiceStub(ch)
            ladder = stub.Deploy(_ladder_request(), timeout=30).deployment_id
            stub.Start(strategy_pb2.StartRequest(deployment_id=ladder), timeout=10)
        kills = []
        # kill points a third and two thirds of the way to 15:10 (a loaded machine starts the
        # stack later in the simulated day)
        mark("second replica")
        begun = sim.now()
        span = _at("15:10") - begun
        print(*marks, sep="\n  ")
        assert span.total_seconds() > 3 * 3600, ("the stack started too late in the day", marks)
        for after in (begun + span / 3, begun + 2 * span / 3):
            # each successor starts before the kill (a start costs a simulated hour on a loaded
            # machine) and takes the bots over when their leases expire, 2 s after it
            successor = strategy_ahead()
            done_bars = {b: _get_bot(replica.addr, b).state.bars for b in bots.values()}
            _wait(lambda r=replica, n=done_bars, t=after: all(
                _get_bot(r.addr, b).state.bars > k for b, k in n.items()) and sim.now() > t,
                f"the bots processed nothing before {after:%H:%M}", 120, replica.log,
                every_s=0.5)  # GetBot polls take CPU from the bots (500×: 2 bars a second)
            successor = successor()
            replica.kill()
            kills.append(sim.now())
            replica = successor
        second = replica
        print("killed at", *(f"{k:%H:%M:%S}" for k in kills))
        assert kills[-1] < _at("15:00"), "the stack ran too slowly to test mid-day restarts"

        last_bar = int(_at("15:29").timestamp()) * 10**9

        def done() -> bool:
            for b, sym in [*((b, SYMBOL) for b in bots.values()), (ladder, "INFY")]:
                got = _get_bot(second.addr, b)
                assert got.state.status != strategy_pb2.BOT_STATUS_ERROR, (
                    b, got.state.error, second.log()[-3000:])
                st = json_format.MessageToDict(got.state.state)
                if _ns(st.get("last_bar", {}).get(f"NSE:{sym}", 0)) < last_bar:
                    return False
            return True

        _wait(done, "the bots did not process the day's last bar", 150, second.log, every_s=1)
        kite_orders = sim.kite().orders()
        first_live = {account: _ns(json_format.MessageToDict(
            _get_bot(second.addr, bot).state.state)["first_live_ts"])
            for account, bot in bots.items()}
        # the strategy's clock had caught up with the replay when the bots started
        assert min(first_live.values()) >= _at(BOTS_FROM).timestamp() * 10**9, first_live
        orders = {account: _check_ema_day(sim, dsn, ex, second, bot, account, unsent[bot],
                                          kite_orders)
                  for account, bot in bots.items()}
        # issue #12: the same bot on the simulator's Kite account (live mode) produces the same
        # orders as in paper mode for the same day
        assert orders["PAPER1"] == orders["SIM001"], (sorted(orders["PAPER1"] ^ orders["SIM001"]),
                                                      "first live bars", first_live)

        text = httpx.get(f"http://127.0.0.1:{second.env['MANDI_METRICS_PORT_STRATEGY']}/metrics",
                         timeout=5).text
        samples = {s.name: s.value for fam in text_string_to_metric_families(text)
                   for s in fam.samples if not s.labels}
        assert samples["mandi_bots_running"] == 3
        got = _get_bot(second.addr, ladder)
        assert got.state.status == strategy_pb2.BOT_STATUS_RUNNING, got.state.error
        _check_ladder(ex.addr, dsn, ladder, json_format.MessageToDict(got.state.state))
        assert samples["mandi_bot_bars_total"] > 0 and samples.get("mandi_bot_errors_total") == 0

        reports = {account: _check_parity(dsn, second, bot, account, len(orders[account]))
                   for account, bot in bots.items()}
        _check_ladder_parity(dsn, second, ladder)
        # the moved fill on one of them: the first entry of the day
        coid, side, qty = min(o for o in orders["SIM001"] if o[0].endswith(".in"))
        _check_moved_fill(dsn, second, bots["SIM001"], "SIM001", reports["SIM001"],
                          (f"{bots['SIM001']}:{coid}", side, qty))


def _check_ema_day(sim, dsn: str, ex, strategy, bot: str, account: str, unsent: list[str],
                   kite_orders: list[dict]) -> set[tuple[str, str, int]]:
    """The EMA bot's day at execution (and, live, at Kite): the backtest's orders, each once.
    Returns them as (client_order_id without the bot id, side, quantity)."""
    got = _get_bot(strategy.addr, bot)
    assert got.state.status == strategy_pb2.BOT_STATUS_RUNNING, got.state.error
    acked = {o.client_order_id: o.order_id for o in got.orders}
    assert all(acked[c] for c in unsent), "resume sent them"
    state = json_format.MessageToDict(got.state.state)
    assert not state.get("legs"), "MIS legs are squared off by the close"

    with signed_channel(ex.addr) as ch:
        listed = execution_pb2_grpc.ExecutionServiceStub(ch).ListOrders(
            execution_pb2.ListOrdersRequest(account_id=account,
                                            page=common_pb2.PageRequest(page_size=500)),
            timeout=10).orders
    # at 500× the cut-off exit has a simulated minute (0.12 s) to reach Kite before its 15:20
    # square-off: one that comes later is booked as made by the square-off (bot_squareoff.py)
    squared = {o.client_order_id for o in got.orders if o.status.startswith(SQUARED_OFF)}
    assert account == "SIM001" or not squared, "a paper account has no broker square-off"
    ours = [o for o in listed if o.request.strategy_id == bot]
    # the squared-off exit reached Kite and was rejected there, or execution refused it
    ours = [o for o in ours if o.request.client_order_id not in squared]
    per_id = Counter(o.request.client_order_id for o in ours)
    assert per_id and max(per_id.values()) == 1, "an order was duplicated"
    placed = {(o.request.client_order_id,
               execution_pb2.Side.Name(o.request.side).removeprefix("SIDE_"),
               o.request.quantity) for o in ours}
    expected = _expected_orders(sim, bot, got.state.spec, _ns(state["first_live_ts"]))
    assert len(expected) >= 6, "the day should make the strategy trade"
    placed |= {e for e in expected if e[0] in squared}
    assert placed == expected, (account, sorted(placed ^ expected), strategy.log()[-3000:])
    assert {o.client_order_id for o in got.orders} == set(per_id) | squared
    # at the broker: one Kite order per client_order_id of the live bot, none of the paper one
    tags = Counter(o["tag"] for o in kite_orders)
    if account == "SIM001":
        assert all(tags[tag_for(c)] == 1 for c in per_id), (
            [(o.request.client_order_id, o.status, o.status_message) for o in ours
             if tags[tag_for(o.request.client_order_id)] != 1],
            [(o["tag"], o["status"], o["transaction_type"], o.get("status_message"))
             for o in kite_orders if o["tag"] is None])
    else:
        assert not any(tags[tag_for(c)] for c in per_id), "a paper order reached Kite"
    assert all(o.order_id for o in got.orders)
    # each order's fill, learnt by the bot after the bar it was sent on (for parity)
    fills = [(r["client_order_id"], r["quantity"], r["filled_quantity"],
              r["average_price_paise"]) for r in asyncio.run(_bot_orders(dsn, bot))]
    assert all(q == f and p > 0 for _, q, f, p in fills), fills
    return {(c.removeprefix(f"{bot}:"), side, qty) for c, side, qty in placed}


def _stored_parity(dsn: str, bot: str) -> list[tuple[str, int]]:
    async def read() -> list[tuple[str, int]]:
        conn = await asyncpg.connect(dsn)
        try:
            rows = await conn.fetch("SELECT day, unexplained FROM strategy.bot_parity"
                                    " WHERE bot_id = $1", bot)
        finally:
            await conn.close()
        return [(r["day"].isoformat(), r["unexplained"]) for r in rows]
    return asyncio.run(read())


def _move_fill(dsn: str, account: str, coid: str, by_paise: int) -> None:
    async def move() -> None:
        conn = await asyncpg.connect(dsn)
        try:
            done = await conn.execute(
                "UPDATE execution.orders SET average_price_paise = average_price_paise + $3"
                " WHERE account_id = $1 AND client_order_id = $2", account, coid, by_paise)
        finally:
            await conn.close()
        assert done == "UPDATE 1"
    asyncio.run(move())


def _check_parity(dsn, strategy, bot: str, account: str, n_orders: int):
    """The nightly report of the EMA bot's day: every order matched, no unexplained difference;
    returns it."""
    # the nightly run reports the day once the strategy's clock is 30 minutes past the close
    _wait(lambda: bool(_stored_parity(dsn, bot)), "no nightly parity report after the close",
          120, strategy.log)
    stored = _stored_parity(dsn, bot)
    with signed_channel(strategy.addr) as ch:
        rep = strategy_pb2_grpc.StrategyServiceStub(ch).GetParity(
            strategy_pb2.GetParityRequest(deployment_id=bot, date=DAY), timeout=60)
    shown = [(d.category, d.client_order_id, d.amount_paise, d.detail) for d in rep.differences]
    print(f"parity {DAY} {account}: {len(rep.differences)} differences, P&L backtest "
          f"{rep.pnl_backtest_paise} live {rep.pnl_live_paise}", *shown, sep="\n  ")
    assert stored == [(DAY, 0)], shown
    assert rep.stored and rep.unexplained == 0, shown
    assert rep.backtest_orders == rep.live_orders == rep.matched == n_orders, shown
    # (an exit that came after the broker's square-off: broker_squareoff, on SIM001 only)
    assert all(d.explained and (d.category == "fill_timing" or (
        d.category == "broker_squareoff" and account == "SIM001")) for d in rep.differences), \
        shown
    assert rep.pnl_difference_paise == sum(d.amount_paise for d in rep.differences)
    # the bars the bot was sent (marketdata's candle log) are the stored ones
    [c] = rep.candles
    assert (c.symbol, c.live_known, c.missing, c.differing) == (f"NSE:{SYMBOL}", True, 0, 0)
    assert c.live == c.stored >= 300
    return rep


def _check_moved_fill(dsn, strategy, bot: str, account: str, rep,
                      entry: tuple[str, str, int]) -> None:
    """A fill moved by ₹50 against the bot in execution's ledger: on a refreshed report it is
    listed, unexplained, with its P&L effect, and replaces the stored report."""
    coid, side, qty = entry
    _move_fill(dsn, account, coid, 5_000)
    with signed_channel(strategy.addr) as ch:
        moved = strategy_pb2_grpc.StrategyServiceStub(ch).GetParity(
            strategy_pb2.GetParityRequest(deployment_id=bot, date=DAY, refresh=True),
            timeout=60)
    shown = [(d.category, d.client_order_id, d.amount_paise, d.detail) for d in moved.differences]
    assert moved.unexplained == 1, shown
    [d] = [d for d in moved.differences if not d.explained]
    assert (d.kind, d.category, d.client_order_id) == ("fill", "fill_price", coid), shown
    assert d.live.price_paise - d.backtest.price_paise == (
        5_000 + next((x.live.price_paise - x.backtest.price_paise for x in rep.differences
                      if x.client_order_id == coid), 0))
    assert d.amount_paise == (-1 if side == "BUY" else 1) * (
        d.live.price_paise - d.backtest.price_paise) * qty
    assert moved.pnl_unexplained_paise == d.amount_paise
    assert moved.pnl_live_paise - rep.pnl_live_paise == (-1 if side == "BUY" else 1) * 5_000 * qty
    assert _stored_parity(dsn, bot) == [(DAY, 1)], "the refreshed report replaced the stored one"


def _check_ladder_parity(dsn, strategy, bot: str) -> None:
    """The ladder bot's day: its GTT exits pair with the backtest's stop/target exits by leg."""
    _wait(lambda: bool(_stored_parity(dsn, bot)), "no nightly parity report of the ladder",
          120, strategy.log)
    with signed_channel(strategy.addr) as ch:
        rep = strategy_pb2_grpc.StrategyServiceStub(ch).GetParity(
            strategy_pb2.GetParityRequest(deployment_id=bot, date=DAY), timeout=60)
    shown = [(d.category, d.explained, d.client_order_id, d.amount_paise, d.detail)
             for d in rep.differences]
    print(f"ladder parity {DAY}: {len(rep.differences)} differences, {rep.matched} matched of "
          f"{rep.backtest_orders}/{rep.live_orders}", *shown, sep="\n  ")
    assert rep.backtest_orders > 0 and rep.live_orders > 0, shown
    assert rep.unexplained == 0, [d for d in shown if not d[1]]
