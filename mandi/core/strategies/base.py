"""The Strategy API: one contract for backtest and live.

A strategy sees bars (`on_bar`) and its own fills (`on_fill`) and answers only through a
`Context`: it reads its open legs and emits order intents (`enter`, `exit`, `set_stop`). The
backtester and the live runner each implement the context; the strategy never learns which one it
runs under. Parameters are declared with types and bounds and validated on construction, with
errors naming the field.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, NamedTuple

import numpy as np

from mandi.core.charges import Side
from mandi.core.errors import InvalidInput


# --- market data and fills ---------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Bar:
    symbol: str
    ts: int  # bar open, epoch ns UTC
    open: float
    high: float
    low: float
    close: float
    volume: int
    index: int = -1  # position in the backtest series; -1 live

    def freeze(self) -> Bar:
        return self


class BarView:
    """The backtester's bar: a cursor over columnar arrays, moved to each bar in turn.

    It reads like a `Bar` but is reused, so it is valid only during the call that received it;
    `freeze()` returns a `Bar` to keep. (Creating a Bar object per bar would cost more than the
    rest of the event loop.)
    """

    __slots__ = ("_c", "_h", "_l", "_o", "_ts", "_v", "index", "symbol")

    def __init__(self, symbol: str, ts: Any, o: Any, h: Any, lo: Any, c: Any, v: Any) -> None:
        self.symbol = symbol
        self._ts, self._o, self._h, self._l, self._c, self._v = ts, o, h, lo, c, v
        self.index = -1  # before the first bar

    @property
    def ts(self) -> int:
        return self._ts[self.index]

    @property
    def open(self) -> float:
        return self._o[self.index]

    @property
    def high(self) -> float:
        return self._h[self.index]

    @property
    def low(self) -> float:
        return self._l[self.index]

    @property
    def close(self) -> float:
        return self._c[self.index]

    @property
    def volume(self) -> int:
        return self._v[self.index]

    def freeze(self) -> Bar:
        i = self.index
        return Bar(self.symbol, int(self._ts[i]), float(self._o[i]), float(self._h[i]),
                   float(self._l[i]), float(self._c[i]), int(self._v[i]), i)


@dataclass(frozen=True, slots=True)
class Fill:
    symbol: str
    tag: str
    side: Side
    qty: int
    price_paise: int
    ts: int
    charges_paise: int
    reason: str  # entry | signal | stop | target | squareoff | end


# --- order intents (immutable; tuples because strategies create one per signal) ----------
class Enter(NamedTuple):
    """Open a leg `tag` (market order). qty None → the run's sizer decides.

    stop_pct / target_pct become protective levels around the fill price (a bracket order live).
    """

    symbol: str
    side: Side
    tag: str = "main"
    qty: int | None = None
    stop_pct: float | None = None
    target_pct: float | None = None


class Exit(NamedTuple):
    symbol: str
    tag: str | None = None  # None: every open leg
    reason: str = "signal"


class SetStop(NamedTuple):
    symbol: str
    tag: str
    stop_paise: int


Intent = Enter | Exit | SetStop


@dataclass(slots=True)
class Leg:
    """An open position leg as the strategy sees it (the engine owns and updates it)."""

    tag: str
    side: Side
    qty: int
    entry_price_paise: int
    entry_ts: int
    stop_paise: int | None = None
    target_paise: int | None = None
    entry_charges_paise: int = 0

    @property
    def is_long(self) -> bool:
        return self.side is Side.BUY


class Context:
    """Order sink and position view for one symbol; implemented by backtest and live alike.

    `legs` and `position` (signed net quantity) are maintained by the runner as fills arrive.
    """

    __slots__ = ("intents", "legs", "position", "symbol")

    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        self.legs: dict[str, Leg] = {}
        self.position = 0
        self.intents: list[Intent] = []

    def enter(self, side: Side, tag: str = "main", qty: int | None = None,
              stop_pct: float | None = None, target_pct: float | None = None) -> None:
        self.intents.append(Enter(self.symbol, side, tag, qty, stop_pct, target_pct))

    def exit(self, tag: str | None = None, reason: str = "signal") -> None:
        self.intents.append(Exit(self.symbol, tag, reason))

    def set_stop(self, tag: str, stop_paise: int) -> None:
        self.intents.append(SetStop(self.symbol, tag, stop_paise))


# --- parameters ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Param:
    name: str
    type: type
    default: Any
    min: float | None = None
    max: float | None = None
    choices: tuple[Any, ...] | None = None
    doc: str = ""

    def coerce(self, value: Any) -> Any:
        f = self.name
        if self.type is bool:
            if not isinstance(value, bool):
                raise InvalidInput(f"{f} must be true or false, got {value!r}", field=f)
            return value
        if self.type is int:
            if isinstance(value, bool) or not isinstance(value, int | np.integer):
                if isinstance(value, float) and value.is_integer():
                    value = int(value)
                else:
                    raise InvalidInput(f"{f} must be an integer, got {value!r}", field=f)
            value = int(value)
        elif self.type is float:
            if isinstance(value, bool) or not isinstance(value, int | float | np.number):
                raise InvalidInput(f"{f} must be a number, got {value!r}", field=f)
            value = float(value)
            if not math.isfinite(value):
                raise InvalidInput(f"{f} must be finite", field=f)
        elif not isinstance(value, self.type):
            raise InvalidInput(f"{f} must be of type {self.type.__name__}", field=f)
        if self.min is not None and value < self.min:
            raise InvalidInput(f"{f} must be >= {self.min}, got {value}", field=f)
        if self.max is not None and value > self.max:
            raise InvalidInput(f"{f} must be <= {self.max}, got {value}", field=f)
        if self.choices is not None and value not in self.choices:
            raise InvalidInput(f"{f} must be one of {list(self.choices)}, got {value!r}", field=f)
        return value

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type.__name__, "default": self.default,
                "min": self.min, "max": self.max, "choices": self.choices, "doc": self.doc}


def validate_params(spec: tuple[Param, ...], given: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(given, Mapping):
        raise InvalidInput("params must be an object", field="params")
    known = {p.name: p for p in spec}
    for name in given:
        if name not in known:
            raise InvalidInput(f"unknown parameter {name!r}; known: {sorted(known)}", field=name)
    return {p.name: p.coerce(given[p.name]) if p.name in given else p.default for p in spec}


# --- the strategy base ----------------------------------------------------------------------
class Strategy:
    """Subclasses declare `type_name` and `params_spec` and implement `on_bar`."""

    type_name: ClassVar[str] = ""
    params_spec: ClassVar[tuple[Param, ...]] = ()

    def __init__(self, **params: Any) -> None:
        self.params = validate_params(self.params_spec, params)
        self.check_params(self.params)
        self.state: dict[str, Any] = {}

    @classmethod
    def check_params(cls, p: dict[str, Any]) -> None:
        """Cross-field rules (e.g. fast < slow); raise InvalidInput naming the field."""

    @classmethod
    def describe(cls) -> dict[str, Any]:
        return {"type": cls.type_name, "params": [p.describe() for p in cls.params_spec]}

    def on_start(self, symbol: str) -> None:
        """Called once before the first bar."""

    def prepare(self, bars: Any) -> bool:
        """Backtest only: the whole series up front, to compute indicators vectorised.

        Batch indicators equal their streaming twins bit for bit, so a strategy may use them
        here and stream the same values live (where prepare is never called). It must not use
        values beyond the current bar in on_bar. `bars` is None when the run asks strategies
        to stream their indicators instead. Returns True when the strategy took the series.
        """
        return False

    def on_bar(self, bar: Bar, ctx: Context) -> None:
        raise NotImplementedError

    def on_fill(self, fill: Fill, ctx: Context) -> None:
        """Called for every fill of this strategy's orders, before the next on_bar."""


