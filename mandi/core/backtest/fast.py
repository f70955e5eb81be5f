"""The fast path: a numba core for one-leg signal strategies, trade-for-trade equal to the engine.

It replays, step for step, what `engine.Backtester` does for a `SignalStrategy` (see the step list
in engine.py): MIS session-change and cut-off square-offs, orders from the previous bar at the
open, protective stop/target with the same gap and both-touched rules, the same sizing, slippage
and integer charges. Signals come from the strategy's vectorised `signals()`, which equal its
streaming form, so the two paths produce identical trades; the tests compare them field by field.
Not covered here (use the engine): several symbols, multi-leg strategies (ladder, rules).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
from numba import njit

from mandi.core.backtest.data import DAY_NS, IST_OFFSET_NS, Bars, price_paise
from mandi.core.backtest.engine import BacktestConfig, BacktestResult, cutoff_mask
from mandi.core.backtest.portfolio import Trade
from mandi.core.backtest.sizing import ATR_RISK, size_qty
from mandi.core.charges import (
    DP_CHARGE_PAISE,
    REVISIONS,
    Segment,
)
from mandi.core.charges_int import fill_charges_int, rate_vector
from mandi.core.errors import InvalidInput
from mandi.core.fills import slip
from mandi.core.indicators import atr as atr_batch
from mandi.core.strategies.base import SignalStrategy

_slip = njit(cache=True)(slip)
_size = njit(cache=True)(size_qty)
REASONS = ("signal", "stop", "target", "squareoff", "end")


@njit(cache=True)
def _level(entry, pct, up, tick):
    f = 1.0 + pct / 100.0 if up else 1.0 - pct / 100.0
    return int(entry * f / tick + 0.5) * tick


@njit(cache=True)
def _book(tr, nt, e_i, x_i, side, qty, e_px, x_px, e_chg, x_chg, reason):
    tr[nt, 0] = e_i
    tr[nt, 1] = x_i
    tr[nt, 2] = side
    tr[nt, 3] = qty
    tr[nt, 4] = e_px
    tr[nt, 5] = x_px
    tr[nt, 6] = e_chg
    tr[nt, 7] = x_chg
    tr[nt, 8] = reason
    return nt + 1


@njit(cache=True)
def _protective(side, stop, target, o, h, lo):
    """(reference price, reason) of a stop/target exit in this bar, or (-1, 0)."""
    lng = side > 0
    if stop >= 0 and ((o <= stop) if lng else (o >= stop)):
        return o, 1
    if target >= 0 and ((o >= target) if lng else (o <= target)):
        return o, 2
    if stop >= 0 and ((lo <= stop) if lng else (h >= stop)):
        return stop, 1
    if target >= 0 and ((h >= target) if lng else (lo <= target)):
        return target, 2
    return -1, 0


DP_WITH_GST = DP_CHARGE_PAISE + DP_CHARGE_PAISE * 18 // 100  # ₹15.34


@njit(cache=True)
def _exit_fees(rvs, rvs_in, rv_idx, sess, i, e_i, side, qty, x, e_px, e_chg, cnc, charges_on):
    """(exit charges, entry charges as re-priced) of closing at bar i: the engine's rule for CNC
    (same day → intraday for both fills; later day → delivery + DP), else the segment's."""
    if not charges_on:
        return 0, e_chg
    if cnc:
        if sess[i] == sess[e_i]:
            return (fill_charges_int(rvs_in[rv_idx[i]], side < 0, qty, x),
                    fill_charges_int(rvs_in[rv_idx[e_i]], side > 0, qty, e_px))
        return fill_charges_int(rvs[rv_idx[i]], side < 0, qty, x) + DP_WITH_GST, e_chg
    return fill_charges_int(rvs[rv_idx[i]], side < 0, qty, x), e_chg


