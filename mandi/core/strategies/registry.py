"""Strategy types by name: the one place that turns a stored definition into an instance."""

from __future__ import annotations

from typing import Any

from mandi.core.errors import InvalidInput
from mandi.core.strategies.base import Strategy
from mandi.core.strategies.bollinger import BollingerReversion
from mandi.core.strategies.ema_crossover import EmaCrossover
from mandi.core.strategies.ladder import MomentumLadder
from mandi.core.strategies.macd import MacdCross
from mandi.core.strategies.rsi import RsiReversal
from mandi.core.strategies.rules import RuleStrategy

STRATEGIES: dict[str, type[Strategy]] = {
    cls.type_name: cls
    for cls in (EmaCrossover, RsiReversal, MacdCross, BollingerReversion, RuleStrategy,
                MomentumLadder)
}


def strategy_class(type_name: Any) -> type[Strategy]:
    cls = STRATEGIES.get(type_name) if isinstance(type_name, str) else None
    if cls is None:
        raise InvalidInput(f"unknown strategy type {type_name!r}; one of {sorted(STRATEGIES)}",
                           field="type")
    return cls


def create(type_name: str, params: dict[str, Any] | None = None) -> Strategy:
    """Build a strategy from its type name and parameters; errors name the field."""
    params = params or {}
    if not isinstance(params, dict):
        raise InvalidInput("params must be an object", field="params")
    return strategy_class(type_name)(**params)


def validate(definition: Any) -> Strategy:
    """A stored definition {"type": ..., "params": {...}} → instance (raises InvalidInput)."""
    if not isinstance(definition, dict):
        raise InvalidInput("a strategy definition must be an object", field="definition")
    unknown = set(definition) - {"type", "params"}
    if unknown:
        f = sorted(unknown)[0]
        raise InvalidInput(f"unknown field {f!r}", field=f)
    if "type" not in definition:
        raise InvalidInput("type is required", field="type")
    return create(definition["type"], definition.get("params"))


def catalogue() -> list[dict[str, Any]]:
    """Every type with its parameters (type, default, bounds) for clients to render forms."""
    return [cls.describe() for cls in STRATEGIES.values()]