@dataclass
class SignalArrays:
    """Vectorised form of a signal strategy, for the fast path: one bool per bar."""

    entries: np.ndarray
    exits: np.ndarray
    atr: np.ndarray | None = field(default=None)


COMMON_SIGNAL_PARAMS: tuple[Param, ...] = (
    Param("allow_short", bool, False,
          doc="exit signals also open shorts (MIS/F&O; under CNC the backtester refuses them)"),
    Param("stop_loss_pct", float, 0.0, 0.0, 50.0, doc="0 disables the stop"),
    Param("take_profit_pct", float, 0.0, 0.0, 500.0, doc="0 disables the target"),
)


class SignalStrategy(Strategy):
    """A one-leg strategy driven by an entry and an exit signal, with a vectorised twin.

    `step(bar)` (streaming) and `signals(bars)` (batch) must agree bar for bar; the shared state
    machine below is repeated by the fast path, which is why both paths trade identically.
    Long-only by default: entry opens a long, exit closes it; with allow_short the exit signal
    also opens a short and the entry signal closes it.
    """

    def step(self, bar: Bar) -> tuple[bool, bool]:
        raise NotImplementedError

    def signals(self, bars: Any) -> SignalArrays:
        raise NotImplementedError

    _prepared: SignalArrays | None = None

    def prepare(self, bars: Any) -> bool:
        if bars is None:  # a run without vectorised indicators: stream them
            self._prepared = None
            return False
        sig = self.signals(bars)
        self._prepared = sig
        # one small int per bar (1 entry, 2 exit): a single list read per bar in on_bar
        self._codes = (sig.entries.astype(np.int8) | (sig.exits.astype(np.int8) << 1)).tolist()
        return True

    def on_bar(self, bar: Bar, ctx: Context) -> None:
        if self._prepared is not None:
            code = self._codes[bar.index]
            if not code:
                return
            entry, exit_ = code & 1, code & 2
        else:
            entry, exit_ = self.step(bar)
            if not (entry or exit_):
                return
        pos = ctx.position
        p = self.params
        stop = p["stop_loss_pct"] or None
        target = p["take_profit_pct"] or None
        if pos > 0:
            if exit_:
                ctx.exit()
                if p["allow_short"]:
                    ctx.enter(Side.SELL, stop_pct=stop, target_pct=target)
        elif pos < 0:
            if entry:
                ctx.exit()
                ctx.enter(Side.BUY, stop_pct=stop, target_pct=target)
        elif entry:
            ctx.enter(Side.BUY, stop_pct=stop, target_pct=target)
        elif exit_ and p["allow_short"]:
            ctx.enter(Side.SELL, stop_pct=stop, target_pct=target)


def crosses_above(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    out = np.zeros(len(a), dtype=bool)
    with np.errstate(invalid="ignore"):
        out[1:] = (a[:-1] <= b[:-1]) & (a[1:] > b[1:])
    return out


def crosses_below(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return crosses_above(b, a)