@njit(cache=True)
def _core(op, hp, lp, cp, entries, exits, cutoff, sess, atr, rv_idx, rvs, rvs_in, cnc,
          allow_short,
          stop_pct, target_pct, tick, fill_close, s_num, s_den, s_ticks, kind, p_int, p_float,
          lot, margin_bps, capital, close_at_end, mis, charges_on, trade_from, capacity):
    n = op.shape[0]
    # every trade opens on a signal bar, so `capacity` (signal bars + 1) bounds the table; a
    # table that never grows keeps the loop free of reference counting
    tr = np.empty((capacity, 9), dtype=np.int64)
    nt = 0
    eq = np.empty(n, dtype=np.int64)
    cash = capital
    side = 0  # +1 long, -1 short, 0 flat
    qty = e_px = e_i = e_chg = 0
    stop = target = -1
    p_exit = False
    p_enter = 0
    rejected = 0
    for i in range(n):
        if side != 0 or p_enter != 0:
            # 1. MIS: the session changed with a position still open → previous close
            if mis and side != 0 and i > 0 and sess[i] != sess[i - 1]:
                x = _slip(cp[i - 1], side < 0, s_num, s_den, s_ticks, tick)
                c, e2 = _exit_fees(rvs, rvs_in, rv_idx, sess, i - 1, e_i, side, qty, x, e_px, e_chg,
                                   cnc, charges_on)
                cash += side * qty * x - c - (e2 - e_chg)
                nt = _book(tr, nt, e_i, i - 1, side, qty, e_px, x, e2, c, 3)
                side = 0
            # 2. the previous bar's orders at this open: exit, then entry
            if p_exit and side != 0:
                x = _slip(op[i], side < 0, s_num, s_den, s_ticks, tick)
                c, e2 = _exit_fees(rvs, rvs_in, rv_idx, sess, i, e_i, side, qty, x, e_px, e_chg,
                                   cnc, charges_on)
                cash += side * qty * x - c - (e2 - e_chg)
                nt = _book(tr, nt, e_i, i, side, qty, e_px, x, e2, c, 0)
                side = 0
            if p_enter != 0 and side == 0 and not (mis and cutoff[i]):
                q, px, c, st, tg = _enter(p_enter, op[i], i, i - 1, cash, atr, rv_idx, rvs,
                                          stop_pct, target_pct, tick, s_num, s_den, s_ticks,
                                          kind, p_int, p_float, lot, margin_bps, charges_on,
                                          cnc)
                if q == 0:
                    rejected += 1
                else:
                    side, qty, e_px, e_chg, stop, target, e_i = p_enter, q, px, c, st, tg, i
                    cash -= side * qty * e_px + e_chg
            p_exit = False
            p_enter = 0
            if side != 0:
                reason = 0
                ref = -1
                # 3. MIS cut-off: square off at the open
                if mis and cutoff[i]:
                    ref, reason = op[i], 3
                # 4. protective stop / target inside the bar
                elif stop >= 0 or target >= 0:
                    ref, reason = _protective(side, stop, target, op[i], hp[i], lp[i])
                if ref >= 0:
                    x = ref if reason == 2 else _slip(ref, side < 0, s_num, s_den, s_ticks, tick)
                    c, e2 = _exit_fees(rvs, rvs_in, rv_idx, sess, i, e_i, side, qty, x, e_px, e_chg,
                                       cnc, charges_on)
                    cash += side * qty * x - c - (e2 - e_chg)
                    nt = _book(tr, nt, e_i, i, side, qty, e_px, x, e2, c, reason)
                    side = 0
        # 5. the strategy's decision at this close
        en = entries[i] and i >= trade_from
        ex = exits[i]
        short_ok = allow_short and i >= trade_from
        want_exit = False
        want_enter = 0
        if side > 0:
            if ex:
                want_exit = True
                if short_ok:
                    want_enter = -1
        elif side < 0:
            if en:
                want_exit = True
                want_enter = 1
        elif en:
            want_enter = 1
        elif ex and short_ok:
            want_enter = -1
        if not fill_close:
            p_exit = want_exit
            p_enter = want_enter
        else:
            if want_exit:
                x = _slip(cp[i], side < 0, s_num, s_den, s_ticks, tick)
                c, e2 = _exit_fees(rvs, rvs_in, rv_idx, sess, i, e_i, side, qty, x, e_px, e_chg,
                                   cnc, charges_on)
                cash += side * qty * x - c - (e2 - e_chg)
                nt = _book(tr, nt, e_i, i, side, qty, e_px, x, e2, c, 0)
                side = 0
            if want_enter != 0 and side == 0 and not (mis and cutoff[i]):
                q, px, c, st, tg = _enter(want_enter, cp[i], i, i, cash, atr, rv_idx, rvs,
                                          stop_pct, target_pct, tick, s_num, s_den, s_ticks,
                                          kind, p_int, p_float, lot, margin_bps, charges_on,
                                          cnc)
                if q == 0:
                    rejected += 1
                else:
                    side, qty, e_px, e_chg, stop, target, e_i = want_enter, q, px, c, st, tg, i
                    cash -= side * qty * e_px + e_chg
        eq[i] = cash + side * qty * cp[i]
    if close_at_end and side != 0 and n > 0:
        x = _slip(cp[n - 1], side < 0, s_num, s_den, s_ticks, tick)
        c, e2 = _exit_fees(rvs, rvs_in, rv_idx, sess, n - 1, e_i, side, qty, x, e_px, e_chg,
                           cnc, charges_on)
        cash += side * qty * x - c - (e2 - e_chg)
        nt = _book(tr, nt, e_i, n - 1, side, qty, e_px, x, e2, c, 4)
        eq[n - 1] = cash
    return tr[:nt], eq, rejected


