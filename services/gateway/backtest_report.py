"""A backtest's tear sheet in the manner of QuantStats: headline metrics, the equity curve and
its drawdown as inline SVG, monthly returns, and trade statistics, as one self-contained HTML
page (no script, no font, no CDN: it renders the same saved to disk and opened offline).

Every value shown comes from the stored results: metrics as the run computed them, monthly
returns from the equity curve (months by IST, the market's calendar; the first month starts
from the run's capital). Money is shown in rupees from paise. All text from the run is escaped.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime
from html import escape
from typing import Any

from mandi.core.backtest.report import monthly_returns, year_returns
from mandi.core.clock import IST
from mandi.platform.protoconv import from_timestamp, has_timestamp
from mandi.v1 import strategy_pb2

MAX_POINTS = 1200  # SVG vertices per chart; longer curves keep each bucket's extremes
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

# (metric key, label, kind): pct = fraction shown as %, num = ratio, int, inr = rupees
METRIC_ROWS = (
    ("total_return", "Total return", "pct"), ("cagr", "CAGR", "pct"),
    ("volatility", "Volatility (ann.)", "pct"), ("sharpe", "Sharpe", "num"),
    ("sortino", "Sortino", "num"), ("calmar", "Calmar", "num"),
    ("max_drawdown", "Max drawdown", "pct"),
    ("max_drawdown_duration_bars", "Longest drawdown (bars)", "int"),
    ("win_rate", "Win rate", "pct"), ("profit_factor", "Profit factor", "num"),
    ("expectancy", "Expectancy / trade", "inr"), ("avg_win", "Average win", "inr"),
    ("avg_loss", "Average loss", "inr"), ("exposure", "Exposure", "pct"),
    ("trades", "Trades", "int"), ("turnover", "Turnover", "inr"),
    ("charges", "Charges", "inr"), ("net_pnl", "Net P&L", "inr"),
    ("final_equity", "Final equity", "inr"),
)

SIGNED = {"total_return", "cagr", "expectancy", "net_pnl"}  # coloured green/red by sign

CSS = """
body{font:14px/1.45 -apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:0;
background:#f4f5f8;color:#1b2330}
header{background:#14213d;color:#fff;padding:18px 28px;border-bottom:4px solid #fca311}
header h1{margin:0;font-size:22px}header p{margin:4px 0 0;color:#cfd6e4}
main{padding:20px 28px;display:grid;grid-template-columns:340px 1fr;gap:20px}
section{background:#fff;border-radius:6px;padding:14px 18px;box-shadow:0 1px 3px #0002}
h2{font-size:15px;margin:0 0 10px;color:#14213d;text-transform:uppercase;letter-spacing:.04em}
table{border-collapse:collapse;width:100%}td,th{padding:4px 6px;border-bottom:1px solid #e6e8ee}
th{text-align:left;color:#556}th.v{text-align:right}td.v{text-align:right;font-variant-numeric:tabular-nums}
.wide{grid-column:1 / -1}.pos{color:#137a3c}.neg{color:#b3261e}
table.months td{text-align:right;font-variant-numeric:tabular-nums;font-size:13px}
svg{width:100%;height:auto;display:block}.muted{color:#778;font-size:12px}
"""


def _fmt(value: Any, kind: str) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "∞" if value == math.inf else "—"
    if kind == "pct":
        return f"{value * 100:.2f}%"
    if kind == "num":
        return f"{value:.2f}"
    if kind == "int":
        return f"{int(value):,}"
    return f"-₹{-value:,.2f}" if value < 0 else f"₹{value:,.2f}"


def metric_text(metrics: dict[str, Any], key: str) -> str:
    """How the report shows one metric (tests read the page with it)."""
    kind = next(k for name, _, k in METRIC_ROWS if name == key)
    return _fmt(metrics.get(key), kind)


def _sign(value: float | None) -> str:
    return "" if not value else ("pos" if value > 0 else "neg")


def _downsample(xs: Sequence[float], ys: Sequence[float]) -> tuple[list[float], list[float]]:
    n = len(xs)
    if n <= MAX_POINTS:
        return list(xs), list(ys)
    step = n / (MAX_POINTS // 2)
    ox: list[float] = []
    oy: list[float] = []
    for b in range(MAX_POINTS // 2):
        lo, hi = int(b * step), min(int((b + 1) * step), n)
        if lo >= hi:
            continue
        seg = range(lo, hi)
        i_min = min(seg, key=lambda i: ys[i])
        i_max = max(seg, key=lambda i: ys[i])
        for i in sorted({i_min, i_max}):
            ox.append(xs[i])
            oy.append(ys[i])
    return ox, oy


def svg_chart(ys: Sequence[float], labels: tuple[str, str], *, title: str, fmt: str,
              color: str, fill_to_zero: bool = False, height: int = 240) -> str:
    """A line (or area down to zero) chart over bar index, with min/max and first/last date
    labels."""
    width, pad_l, pad_r, pad_t, pad_b = 900, 90, 12, 12, 26
    if not ys:
        return f'<p class="muted">no {escape(title)} data</p>'
    xs = list(range(len(ys)))
    px, py = _downsample(xs, ys)
    lo, hi = min(min(py), 0.0) if fill_to_zero else min(py), max(py)
    if fill_to_zero:
        hi = max(hi, 0.0)
    if hi == lo:
        hi, lo = hi + 1, lo - 1
    span_x = max(len(ys) - 1, 1)

    def sx(x: float) -> float:
        return pad_l + (width - pad_l - pad_r) * x / span_x

    def sy(y: float) -> float:
        return pad_t + (height - pad_t - pad_b) * (hi - y) / (hi - lo)

    pts = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in zip(px, py, strict=True))
    shape = (f'<polygon points="{sx(px[0]):.1f},{sy(0):.1f} {pts} {sx(px[-1]):.1f},{sy(0):.1f}"'
             f' fill="{color}" fill-opacity="0.35" stroke="{color}" stroke-width="1"/>'
             if fill_to_zero else
             f'<polyline points="{pts}" fill="none" stroke="{color}" stroke-width="1.6"/>')
    grid = "".join(
        f'<line x1="{pad_l}" x2="{width - pad_r}" y1="{sy(v):.1f}" y2="{sy(v):.1f}"'
        f' stroke="#e3e6ee"/><text x="{pad_l - 6}" y="{sy(v) + 4:.1f}" text-anchor="end"'
        f' font-size="11" fill="#667">{escape(fmt.format(v + 0.0))}</text>'
        for v in (hi, (hi + lo) / 2, lo))
    return (f'<svg viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}"'
            f' xmlns="http://www.w3.org/2000/svg">{grid}{shape}'
            f'<text x="{pad_l}" y="{height - 6}" font-size="11" fill="#667">'
            f'{escape(labels[0])}</text><text x="{width - pad_r}" y="{height - 6}"'
            f' font-size="11" fill="#667" text-anchor="end">{escape(labels[1])}</text></svg>')


def _months_table(months: dict[int, dict[int, float]]) -> str:
    if not months:
        return '<p class="muted">no equity curve</p>'
    years = year_returns(months)
    head = "".join(f"<th>{m}</th>" for m in MONTHS)
    rows = []
    for year in sorted(months):
        cells = "".join(
            (f'<td class="{_sign(months[year][m])}" data-month="{year}-{m:02d}">'
             f'{months[year][m] * 100:.2f}%</td>') if m in months[year] else "<td></td>"
            for m in range(1, 13))
        rows.append(f"<tr><th>{year}</th>{cells}<td class=\"{_sign(years[year])}\">"
                    f"<b>{years[year] * 100:.2f}%</b></td></tr>")
    return (f'<table class="months"><tr><th></th>{head}<th>Year</th></tr>'
            f'{"".join(rows)}</table>')


def trade_stats(trades: Sequence[strategy_pb2.BacktestTrade]) -> list[tuple[str, str]]:
    if not trades:
        return [("Trades", "0")]
    pnl = [t.net_pnl_paise for t in trades]
    wins = [p for p in pnl if p > 0]
    losses = [p for p in pnl if p <= 0]
    held = [(from_timestamp(t.exit_ts) - from_timestamp(t.entry_ts)).total_seconds()
            for t in trades if has_timestamp(t.exit_ts)]
    longest_w = longest_l = run_w = run_l = 0
    for p in pnl:
        run_w, run_l = (run_w + 1, 0) if p > 0 else (0, run_l + 1)
        longest_w, longest_l = max(longest_w, run_w), max(longest_l, run_l)
    avg_hold = sum(held) / len(held) if held else 0.0
    inr = lambda p: _fmt(p / 100, "inr")  # noqa: E731
    return [
        ("Trades", f"{len(trades):,}"),
        ("Long / short", f"{sum(t.side == 'LONG' for t in trades)} / "
                         f"{sum(t.side == 'SHORT' for t in trades)}"),
        ("Winners / losers", f"{len(wins)} / {len(losses)}"),
        ("Best trade", inr(max(pnl))), ("Worst trade", inr(min(pnl))),
        ("Average trade", inr(sum(pnl) / len(pnl))),
        ("Gross profit", inr(sum(wins))), ("Gross loss", inr(sum(losses))),
        ("Charges paid", inr(sum(t.charges_paise for t in trades))),
        ("Longest winning streak", str(longest_w)), ("Longest losing streak", str(longest_l)),
        ("Average holding", f"{avg_hold / 3600:.1f} h"),
    ]


def symbol_table(trades: Sequence[strategy_pb2.BacktestTrade]) -> str:
    """Per symbol: trades, win rate, charges and net P&L (a multi-symbol run's split)."""
    by: dict[str, list[int]] = {}
    charges: dict[str, int] = {}
    for t in trades:
        by.setdefault(t.symbol, []).append(t.net_pnl_paise)
        charges[t.symbol] = charges.get(t.symbol, 0) + t.charges_paise
    if not by:
        return '<p class="muted">no trades</p>'
    rows = "".join(
        f'<tr><th>{escape(sym)}</th><td class="v">{len(p)}</td>'
        f'<td class="v">{sum(x > 0 for x in p) / len(p) * 100:.1f}%</td>'
        f'<td class="v">{escape(_fmt(charges[sym] / 100, "inr"))}</td>'
        f'<td class="v {_sign(sum(p))}">{escape(_fmt(sum(p) / 100, "inr"))}</td></tr>'
        for sym, p in sorted(by.items()))
    return ('<table><tr><th>Symbol</th><th class="v">Trades</th><th class="v">Win rate</th>'
            f'<th class="v">Charges</th><th class="v">Net P&amp;L</th></tr>{rows}</table>')


def _rows(pairs: Sequence[tuple[str, str]]) -> str:
    return "".join(f'<tr><th>{escape(k)}</th><td class="v">{escape(v)}</td></tr>'
                   for k, v in pairs)


def render_report(run: dict[str, Any], metrics: dict[str, Any],
                  results: strategy_pb2.GetBacktestResultsResponse,
                  data_source: dict[str, Any] | None) -> str:
    points = [(datetime.fromtimestamp(p.ts.seconds + p.ts.nanos / 1e9, UTC), p.equity_paise)
              for p in results.equity]  # ~4x faster than Timestamp.ToDatetime per point
    equity = [eq / 100 for _, eq in points]
    dd = [-p.drawdown * 100 for p in results.equity]
    dates = ((points[0][0].astimezone(IST).date().isoformat(),
              points[-1][0].astimezone(IST).date().isoformat()) if points else ("", ""))
    capital_paise = round(run["capital"] * 100)
    strat = run["strategy"]
    title = f"{strat.get('name') or strat.get('type')} on {', '.join(run['symbols'])}"
    metric_rows = "".join(
        f'<tr><th>{escape(label)}</th>'
        f'<td class="v {_sign(metrics.get(key)) if key in SIGNED else ""}"'
        f' data-metric="{key}">{escape(_fmt(metrics.get(key), kind))}</td></tr>'
        for key, label, kind in METRIC_ROWS)
    params = ", ".join(f"{k}={int(v) if isinstance(v, float) and v.is_integer() else v}"
                       for k, v in sorted((strat.get("params") or {}).items()))
    source = ""
    if data_source:
        source = (f'{escape(data_source["table"])} · {escape(data_source["interval"])} bars · '
                  f'{data_source["bars"]:,} bars')
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Backtest report · {escape(title)}</title>
<style>{CSS}</style></head>
<body>
<header><h1>{escape(title)}</h1>
<p>{escape(strat.get('type') or '')} ({escape(params)}) · {escape(run['interval'])} ·
{escape(dates[0])} → {escape(dates[1])} · capital {escape(_fmt(run['capital'], 'inr'))} ·
run {escape(run['id'])}</p></header>
<main>
<section><h2>Key metrics</h2><table>{metric_rows}</table></section>
<section><h2>Equity (₹)</h2>
{svg_chart(equity, dates, title="equity", fmt="₹{:,.0f}", color="#14213d", height=320)}
<h2>Drawdown (%)</h2>
{svg_chart(dd, dates, title="drawdown", fmt="{:.1f}%", color="#b3261e", fill_to_zero=True,
           height=200)}
<h2>By symbol</h2>
{symbol_table(results.trades)}
</section>
<section class="wide"><h2>Monthly returns</h2>
{_months_table(monthly_returns(points, capital_paise))}</section>
<section><h2>Trade statistics</h2><table>{_rows(trade_stats(results.trades))}</table></section>
<section><h2>Run</h2><table>{_rows([
    ("Status", run['status']), ("Created", run['created_at'] or ''),
    ("Finished", run['finished_at'] or ''), ("Symbols", ', '.join(run['symbols'])),
    ("Data source", source or 'not recorded')])}</table>
<p class="muted">Generated by Mandi from the stored results; returns are net of charges.</p>
</section>
</main></body></html>
"""
