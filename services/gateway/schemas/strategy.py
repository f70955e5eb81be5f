"""Request bodies of the strategy, backtest and analysis API. Unknown fields are rejected, so a
typo is a 400 naming the field instead of a silently ignored setting. Money is in rupees at the
REST edge and becomes integer paise before it reaches a service."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class StrategyBody(BaseModel):
    """A strategy definition: a registered type with params, a rule set, or custom code."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, max_length=200)
    type: str = Field(min_length=1, max_length=64)
    params: dict[str, Any] = Field(default_factory=dict)
    rules: dict[str, Any] | None = None
    code: str | None = Field(None, max_length=256 * 1024)


class NamedStrategyBody(StrategyBody):
    name: str = Field(min_length=1, max_length=200)  # type: ignore[assignment]


class RunStrategyRef(BaseModel):
    """The strategy of a run: inline (`type` + `params`/`rules`/`code`) or stored (`id`)."""

    model_config = ConfigDict(extra="forbid")

    id: str | None = None
    name: str | None = Field(None, max_length=200)
    type: str | None = Field(None, min_length=1, max_length=64)
    params: dict[str, Any] = Field(default_factory=dict)
    rules: dict[str, Any] | None = None
    code: str | None = Field(None, max_length=256 * 1024)


class SizingBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["fixed_qty", "fixed_capital", "pct_equity", "atr_risk"] = "fixed_qty"
    qty: int | None = Field(None, gt=0)
    capital: float | None = Field(None, gt=0)  # rupees per entry (fixed_capital)
    pct: float | None = Field(None, gt=0, le=100)  # % of equity (pct_equity)
    risk_pct: float | None = Field(None, gt=0, le=100)  # % of equity at risk (atr_risk)
    atr_multiple: float | None = Field(None, gt=0)


class CostsBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    product: Literal["CNC", "MIS", "NRML"] = "CNC"
    slippage_bps: float = Field(0.0, ge=0, le=1000)
    slippage_ticks: int = Field(0, ge=0, le=1000)
    disable_charges: bool = False


class RunBody(BaseModel):
    """What a strategy runs on: shared by backtests and bots (a bot's body is a run body)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    strategy: RunStrategyRef
    symbols: list[str] = Field(min_length=1, max_length=100)
    interval: str = "day"
    capital: float = Field(1_000_000.0, gt=0, le=1e12)  # rupees
    sizing: SizingBody = Field(default_factory=SizingBody)
    costs: CostsBody = Field(default_factory=CostsBody)
    fill: Literal["next_open", "close"] = "next_open"


class BacktestRunBody(RunBody):
    from_: str = Field(alias="from")
    to: str
    wait: bool = False  # true → answer when the run has finished (or failed)


class BotScheduleBody(BaseModel):
    """A bot's daily window (services/strategy/bot_schedule.py checks the values): `start` and
    `stop` "HH:MM" IST or "open-5" / "close+5"; `days` "trading" or weekday names."""

    model_config = ConfigDict(extra="forbid")

    start: str | None = Field(None, max_length=16)
    stop: str | None = Field(None, max_length=16)
    days: str | list[str] | None = None


class BotBody(RunBody):
    """POST /api/v1/bots: a run body plus where and how the bot trades. `product` overrides
    `costs.product`; `schedule` (optional) lets the runner start and stop the bot daily."""

    name: str | None = Field(None, max_length=200)
    account_id: str = Field(min_length=1, max_length=64)
    mode: Literal["paper", "live"]
    product: Literal["CNC", "MIS", "NRML"] = "MIS"
    schedule: BotScheduleBody | None = None


class BotScheduleUpdate(BaseModel):
    """PUT /api/v1/bots/{id}/schedule: the new schedule, or null to remove it."""

    model_config = ConfigDict(extra="forbid")

    schedule: BotScheduleBody | None


FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]


class GridRange(BaseModel):
    """A parameter's values as a range (`stop` inclusive) instead of a list."""

    model_config = ConfigDict(extra="forbid")

    start: float = Field(allow_inf_nan=False)
    stop: float = Field(allow_inf_nan=False)
    step: float = Field(gt=0, allow_inf_nan=False)


class OptimizeBody(RunBody):
    """POST /api/v1/optimize: a run body over one symbol, the grid of parameters to search
    (`{"fast": [5, 10], "slow": {"start": 20, "stop": 60, "step": 10}}`), and the metric the
    results are ranked by; `walk_forward` re-optimises on rolling in-sample windows and
    reports each window's out-of-sample metrics."""

    from_: str = Field(alias="from")
    to: str
    param_grid: dict[str, list[FiniteFloat] | GridRange] = Field(min_length=1, max_length=10)
    metric: str = Field("sharpe", min_length=1, max_length=64)
    method: Literal["grid", "walk_forward"] = "grid"
    walk_forward_splits: int = Field(3, ge=1, le=50)  # walk_forward only
    in_sample_fraction: float = Field(0.7, ge=0.1, lt=1)  # walk_forward only