@njit(cache=True)
def _enter(direction, ref, i, signal_i, cash, atr, rv_idx, rvs, stop_pct, target_pct, tick,
           s_num, s_den, s_ticks, kind, p_int, p_float, lot, margin_bps, charges_on, cnc):
    """(qty, price, charges, stop, target); qty 0 when refused (as a CNC short always is).
    Flat, so equity == cash."""
    is_buy = direction > 0
    px = _slip(ref, is_buy, s_num, s_den, s_ticks, tick)
    a = atr[signal_i] if signal_i >= 0 else np.nan
    q = _size(kind, p_int, p_float, px, cash, a, lot)
    if q <= 0 or (cnc and not is_buy):
        return 0, 0, 0, -1, -1
    chg = fill_charges_int(rvs[rv_idx[i]], is_buy, q, px) if charges_on else 0
    if cash < q * px * margin_bps // 10_000 + chg:
        return 0, 0, 0, -1, -1
    st = _level(px, stop_pct, not is_buy, tick) if stop_pct > 0 else -1
    tg = _level(px, target_pct, is_buy, tick) if target_pct > 0 else -1
    return q, px, chg, st, tg


@dataclass
class FastArrays:
    """Raw fast-path output: trades as an int64 table, equity per bar (paise)."""

    trades: np.ndarray  # columns: entry_i, exit_i, side, qty, entry_px, exit_px, e_chg, x_chg, why
    equity_paise: np.ndarray
    rejected: int


def _rate_tables(cfg: BacktestConfig, sess: np.ndarray,
                 segment: Segment | None = None) -> tuple[np.ndarray, np.ndarray]:
    eff = np.array([(r.effective - date(1970, 1, 1)).days for r in REVISIONS])
    rvs = np.stack([rate_vector(segment or cfg.segment,
                                max(r.effective, date(1970, 1, 1) + timedelta(0)),
                                cfg.exchange) for r in REVISIONS])
    idx = np.searchsorted(eff, sess, side="right") - 1
    if cfg.charges and len(idx) and idx.min() < 0:
        raise InvalidInput(f"bars before the first charge table ({REVISIONS[0].effective})",
                           field="bars")
    return np.maximum(idx, 0), rvs


