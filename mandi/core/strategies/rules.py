"""Rule builder: strategies written as JSON rules, validated field by field, run bar by bar.

Document shape (export gives back exactly this, normalised):

    {"rules": [{"id": "golden", "action": "buy", "priority": 10, "enabled": true,
                "when": {"all": [{"left": {"indicator": "ema", "params": {"period": 10}},
                                  "op": "crosses_above",
                                  "right": {"indicator": "ema", "params": {"period": 30}}},
                                 {"left": {"indicator": "rsi"}, "op": "<", "right": {"value": 70}}
                                 ]}}]}

A condition is a comparison {left, op, right} with op one of > < crosses_above crosses_below, or a
group {"all": [...]} (AND) / {"any": [...]} (OR), nested freely. An operand is an indicator (name,
params, optional output and source), a price field {"price": "close"} or a constant {"value": x}.
On each bar the enabled rules are tried by descending priority (then document order); the first
whose condition holds and whose action applies fires, one action per bar: buy (close a short, go
long), sell (close a long, go short), exit (close everything). Every validation error names the
offending field by its path, e.g. ``rules[0].when.all[1].left.params.period``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mandi.core.charges import Side
from mandi.core.errors import InvalidInput
from mandi.core.indicators import streaming as st
from mandi.core.strategies.base import Bar, Context, Param, Strategy

OPS = (">", "<", "crosses_above", "crosses_below")
ACTIONS = ("buy", "sell", "exit")
PRICES = ("open", "high", "low", "close", "volume")
SOURCES = ("open", "high", "low", "close")


@dataclass(frozen=True)
class IndicatorSpec:
    params: tuple[Param, ...]
    outputs: tuple[str, ...]
    make: Callable[[dict[str, Any]], Any]
    inputs: str  # "x" (one source series) | "hlc" | "vwap" | "cv"


def _p(name: str, default: Any, lo: float, hi: float, t: type = int) -> Param:
    return Param(name, t, default, lo, hi)


PERIOD = _p("period", 14, 1, 5000)
INDICATORS: dict[str, IndicatorSpec] = {
    "sma": IndicatorSpec((PERIOD,), ("value",), lambda p: st.SMA(p["period"]), "x"),
    "ema": IndicatorSpec((PERIOD,), ("value",), lambda p: st.EMA(p["period"]), "x"),
    "wma": IndicatorSpec((PERIOD,), ("value",), lambda p: st.WMA(p["period"]), "x"),
    "rsi": IndicatorSpec((_p("period", 14, 2, 500),), ("value",),
                         lambda p: st.RSI(p["period"]), "x"),
    "macd": IndicatorSpec((_p("fast", 12, 2, 1000), _p("slow", 26, 3, 5000),
                           _p("signal", 9, 1, 1000)), ("macd", "signal", "hist"),
                          lambda p: st.MACD(p["fast"], p["slow"], p["signal"]), "x"),
    "bollinger": IndicatorSpec((_p("period", 20, 2, 1000), _p("k", 2.0, 0.1, 10.0, float)),
                               ("upper", "middle", "lower"),
                               lambda p: st.Bollinger(p["period"], p["k"], p["k"]), "x"),
    "atr": IndicatorSpec((PERIOD,), ("value",), lambda p: st.ATR(p["period"]), "hlc"),
    "adx": IndicatorSpec((_p("period", 14, 2, 500),), ("value",),
                         lambda p: st.ADX(p["period"]), "hlc"),
    "stochastic": IndicatorSpec((_p("k", 14, 1, 500), _p("smooth_k", 3, 1, 100),
                                 _p("d", 3, 1, 100)), ("k", "d"),
                                lambda p: st.Stochastic(p["k"], p["smooth_k"], p["d"]), "hlc"),
    "supertrend": IndicatorSpec((_p("period", 10, 1, 500),
                                 _p("multiplier", 3.0, 0.1, 20.0, float)), ("line", "direction"),
                                lambda p: st.Supertrend(p["period"], p["multiplier"]), "hlc"),
    "vwap": IndicatorSpec((), ("value",), lambda p: st.VWAP(), "vwap"),
    "obv": IndicatorSpec((), ("value",), lambda p: st.OBV(), "cv"),
}


# --- validation: the document → normalised document, or InvalidInput naming the field --------
def _obj(x: Any, path: str, keys: set[str], required: set[str] = frozenset()) -> dict:
    if not isinstance(x, dict):
        raise InvalidInput(f"{path} must be an object", field=path)
    for k in x:
        if k not in keys:
            raise InvalidInput(f"{path}.{k} is not a known field (known: {sorted(keys)})",
                               field=f"{path}.{k}")
    for k in sorted(required):
        if k not in x:
            raise InvalidInput(f"{path}.{k} is required", field=f"{path}.{k}")
    return x


def _operand(x: Any, path: str) -> dict:
    if isinstance(x, dict) and "value" in x:
        _obj(x, path, {"value"})
        v = x["value"]
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            raise InvalidInput(f"{path}.value must be a finite number", field=f"{path}.value")
        return {"value": v}
    if isinstance(x, dict) and "price" in x:
        _obj(x, path, {"price"})
        if x["price"] not in PRICES:
            raise InvalidInput(f"{path}.price must be one of {list(PRICES)}",
                               field=f"{path}.price")
        return {"price": x["price"]}
    x = _obj(x, path, {"indicator", "params", "output", "source"}, {"indicator"})
    name = x["indicator"]
    spec = INDICATORS.get(name) if isinstance(name, str) else None
    if spec is None:
        raise InvalidInput(f"{path}.indicator must be one of {sorted(INDICATORS)}, got {name!r}",
                           field=f"{path}.indicator")
    raw = x.get("params", {})
    if not isinstance(raw, dict):
        raise InvalidInput(f"{path}.params must be an object", field=f"{path}.params")
    known = {p.name: p for p in spec.params}
    params = {}
    for k, v in raw.items():
        if k not in known:
            raise InvalidInput(f"{name} has no parameter {k!r} (known: {sorted(known)})",
                               field=f"{path}.params.{k}")
        try:
            params[k] = known[k].coerce(v)
        except InvalidInput as e:
            raise InvalidInput(e.message, field=f"{path}.params.{k}") from None
    params = {p.name: params.get(p.name, p.default) for p in spec.params}
    if name == "macd" and params["fast"] >= params["slow"]:
        raise InvalidInput("macd fast must be < slow", field=f"{path}.params.fast")
    output = x.get("output", spec.outputs[0])
    if output not in spec.outputs:
        raise InvalidInput(f"{name} outputs are {list(spec.outputs)}", field=f"{path}.output")
    source = x.get("source", "close")
    if source not in SOURCES or (spec.inputs != "x" and "source" in x):
        raise InvalidInput(f"{path}.source must be one of {list(SOURCES)} (single-series "
                           "indicators only)", field=f"{path}.source")
    out = {"indicator": name, "params": params, "output": output}
    if spec.inputs == "x":
        out["source"] = source
    return out


def _condition(x: Any, path: str, depth: int = 0) -> dict:
    if depth > 16:
        raise InvalidInput("conditions nest too deeply (max 16)", field=path)
    if isinstance(x, dict) and ("all" in x or "any" in x):
        key = "all" if "all" in x else "any"
        _obj(x, path, {key})
        items = x[key]
        if not isinstance(items, list) or not items:
            raise InvalidInput(f"{path}.{key} must be a non-empty list", field=f"{path}.{key}")
        return {key: [_condition(c, f"{path}.{key}[{i}]", depth + 1)
                      for i, c in enumerate(items)]}
    x = _obj(x, path, {"left", "op", "right"}, {"left", "op", "right"})
    if x["op"] not in OPS:
        raise InvalidInput(f"{path}.op must be one of {list(OPS)}, got {x['op']!r}",
                           field=f"{path}.op")
    return {"left": _operand(x["left"], f"{path}.left"), "op": x["op"],
            "right": _operand(x["right"], f"{path}.right")}


def normalise(doc: Any) -> dict:
    """Validate a rules document (dict or JSON text) and return its normalised form."""
    if isinstance(doc, str | bytes):
        try:
            doc = json.loads(doc)
        except json.JSONDecodeError as e:
            raise InvalidInput(f"rules are not valid JSON: {e.msg} at line {e.lineno} column "
                               f"{e.colno}", field="rules") from None
    doc = _obj(doc, "rules_doc", {"rules"}, {"rules"})
    rules = doc["rules"]
    if not isinstance(rules, list) or not rules:
        raise InvalidInput("rules must be a non-empty list", field="rules")
    out, ids = [], set()
    for i, r in enumerate(rules):
        path = f"rules[{i}]"
        r = _obj(r, path, {"id", "action", "priority", "enabled", "when"}, {"id", "action", "when"})
        if not isinstance(r["id"], str) or not r["id"].strip():
            raise InvalidInput(f"{path}.id must be a non-empty string", field=f"{path}.id")
        if r["id"] in ids:
            raise InvalidInput(f"duplicate rule id {r['id']!r}", field=f"{path}.id")
        ids.add(r["id"])
        if r["action"] not in ACTIONS:
            raise InvalidInput(f"{path}.action must be one of {list(ACTIONS)}, got "
                               f"{r['action']!r}", field=f"{path}.action")
        prio = r.get("priority", 0)
        if isinstance(prio, bool) or not isinstance(prio, int):
            raise InvalidInput(f"{path}.priority must be an integer", field=f"{path}.priority")
        enabled = r.get("enabled", True)
        if not isinstance(enabled, bool):
            raise InvalidInput(f"{path}.enabled must be true or false", field=f"{path}.enabled")
        out.append({"id": r["id"], "action": r["action"], "priority": prio, "enabled": enabled,
                    "when": _condition(r["when"], f"{path}.when")})
    return {"rules": out}


def export_rules(doc: Any) -> str:
    """Canonical JSON of a (validated) rules document: stable keys, so exports diff cleanly."""
    return json.dumps(normalise(doc), sort_keys=True, indent=2)


def import_rules(text: str) -> dict:
    return normalise(text)


# --- evaluation -----------------------------------------------------------------------------
class _Series:
    """One streaming indicator shared by every operand that names it; keeps now and before."""

    __slots__ = ("now", "obj", "prev", "spec", "src")

    def __init__(self, spec: IndicatorSpec, params: dict, src: str) -> None:
        self.spec, self.obj, self.src = spec, spec.make(params), src
        self.now: tuple = (math.nan,) * len(spec.outputs)
        self.prev = self.now

    def update(self, bar: Bar) -> None:
        o, inp = self.obj, self.spec.inputs
        if inp == "x":
            v = o.update(getattr(bar, self.src))
        elif inp == "hlc":
            v = o.update(bar.high, bar.low, bar.close)
        elif inp == "vwap":
            v = o.update(bar.ts, bar.high, bar.low, bar.close, bar.volume)
        else:
            v = o.update(bar.close, bar.volume)
        self.prev, self.now = self.now, (v if isinstance(v, tuple) else (v,))


class RuleSet:
    def __init__(self, doc: Any) -> None:
        self.doc = normalise(doc)
        self._series: dict[str, _Series] = {}
        self._prev_prices: dict[str, float] = {}
        order = sorted(enumerate(self.doc["rules"]), key=lambda ir: (-ir[1]["priority"], ir[0]))
        self.rules = [(r["id"], r["action"], self._compile(r["when"]))
                      for _, r in order if r["enabled"]]

    def _operand(self, x: dict) -> Callable[[bool], float]:
        if "value" in x:
            v = float(x["value"])
            return lambda prev: v
        if "price" in x:
            f = x["price"]
            return lambda prev: self._bar_prev[f] if prev else self._bar_now[f]
        key = json.dumps(x, sort_keys=True)
        s = self._series.get(key)
        if s is None:
            spec = INDICATORS[x["indicator"]]
            s = self._series[key] = _Series(spec, x["params"], x.get("source", "close"))
        k = s.spec.outputs.index(x["output"])
        return lambda prev: s.prev[k] if prev else s.now[k]

    def _compile(self, c: dict) -> Callable[[], bool]:
        if "all" in c:
            parts = [self._compile(x) for x in c["all"]]
            return lambda: all(p() for p in parts)
        if "any" in c:
            parts = [self._compile(x) for x in c["any"]]
            return lambda: any(p() for p in parts)
        a, b, op = self._operand(c["left"]), self._operand(c["right"]), c["op"]
        if op == ">":
            return lambda: a(False) > b(False)
        if op == "<":
            return lambda: a(False) < b(False)
        if op == "crosses_above":
            return lambda: a(True) <= b(True) and a(False) > b(False)
        return lambda: a(True) >= b(True) and a(False) < b(False)

    def update(self, bar: Bar) -> None:
        now = {f: float(getattr(bar, f)) for f in PRICES}
        self._bar_prev = getattr(self, "_bar_now", {f: math.nan for f in PRICES})
        self._bar_now = now
        for s in self._series.values():
            s.update(bar)

    def decide(self, position: int) -> tuple[str, str] | None:
        """(rule id, action) of the first rule that fires in this position, or None."""
        for rid, action, cond in self.rules:
            if (action == "buy" and position > 0) or (action == "sell" and position < 0) or \
                    (action == "exit" and position == 0):
                continue
            if cond():
                return rid, action
        return None


class RuleStrategy(Strategy):
    type_name = "rules"
    params_spec = (
        Param("rules", object, None, doc="the rules document, object or JSON text"),
        Param("qty", int, 0, 0, 10**7, doc="units per entry; 0 lets the run's sizer decide"),
        Param("stop_loss_pct", float, 0.0, 0.0, 50.0),
        Param("take_profit_pct", float, 0.0, 0.0, 500.0),
    )

    @classmethod
    def check_params(cls, p: dict[str, Any]) -> None:
        if p["rules"] is None:
            raise InvalidInput("rules is required", field="rules")
        p["rules"] = normalise(p["rules"])

    def on_start(self, symbol: str) -> None:
        self.ruleset = RuleSet(self.params["rules"])
        self.state = {"last_rule": None}

    def on_bar(self, bar: Bar, ctx: Context) -> None:
        rs = self.ruleset
        rs.update(bar)
        hit = rs.decide(ctx.position)
        if hit is None:
            return
        self.state["last_rule"], action = hit
        p = self.params
        stop, target, qty = p["stop_loss_pct"] or None, p["take_profit_pct"] or None, p["qty"]
        if ctx.position:
            ctx.exit(reason=f"rule:{hit[0]}")
        if action != "exit":
            ctx.enter(Side.BUY if action == "buy" else Side.SELL, qty=qty or None,
                      stop_pct=stop, target_pct=target)
