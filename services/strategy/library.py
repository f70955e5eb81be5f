"""The one place the service touches the strategy/backtest library (`mandi.core`).

Keeping the calls here means the servicer, the validator and the job runner do not care how the
library spells its registry, engine or metrics, and a change there is one edit here. It also
holds the two adapters the service needs around the engine: progress/cancellation, and custom
code whose decisions were computed in the sandbox.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import numpy as np

from mandi.core.backtest.data import Bars
from mandi.core.backtest.engine import BacktestConfig, Backtester, BacktestResult
from mandi.core.backtest.metrics import Metrics as CoreMetrics
from mandi.core.backtest.metrics import drawdown, metrics_of
from mandi.core.backtest.sizing import AtrRisk, FixedCapital, FixedQty, PercentEquity, Sizer
from mandi.core.charges import Segment, Side, revision_on
from mandi.core.clock import IST
from mandi.core.errors import InvalidInput
from mandi.core.fills import Slippage
from mandi.core.strategies import registry
from mandi.core.strategies.base import Context, Strategy, validate_params
from mandi.platform.protoconv import EXCHANGE_NAMES
from mandi.v1 import strategy_pb2
from services.strategy.store import Results, TradeRow

RULES = "rules"
CUSTOM = "custom"
PROGRESS_EVERY_BARS = 2_000

# Accepted spellings of the registered types (the issue text and the REST examples use the
# short names; the library's classes carry the long ones).
ALIASES = {"macd": "macd_cross", "bollinger": "bollinger_reversion", "rsi_reversal": "rsi",
           "ladder": "momentum_ladder"}


# --- strategy types ------------------------------------------------------------------------------
def canonical_type(name: str) -> str:
    return ALIASES.get(name, name)


def type_names() -> list[str]:
    return sorted({*registry.STRATEGIES, CUSTOM})


def strategy_class(type_name: str) -> type[Strategy]:
    cls = registry.STRATEGIES.get(canonical_type(type_name))
    if cls is None:
        raise InvalidInput(f"unknown strategy type {type_name!r}; known: "
                           f"{', '.join(type_names())}", field="type")
    return cls


def engine_params(type_name: str, params: dict[str, Any], rules: dict[str, Any] | None
                   ) -> dict[str, Any]:
    """The rule builder takes its document as the `rules` parameter; the definition keeps it
    in its own field so clients edit rules and parameters separately."""
    if canonical_type(type_name) == RULES:
        if rules is None and "rules" not in params:
            raise InvalidInput("a rules document is required for type 'rules'", field="rules")
        return {**params, "rules": rules if rules is not None else params["rules"]}
    if rules is not None:
        raise InvalidInput("rules are only accepted for type 'rules'", field="rules")
    return dict(params)


def validate(type_name: str, params: dict[str, Any], rules: dict[str, Any] | None
             ) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """(params, rules) coerced, bounds-checked and normalised by the type's spec, including
    cross-field rules such as fast < slow. InvalidInput names the parameter (`fast`) or the
    rule path (`rules[0].when.op`)."""
    cls = strategy_class(type_name)
    if not isinstance(params, dict):
        raise InvalidInput("params must be an object", field="params")
    merged = validate_params(cls.params_spec, engine_params(type_name, params, rules))
    cls.check_params(merged)
    if canonical_type(type_name) == RULES:
        rules = merged.pop("rules")
    return merged, rules


def build(type_name: str, params: dict[str, Any], rules: dict[str, Any] | None) -> Strategy:
    return registry.create(canonical_type(type_name), engine_params(type_name, params, rules))


# --- run configuration ---------------------------------------------------------------------------
def sizer(s: strategy_pb2.Sizing) -> Sizer:
    try:
        if s.type == "fixed_qty":
            return FixedQty(int(s.qty))
        if s.type == "fixed_capital":
            return FixedCapital(int(s.capital_paise))
        if s.type == "pct_equity":
            return PercentEquity(float(s.pct))
        if s.type == "atr_risk":
            return AtrRisk(float(s.risk_pct), atr_mult=float(s.atr_multiple or 2.0))
    except InvalidInput as exc:
        raise InvalidInput(exc.message, field=f"sizing.{exc.field}") from None
    raise InvalidInput(f"unknown sizing type {s.type!r}; expected fixed_qty, fixed_capital, "
                       "pct_equity or atr_risk", field="sizing.type")


def _is_option(tradingsymbol: str) -> bool:
    return tradingsymbol.endswith(("CE", "PE")) and any(c.isdigit() for c in tradingsymbol)


def segment_of(spec: strategy_pb2.BacktestSpec) -> Segment:
    """Charges segment from the product and the symbols' exchanges (one per run).

    CNC maps to equity_delivery; the engine itself charges a CNC leg sold the day it was bought
    at intraday rates, adds the DP charge to later-day sells and refuses CNC shorts."""
    product = spec.costs.product or strategy_pb2.PRODUCT_CNC
    kinds = set()
    for sym in spec.symbols:
        exch = EXCHANGE_NAMES.get(sym.exchange, "")
        if exch in ("NFO", "BFO"):
            kinds.add(Segment.OPTIONS if _is_option(sym.tradingsymbol) else Segment.FUTURES)
        else:
            kinds.add("equity")
    if len(kinds) > 1:
        raise InvalidInput("one run cannot mix equities, futures and options (their costs "
                           "differ); run them separately", field="symbols")
    kind = kinds.pop() if kinds else "equity"
    if kind == "equity":
        if product == strategy_pb2.PRODUCT_NRML:
            raise InvalidInput("NRML is a derivatives product; use CNC or MIS for equities",
                               field="costs.product")
        return (Segment.EQUITY_INTRADAY if product == strategy_pb2.PRODUCT_MIS
                else Segment.EQUITY_DELIVERY)
    if product == strategy_pb2.PRODUCT_CNC:
        raise InvalidInput("CNC is an equity product; use NRML or MIS for derivatives",
                           field="costs.product")
    return kind


def config_of(spec: strategy_pb2.BacktestSpec, *, lot_size: int = 1) -> BacktestConfig:
    """The engine's config for a run; InvalidInput names the request field at fault."""
    try:
        slippage = Slippage(spec.costs.slippage_bps, int(spec.costs.slippage_ticks))
    except InvalidInput as exc:
        raise InvalidInput(exc.message, field=f"costs.{exc.field}") from None
    segment = segment_of(spec)
    exchange = EXCHANGE_NAMES.get(spec.symbols[0].exchange, "NSE") if spec.symbols else "NSE"
    exchange = "BSE" if exchange in ("BSE", "BFO") else "NSE"
    if not spec.costs.disable_charges and spec.HasField("from"):
        first_day = getattr(spec, "from").ToDatetime(tzinfo=UTC).astimezone(IST).date()
        try:
            revision_on(first_day)
        except InvalidInput as exc:
            raise InvalidInput(f"{exc.message}: charges cannot be computed for {first_day}; "
                               "start later or set costs.disable_charges", field="from") from None
    return BacktestConfig(
        segment=segment,
        exchange=exchange,
        initial_capital_paise=int(spec.capital_paise),
        fill_on="close" if spec.fill == strategy_pb2.FILL_CONVENTION_CLOSE else "next_open",
        slippage=slippage, sizer=sizer(spec.sizing), lot_size=lot_size,
        mis=spec.costs.product == strategy_pb2.PRODUCT_MIS,
        charges=not spec.costs.disable_charges)