def bar_arrays(bars: Bars, cfg: BacktestConfig) -> dict[str, np.ndarray]:
    """Everything the core needs that depends on the bars and the config, not the strategy.

    Sweeps compute it once and pass it to every run.
    """
    sess = (bars.ts + IST_OFFSET_NS) // DAY_NS
    rv_idx, rvs = _rate_tables(cfg, sess)
    _, rvs_in = _rate_tables(cfg, sess, Segment.EQUITY_INTRADAY)  # CNC legs sold the same day
    n = len(bars)
    return {
        "op": price_paise(bars.open), "hp": price_paise(bars.high), "lp": price_paise(bars.low),
        "cp": price_paise(bars.close), "sess": sess, "rv_idx": rv_idx, "rvs": rvs,
        "rvs_in": rvs_in,
        "cut": cutoff_mask(bars.ts, cfg) if cfg.mis else np.zeros(n, np.bool_),
        "atr": (atr_batch(bars.high, bars.low, bars.close, cfg.sizer.atr_period)
                if cfg.sizer.kind == ATR_RISK else np.full(n, np.nan)),
    }


def run_fast_arrays(bars: Bars, strategy: SignalStrategy, config: BacktestConfig | None = None,
                    trade_from: int = 0, pre: dict[str, np.ndarray] | None = None) -> FastArrays:
    cfg = config or BacktestConfig()
    if not isinstance(strategy, SignalStrategy):
        raise InvalidInput(f"the fast path runs signal strategies, not {strategy.type_name!r}",
                           field="strategy")
    sig = strategy.signals(bars)
    a = pre if pre is not None else bar_arrays(bars, cfg)
    kind, p_int, p_float, _ = cfg.sizer.as_params()
    sl = cfg.slippage
    p = strategy.params
    tr, eq, rejected = _core(
        a["op"], a["hp"], a["lp"], a["cp"], np.ascontiguousarray(sig.entries, dtype=np.bool_),
        np.ascontiguousarray(sig.exits, dtype=np.bool_), a["cut"], a["sess"], a["atr"],
        a["rv_idx"], a["rvs"], a["rvs_in"], cfg.segment is Segment.EQUITY_DELIVERY,
        p["allow_short"], p["stop_loss_pct"], p["take_profit_pct"],
        cfg.tick_paise, cfg.fill_on == "close", sl.bps.numerator, sl.bps.denominator, sl.ticks,
        kind, p_int, p_float, cfg.lot_size, cfg.margin_bps, cfg.initial_capital_paise,
        cfg.close_at_end, bool(cfg.mis), cfg.charges, trade_from,
        int(np.count_nonzero(sig.entries | sig.exits)) + 1)
    return FastArrays(tr, eq, int(rejected))


def run_fast(bars: Bars, strategy: SignalStrategy,
             config: BacktestConfig | None = None) -> BacktestResult:
    """Same result object as the engine (for one symbol)."""
    cfg = config or BacktestConfig()
    out = run_fast_arrays(bars, strategy, cfg)
    ts = bars.ts
    sym = bars.symbol or "SYM"
    trades = [Trade(sym, "main", "long" if r[2] > 0 else "short", int(r[3]), int(ts[r[0]]),
                    int(r[4]), int(ts[r[1]]), int(r[5]), int(r[6]), int(r[7]), REASONS[r[8]])
              for r in out.trades.tolist()]
    t = out.trades
    charges = int(t[:, 6].sum() + t[:, 7].sum())
    turnover = int((t[:, 3] * (t[:, 4] + t[:, 5])).sum())
    return BacktestResult(cfg, ts.copy(), out.equity_paise, trades, 2 * len(trades),
                          out.rejected, charges, turnover, len(bars))
