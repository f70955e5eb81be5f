"""Performance metrics from an equity curve and a trade list.

Conventions: returns are daily (IST trading day, last equity of the day), annualised with 252
days; Sharpe and Sortino use a per-day risk-free rate of `risk_free_annual / 252`; CAGR uses the
calendar span from the first to the last trading day. Drawdowns are fractions of the running
peak, reported positive; their duration is the longest peak-to-recovery stretch (or to the end).
Money stays in integer paise; ratios are floats. Exposure is the share of bars that end with a
position open.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from mandi.core.backtest.data import DAY_NS, IST_OFFSET_NS

TRADING_DAYS = 252


@dataclass(frozen=True)
class Metrics:
    total_return: float
    cagr: float
    volatility: float
    sharpe: float
    sortino: float
    calmar: float
    max_drawdown: float
    max_drawdown_bars: int
    max_drawdown_days: float
    trades: int
    win_rate: float
    profit_factor: float
    expectancy_paise: float
    avg_win_paise: float
    avg_loss_paise: float
    exposure: float
    turnover_paise: int
    charges_paise: int
    net_pnl_paise: int
    final_equity_paise: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def daily_returns(ts: np.ndarray, equity: np.ndarray, initial: int) -> np.ndarray:
    if len(ts) == 0:
        return np.zeros(0)
    day = (ts + IST_OFFSET_NS) // DAY_NS
    last = np.r_[day[1:] != day[:-1], True]
    eod = np.r_[float(initial), equity[last].astype(np.float64)]
    return eod[1:] / eod[:-1] - 1.0


def drawdown(equity: np.ndarray) -> np.ndarray:
    """Fraction below the running peak at each point (0 at a new high)."""
    e = equity.astype(np.float64)
    peak = np.maximum.accumulate(e) if len(e) else e
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(peak > 0, 1.0 - e / peak, 0.0)


def _longest_underwater(dd: np.ndarray, ts: np.ndarray) -> tuple[int, float]:
    under = dd > 0
    if not under.any():
        return 0, 0.0
    # start index of each underwater run and its length
    edges = np.diff(np.r_[0, under.astype(np.int8), 0])
    starts, ends = np.nonzero(edges == 1)[0], np.nonzero(edges == -1)[0]
    k = int(np.argmax(ends - starts))
    s, e = starts[k], ends[k]  # [s, e) underwater; recovered at e (or never)
    stop_ts = ts[e] if e < len(ts) else ts[-1]
    return int(e - s), float((stop_ts - ts[s - 1 if s > 0 else 0]) / DAY_NS)


def compute(ts: np.ndarray, equity: np.ndarray, initial: int, net_pnl: np.ndarray,
            charges: int, turnover: int, exposure: float,
            risk_free_annual: float = 0.0) -> Metrics:
    final = int(equity[-1]) if len(equity) else initial
    r = daily_returns(ts, equity, initial)
    rf = risk_free_annual / TRADING_DAYS
    ex = r - rf
    sd = float(np.std(r, ddof=1)) if len(r) > 1 else 0.0
    down = math.sqrt(float(np.mean(np.minimum(ex, 0.0) ** 2))) if len(r) else 0.0
    sharpe = float(np.mean(ex)) / sd * math.sqrt(TRADING_DAYS) if sd > 0 else 0.0
    sortino = float(np.mean(ex)) / down * math.sqrt(TRADING_DAYS) if down > 0 else 0.0
    total = final / initial - 1.0
    if len(ts):
        days = ((ts[-1] + IST_OFFSET_NS) // DAY_NS - (ts[0] + IST_OFFSET_NS) // DAY_NS) + 1
        years = days / 365.25
        cagr = (final / initial) ** (1 / years) - 1.0 if final > 0 else -1.0
    else:
        cagr = 0.0
    dd = drawdown(equity)
    max_dd = float(dd.max()) if len(dd) else 0.0
    dd_bars, dd_days = _longest_underwater(dd, ts) if len(dd) else (0, 0.0)
    pnl = np.asarray(net_pnl, dtype=np.int64)
    wins, losses = pnl[pnl > 0], pnl[pnl <= 0]
    gross_loss = -int(losses.sum())
    return Metrics(
        total_return=total, cagr=cagr, volatility=sd * math.sqrt(TRADING_DAYS), sharpe=sharpe,
        sortino=sortino, calmar=cagr / max_dd if max_dd > 0 else 0.0, max_drawdown=max_dd,
        max_drawdown_bars=dd_bars, max_drawdown_days=dd_days, trades=len(pnl),
        win_rate=len(wins) / len(pnl) if len(pnl) else 0.0,
        profit_factor=int(wins.sum()) / gross_loss if gross_loss > 0 else
        (math.inf if len(wins) else 0.0),
        expectancy_paise=float(pnl.mean()) if len(pnl) else 0.0,
        avg_win_paise=float(wins.mean()) if len(wins) else 0.0,
        avg_loss_paise=float(losses.mean()) if len(losses) else 0.0,
        exposure=exposure, turnover_paise=turnover, charges_paise=charges,
        net_pnl_paise=final - initial, final_equity_paise=final)


def exposure_from_indices(n_bars: int, entry_i: np.ndarray, exit_i: np.ndarray) -> float:
    """Share of bars held: each trade covers [entry, exit) (at least its entry bar)."""
    if n_bars == 0 or len(entry_i) == 0:
        return 0.0
    cover = np.zeros(n_bars + 1, dtype=np.int64)
    np.add.at(cover, entry_i, 1)
    np.add.at(cover, np.maximum(exit_i, entry_i + 1), -1)
    return float((np.cumsum(cover[:-1]) > 0).mean())


def metrics_of(result: Any, risk_free_annual: float = 0.0, start: int = 0) -> Metrics:
    """Metrics of a `BacktestResult` (engine or fast path), from equity point `start` on
    (a warm-up without positions before it, as with `trade_from`)."""
    trades = result.trades
    ts = result.ts[start:]
    eq = result.equity_paise[start:]
    initial = int(result.equity_paise[start - 1]) if start > 0 else \
        result.config.initial_capital_paise
    entry_i = np.searchsorted(ts, np.array([t.entry_ts for t in trades], dtype=np.int64))
    exit_i = np.searchsorted(ts, np.array([t.exit_ts for t in trades], dtype=np.int64))
    return compute(ts, eq, initial, np.array([t.net_pnl_paise for t in trades], dtype=np.int64),
                   result.charges_paid_paise, result.turnover_paise,
                   exposure_from_indices(len(ts), entry_i, exit_i), risk_free_annual)