# --- adapters around the engine ------------------------------------------------------------------
class Progress(Strategy):
    """Wraps a strategy to report bars done every few thousand bars; the callback may raise
    to abort the run (cancellation) — the engine has no hook of its own for either."""

    type_name = "progress"

    def __init__(self, inner: Strategy, tick: Callable[[int, int], None]) -> None:
        self.inner = inner
        self.params = inner.params
        self.state = inner.state
        self._tick = tick
        self._n = 0

    def on_start(self, symbol: str) -> None:
        self.inner.on_start(symbol)

    def prepare(self, bars: Any) -> None:
        self.inner.prepare(bars)

    def on_bar(self, bar: Any, ctx: Context) -> None:
        self._n += 1
        if self._n % PROGRESS_EVERY_BARS == 0:
            self._tick(PROGRESS_EVERY_BARS, bar.ts)
        self.inner.on_bar(bar, ctx)

    def on_fill(self, fill: Any, ctx: Context) -> None:
        self.inner.on_fill(fill, ctx)


class TargetStrategy(Strategy):
    """Trades target positions (1 long, 0 flat, -1 short per bar) computed in the sandbox, so
    custom code never runs in this process and still trades through the same engine, sizing,
    fills and charges as every built-in strategy."""

    type_name = "custom"

    def __init__(self, targets: np.ndarray) -> None:
        self.params = {}
        self.state = {}
        self._targets = targets.tolist()

    def on_bar(self, bar: Any, ctx: Context) -> None:
        want = self._targets[bar.index]
        pos = ctx.position
        have = (pos > 0) - (pos < 0)
        if want == have:
            return
        if have != 0:
            ctx.exit()
        if want != 0:
            ctx.enter(Side.BUY if want > 0 else Side.SELL)


def run(bars: Mapping[str, Bars], factory: Callable[[str], Strategy], config: BacktestConfig,
        tick: Callable[[int], None], partial: Any = None) -> BacktestResult:
    """The engine over `bars`; `tick(n)` every PROGRESS_EVERY_BARS bars of a symbol (it may
    raise to cancel), and `partial` (partial.PartialResults) takes the results so far then."""
    engine = Backtester(config)
    if partial is not None:
        partial.engine = engine

    def on_tick(n: int, ts_ns: int) -> None:
        tick(n)
        if partial is not None:
            partial.take(n, ts_ns)
    return engine.run(dict(bars), lambda symbol: Progress(factory(symbol), on_tick))


# --- results -------------------------------------------------------------------------------------
def _dt(ns: int) -> datetime:
    return datetime.fromtimestamp(ns / 1e9, tz=UTC)


def metrics(result: BacktestResult) -> dict[str, Any]:
    """The Metrics message's fields from the library's metrics (money in paise)."""
    return metrics_fields(metrics_of(result))


def metrics_fields(core: CoreMetrics) -> dict[str, Any]:
    m = core.as_dict()
    m["max_drawdown_duration_bars"] = m.pop("max_drawdown_bars")
    m.pop("max_drawdown_days", None)
    for key in ("expectancy_paise", "avg_win_paise", "avg_loss_paise"):
        m[key] = round(m[key])
    return m


def results(result: BacktestResult) -> Results:
    return Results(
        metrics=metrics(result),
        equity_ts=[_dt(int(t)) for t in result.ts.tolist()],
        equity_paise=[int(e) for e in result.equity_paise.tolist()],
        drawdown=[float(d) for d in drawdown(result.equity_paise).tolist()],
        trades=[TradeRow(
            symbol=t.symbol, side=t.side.upper(), quantity=t.qty, entry_ts=_dt(t.entry_ts),
            entry_price_paise=t.entry_price_paise, exit_ts=_dt(t.exit_ts),
            exit_price_paise=t.exit_price_paise, gross_pnl_paise=t.gross_pnl_paise,
            charges_paise=t.charges_paise, net_pnl_paise=t.net_pnl_paise,
            exit_reason=t.exit_reason) for t in result.trades])
