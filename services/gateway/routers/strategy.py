"""`/api/v1/strategy`, `/api/v1/strategies`, `/api/v1/backtest` and `/api/v1/analysis`: thin
REST over the strategy service (definitions, backtest jobs) and the history service (candles for
analysis), with indicators and statistics computed by `mandi.core`.

Who is asking: the gateway's verified caller (auth.enforce), forwarded to the strategy service
as a signed principal (clients.py signs `mandi-user`, `mandi-role`); the service refuses custom
Python code (403) to anyone but an admin. Money is rupees at this edge and paise behind it; dates
are IST (`to` inclusive).
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import grpc
import numpy as np
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from google.protobuf import json_format, struct_pb2

from mandi.core import analysis
from mandi.core import indicators as ind
from mandi.core.backtest.data import Bars
from mandi.core.backtest.metrics import drawdown
from mandi.core.clock import IST
from mandi.core.errors import InvalidInput, NotFound
from mandi.core.intervals import parse_interval
from mandi.core.strategies import registry
from mandi.platform.protoconv import (
    EXCHANGE_NAMES,
    from_timestamp,
    has_timestamp,
    parse_ist,
    symbol_ref,
    to_timestamp,
)
from mandi.v1 import common_pb2, history_pb2, strategy_pb2
from services.gateway.auth.enforce import Me
from services.gateway.clients import Backends
from services.gateway.deps import backends
from services.gateway.schemas.strategy import (
    BacktestRunBody,
    NamedStrategyBody,
    RunBody,
    StrategyBody,
)

Stubs = Annotated[Backends, Depends(backends)]
DEFAULT_NAME = "default"  # the user's current strategy behind /api/v1/strategy
RUN_TIMEOUT_S = 6 * 3600.0
JOB_STATES = {1: "queued", 2: "running", 3: "done", 4: "failed", 5: "cancelled"}
PRODUCTS = {"CNC": strategy_pb2.PRODUCT_CNC, "MIS": strategy_pb2.PRODUCT_MIS,
            "NRML": strategy_pb2.PRODUCT_NRML}
FILLS = {"next_open": strategy_pb2.FILL_CONVENTION_NEXT_OPEN,
         "close": strategy_pb2.FILL_CONVENTION_CLOSE}
MAX_ANALYSIS_BARS = 200_000


async def principal(who: Me) -> tuple[tuple[str, str], ...]:
    """gRPC metadata naming the caller (see the module docstring)."""
    return who.metadata()


Caller = Annotated[tuple[tuple[str, str], ...], Depends(principal)]

strategy_router = APIRouter(prefix="/api/v1/strategy", tags=["strategy"])
strategies_router = APIRouter(prefix="/api/v1/strategies", tags=["strategy"])
backtest_router = APIRouter(prefix="/api/v1/backtest", tags=["backtest"])
analysis_router = APIRouter(prefix="/api/v1/analysis", tags=["analysis"])


# --- conversions ---------------------------------------------------------------------------------
def _struct(d: dict[str, Any] | None) -> struct_pb2.Struct:
    s = struct_pb2.Struct()
    if d:
        s.update(d)
    return s


def _definition(body: StrategyBody, name: str | None = None, sid: str = ""
                ) -> strategy_pb2.StrategyDef:
    msg = strategy_pb2.StrategyDef(id=sid, name=name or body.name or "", type=body.type,
                                   params=_struct(body.params), code=body.code or "")
    if body.rules is not None:
        msg.rules.CopyFrom(_struct(body.rules))
    return msg


def _ts(ts: Any) -> str | None:
    return from_timestamp(ts).isoformat() if has_timestamp(ts) else None


def strategy_json(s: strategy_pb2.StrategyDef) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": s.id, "name": s.name, "type": s.type,
        "params": json_format.MessageToDict(s.params),
        "rules": json_format.MessageToDict(s.rules) if s.HasField("rules") else None,
        "version": s.version, "created_at": _ts(s.created_at), "updated_at": _ts(s.updated_at),
    }
    if s.code:
        out["code"] = s.code
    return out


def _rupees(paise: int) -> float:
    return paise / 100


def metrics_json(m: strategy_pb2.Metrics) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in strategy_pb2.Metrics.DESCRIPTOR.fields:
        v = getattr(m, f.name)
        if f.name.endswith("_paise"):
            out[f.name[: -len("_paise")]] = _rupees(v)
        else:  # JSON has no Infinity: an infinite profit factor (no losing trade) is null
            out[f.name] = v if not isinstance(v, float) or math.isfinite(v) else None
    return out


def backtest_json(b: strategy_pb2.Backtest) -> dict[str, Any]:
    spec = b.spec
    return {
        "id": b.id, "status": JOB_STATES.get(b.state, "unknown"), "progress": b.progress,
        "error": b.error or None, "created_at": _ts(b.created_at),
        "finished_at": _ts(b.finished_at),
        "strategy": strategy_json(spec.strategy),
        "symbols": [f"{EXCHANGE_NAMES.get(s.exchange, '?')}:{s.tradingsymbol}"
                    for s in spec.symbols],
        "interval": spec.interval, "capital": _rupees(spec.capital_paise),
        "summary": metrics_json(b.summary) if b.state == common_pb2.JOB_STATE_DONE else None,
        "partial": partial_json(b.partial) if b.HasField("partial") else None,
    }


def trade_json(t: strategy_pb2.BacktestTrade) -> dict[str, Any]:
    return {"symbol": t.symbol, "side": t.side, "quantity": t.quantity,
            "entry_time": _ts(t.entry_ts), "entry_price": _rupees(t.entry_price_paise),
            "exit_time": _ts(t.exit_ts), "exit_price": _rupees(t.exit_price_paise),
            "gross_pnl": _rupees(t.gross_pnl_paise), "charges": _rupees(t.charges_paise),
            "net_pnl": _rupees(t.net_pnl_paise), "exit_reason": t.exit_reason}


def partial_json(p: strategy_pb2.BacktestPartial) -> dict[str, Any]:
    """A running backtest's results so far (services/strategy/partial.py)."""
    return {"bars_done": p.bars_done, "as_of": _ts(p.as_of),
            "equity": _rupees(p.equity_paise), "equity_paise": p.equity_paise,
            "trades": p.trades, "net_pnl": _rupees(p.net_pnl_paise),
            "net_pnl_paise": p.net_pnl_paise,
            "equity_curve": [{"ts": _ts(e.ts), "equity": _rupees(e.equity_paise)}
                             for e in p.equity],
            "recent_trades": [trade_json(t) for t in p.recent_trades]}


def _symbol(text: str, field: str) -> common_pb2.SymbolRef:
    exch, sep, sym = text.strip().partition(":")
    if not sep:
        raise InvalidInput(f"symbol {text!r} must be EXCHANGE:SYMBOL, e.g. NSE:INFY", field=field)
    return symbol_ref(exch, sym, field=field).symbol


def _range(start: str, end: str) -> tuple[datetime, datetime]:
    lo = parse_ist(start, field="from")
    hi = parse_ist(end, field="to", end_of_day=True)
    if lo >= hi:
        raise InvalidInput(f"from {start} is after to {end}", field="from")
    return lo, hi


def run_spec(body: BacktestRunBody) -> strategy_pb2.BacktestSpec:
    spec = base_spec(body)
    lo, hi = _range(body.from_, body.to)
    getattr(spec, "from").CopyFrom(to_timestamp(lo))
    spec.to.CopyFrom(to_timestamp(hi))
    return spec


def base_spec(body: RunBody) -> strategy_pb2.BacktestSpec:
    """The spec of a run body without its period (a bot's is open-ended)."""
    ref = body.strategy
    spec = strategy_pb2.BacktestSpec(
        symbols=[_symbol(s, f"symbols[{i}]") for i, s in enumerate(body.symbols)],
        interval=parse_interval(body.interval).name,
        capital_paise=round(body.capital * 100),
        costs=strategy_pb2.Costs(product=PRODUCTS[body.costs.product],
                                 slippage_bps=body.costs.slippage_bps,
                                 slippage_ticks=body.costs.slippage_ticks,
                                 disable_charges=body.costs.disable_charges),
        fill=FILLS[body.fill])
    if ref.id:
        if ref.type or ref.params or ref.rules or ref.code:
            raise InvalidInput("give either strategy.id or an inline definition, not both",
                               field="strategy.id")
        spec.strategy_id = ref.id
    elif not ref.type:
        raise InvalidInput("strategy.type (or strategy.id) is required", field="strategy.type")
    else:
        spec.strategy.CopyFrom(_definition(StrategyBody(
            name=ref.name, type=ref.type, params=ref.params, rules=ref.rules, code=ref.code)))
    s = body.sizing
    need = {"fixed_qty": "qty", "fixed_capital": "capital", "pct_equity": "pct",
            "atr_risk": "risk_pct"}[s.type]
    if getattr(s, need) is None:
        raise InvalidInput(f"sizing type {s.type} needs sizing.{need}", field=f"sizing.{need}")
    spec.sizing.CopyFrom(strategy_pb2.Sizing(
        type=s.type, qty=s.qty or 0, capital_paise=round((s.capital or 0) * 100),
        pct=s.pct or 0.0, risk_pct=s.risk_pct or 0.0, atr_multiple=s.atr_multiple or 0.0))
    return spec


# --- the current strategy -------------------------------------------------------------------------
async def _find_named(stubs: Backends, md: Any, name: str) -> strategy_pb2.StrategyDef | None:
    token = ""
    while True:
        resp = await stubs.strategy.ListStrategies(strategy_pb2.ListStrategiesRequest(
            page=common_pb2.PageRequest(page_size=1000, page_token=token)), metadata=md)
        for s in resp.strategies:
            if s.name == name:
                return s
        token = resp.page.next_page_token
        if not token:
            return None


async def _save_current(stubs: Backends, md: Any, definition: strategy_pb2.StrategyDef
                        ) -> strategy_pb2.StrategyDef:
    definition.name = DEFAULT_NAME
    current = await _find_named(stubs, md, DEFAULT_NAME)
    if current is None:
        return (await stubs.strategy.CreateStrategy(
            strategy_pb2.CreateStrategyRequest(strategy=definition), metadata=md)).strategy
    definition.id = current.id
    return (await stubs.strategy.UpdateStrategy(
        strategy_pb2.UpdateStrategyRequest(strategy=definition), metadata=md)).strategy


@strategy_router.get("/types")
async def strategy_types() -> dict[str, Any]:
    """Every registered type with its parameters (type, default, bounds) for forms; custom
    Python code is listed too but runs only for admins."""
    types = registry.catalogue()
    types.append({"type": "custom", "params": [], "admin_only": True,
                  "doc": "Python source defining class Strategy with on_bar(bar, ctx) "
                         "returning a target position 1, 0, -1 or None"})
    return {"success": True, "types": types}


@strategy_router.get("")
async def get_current(stubs: Stubs, md: Caller) -> dict[str, Any]:
    current = await _find_named(stubs, md, DEFAULT_NAME)
    if current is None:
        raise NotFound("no current strategy yet; PUT /api/v1/strategy to set one")
    return {"success": True, "strategy": strategy_json(current)}


@strategy_router.put("")
async def put_current(body: StrategyBody, stubs: Stubs, md: Caller) -> dict[str, Any]:
    saved = await _save_current(stubs, md, _definition(body))
    return {"success": True, "strategy": strategy_json(saved)}


@strategy_router.post("/validate")
async def validate(body: StrategyBody, stubs: Stubs, md: Caller) -> dict[str, Any]:
    resp = await stubs.strategy.ValidateStrategy(
        strategy_pb2.ValidateStrategyRequest(strategy=_definition(body)), metadata=md)
    return {"success": True, "valid": resp.valid,
            "errors": [{"field": e.field, "message": e.message} for e in resp.errors]}


async def _document(request: Request) -> dict[str, Any]:
    raw = await request.body()
    try:
        doc = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"malformed JSON: {exc}", field="json") from None
    if not isinstance(doc, dict):
        raise InvalidInput("the document must be a JSON object", field="json")
    return doc


@strategy_router.post("/import")
async def import_current(request: Request, stubs: Stubs, md: Caller) -> dict[str, Any]:
    """Set the current strategy from an export document; the service checks it like any
    other definition."""
    doc = await _document(request)
    doc.pop("format", None)
    doc.pop("name", None)
    try:
        body = StrategyBody(**doc)
    except Exception as exc:  # pydantic's own error, re-raised in the API's envelope
        raise InvalidInput(f"invalid strategy document: {exc}".splitlines()[0],
                           field="json") from None
    saved = await _save_current(stubs, md, _definition(body))
    return {"success": True, "strategy": strategy_json(saved)}


@strategy_router.get("/export")
async def export_current(stubs: Stubs, md: Caller) -> JSONResponse:
    current = await _find_named(stubs, md, DEFAULT_NAME)
    if current is None:
        raise NotFound("no current strategy yet; PUT /api/v1/strategy to set one")
    resp = await stubs.strategy.ExportStrategy(
        strategy_pb2.ExportStrategyRequest(id=current.id), metadata=md)
    return JSONResponse(json.loads(resp.json), headers={
        "Content-Disposition": 'attachment; filename="strategy.json"'})


# --- named strategies -----------------------------------------------------------------------------
@strategies_router.get("")
async def list_strategies(stubs: Stubs, md: Caller,
                          page_size: Annotated[int, Query(ge=1, le=1000)] = 100,
                          page_token: str = "") -> dict[str, Any]:
    resp = await stubs.strategy.ListStrategies(strategy_pb2.ListStrategiesRequest(
        page=common_pb2.PageRequest(page_size=page_size, page_token=page_token)), metadata=md)
    return {"success": True, "strategies": [strategy_json(s) for s in resp.strategies],
            "total": resp.page.total, "next_page_token": resp.page.next_page_token or None}


@strategies_router.post("", status_code=201)
async def create_strategy(body: NamedStrategyBody, stubs: Stubs, md: Caller) -> dict[str, Any]:
    resp = await stubs.strategy.CreateStrategy(
        strategy_pb2.CreateStrategyRequest(strategy=_definition(body)), metadata=md)
    return {"success": True, "strategy": strategy_json(resp.strategy)}


@strategies_router.post("/import", status_code=201)
async def import_strategy(request: Request, stubs: Stubs, md: Caller) -> dict[str, Any]:
    doc = await _document(request)
    resp = await stubs.strategy.ImportStrategy(
        strategy_pb2.ImportStrategyRequest(json=json.dumps(doc)), metadata=md)
    return {"success": True, "strategy": strategy_json(resp.strategy)}


@strategies_router.get("/{strategy_id}")
async def get_strategy(strategy_id: str, stubs: Stubs, md: Caller) -> dict[str, Any]:
    resp = await stubs.strategy.GetStrategy(
        strategy_pb2.GetStrategyRequest(id=strategy_id), metadata=md)
    return {"success": True, "strategy": strategy_json(resp.strategy)}


@strategies_router.put("/{strategy_id}")
async def update_strategy(strategy_id: str, body: NamedStrategyBody, stubs: Stubs,
                          md: Caller) -> dict[str, Any]:
    resp = await stubs.strategy.UpdateStrategy(strategy_pb2.UpdateStrategyRequest(
        strategy=_definition(body, sid=strategy_id)), metadata=md)
    return {"success": True, "strategy": strategy_json(resp.strategy)}


@strategies_router.delete("/{strategy_id}")
async def delete_strategy(strategy_id: str, stubs: Stubs, md: Caller) -> dict[str, Any]:
    await stubs.strategy.DeleteStrategy(
        strategy_pb2.DeleteStrategyRequest(id=strategy_id), metadata=md)
    return {"success": True, "deleted": strategy_id}


@strategies_router.get("/{strategy_id}/export")
async def export_strategy(strategy_id: str, stubs: Stubs, md: Caller) -> JSONResponse:
    resp = await stubs.strategy.ExportStrategy(
        strategy_pb2.ExportStrategyRequest(id=strategy_id), metadata=md)
    return JSONResponse(json.loads(resp.json))


# --- backtests ------------------------------------------------------------------------------------
@backtest_router.post("/run", status_code=202)
async def run_backtest(body: BacktestRunBody, stubs: Stubs, md: Caller) -> JSONResponse:
    """Queue a run and answer with its id at once (the first progress message carries it);
    with `wait: true` answer when it has finished."""
    stream = stubs.strategy.RunBacktest(
        strategy_pb2.RunBacktestRequest(spec=run_spec(body)), metadata=md,
        timeout=RUN_TIMEOUT_S)
    try:
        first = await stream.read()
        last = first
        if body.wait:
            async_end = False
            while not async_end:
                msg = await stream.read()
                async_end = msg is grpc.aio.EOF
                if not async_end:
                    last = msg
    finally:
        stream.cancel()  # the job goes on without us
    if first is grpc.aio.EOF:
        raise InvalidInput("the strategy service ended the run without an id")
    if not body.wait:
        return JSONResponse({"success": True, "id": first.backtest_id}, status_code=202)
    return JSONResponse({"success": True, "id": last.backtest_id,
                         "status": JOB_STATES.get(last.state, "unknown"),
                         "error": last.error or None}, status_code=200)


@backtest_router.get("/{backtest_id}")
async def get_backtest(backtest_id: str, stubs: Stubs, md: Caller) -> dict[str, Any]:
    resp = await stubs.strategy.GetBacktest(
        strategy_pb2.GetBacktestRequest(id=backtest_id), metadata=md)
    return {"success": True, **backtest_json(resp.backtest)}


def data_source_json(r: strategy_pb2.GetBacktestResultsResponse) -> dict[str, Any] | None:
    """Where the run's bars came from (seed 002's `data_source`); null for old runs."""
    if not r.HasField("data_source"):
        return None
    d = r.data_source
    return {"service": d.service, "table": d.table, "interval": d.interval,
            "from": _ts(getattr(d, "from")), "to": _ts(d.to), "bars": d.bars,
            "symbols": [{"symbol": s.symbol, "bars": s.bars, "first_ts": _ts(s.first_ts),
                         "last_ts": _ts(s.last_ts)} for s in d.symbols]}


@backtest_router.get("/{backtest_id}/results")
async def backtest_results(backtest_id: str, stubs: Stubs, md: Caller) -> dict[str, Any]:
    r = await stubs.strategy.GetBacktestResults(
        strategy_pb2.GetBacktestResultsRequest(id=backtest_id), metadata=md)
    return {
        "success": True,
        "id": r.backtest.id,
        "status": JOB_STATES.get(r.backtest.state, "unknown"),
        "metrics": metrics_json(r.metrics),
        "trades": [trade_json(t) for t in r.trades],
        "equity_curve": [{"ts": _ts(p.ts), "equity": _rupees(p.equity_paise),
                          "drawdown": p.drawdown} for p in r.equity],
        "data_source": data_source_json(r),
    }


@backtest_router.delete("/{backtest_id}")
async def delete_backtest(backtest_id: str, stubs: Stubs, md: Caller) -> dict[str, Any]:
    """Seed 002: delete the run's results. A finished run is deleted (`action: deleted`, the
    run as it was); a queued or running one is cancelled (`action: cancelled`) and a second
    DELETE once it has stopped deletes it."""
    resp = await stubs.strategy.DeleteBacktest(
        strategy_pb2.DeleteBacktestRequest(id=backtest_id), metadata=md)
    return {"success": True, "action": resp.action, **backtest_json(resp.backtest)}


# --- analysis -------------------------------------------------------------------------------------
async def _candles(stubs: Backends, symbol: str, interval: str, start: str, end: str
                   ) -> dict[str, np.ndarray]:
    ref = _symbol(symbol, "symbol")
    lo, hi = _range(start, end)
    req = history_pb2.GetCandlesRequest(instrument=common_pb2.InstrumentRef(symbol=ref),
                                        interval=parse_interval(interval).name)
    getattr(req, "from").CopyFrom(to_timestamp(lo))
    req.to.CopyFrom(to_timestamp(hi))
    cols: dict[str, list[Any]] = {k: [] for k in ("ts", "open", "high", "low", "close",
                                                  "volume")}
    n = 0
    async for resp in stubs.history.GetCandles(req):
        b = resp.batch
        n += len(b.ts_unix_ms)
        if n > MAX_ANALYSIS_BARS:
            raise InvalidInput(f"more than {MAX_ANALYSIS_BARS} bars; narrow the range or use a "
                               "coarser interval", field="from")
        cols["ts"].extend(b.ts_unix_ms)
        for k in ("open", "high", "low", "close", "volume"):
            cols[k].extend(getattr(b, k))
    if n == 0:
        raise NotFound(f"no {interval} candles stored for {symbol} in {start}..{end}",
                       field="symbol")
    out = {k: np.asarray(v, dtype=np.float64) for k, v in cols.items()}
    out["ts"] = np.asarray(cols["ts"], dtype=np.int64)
    return out


def _clean(values: np.ndarray) -> list[float | None]:
    return [None if not math.isfinite(v) else round(float(v), 6) for v in values.tolist()]


def _ints(args: list[str], n: int, defaults: tuple[float, ...], field: str) -> list[float]:
    if len(args) > n:
        raise InvalidInput(f"too many arguments for {field}", field="indicators")
    try:
        given = [float(a) for a in args]
    except ValueError:
        raise InvalidInput(f"{field} arguments must be numbers", field="indicators") from None
    return given + list(defaults[len(given):])


def compute_indicator(spec: str, c: dict[str, np.ndarray]) -> dict[str, list[float | None]]:
    """One `name[:arg[:arg]]` spec → named output series (`ema_20`, `macd_12_26_9_signal`…)."""
    name, *args = spec.strip().lower().split(":")
    h, lo, cl, v, ts_ns = c["high"], c["low"], c["close"], c["volume"], c["ts"] * 1_000_000
    if name in ("sma", "ema", "wma", "rsi", "atr", "adx"):
        (p,) = _ints(args, 1, (14 if name in ("rsi", "atr", "adx") else 20,), name)
        p = int(p)
        fn = {"sma": lambda: ind.sma(cl, p), "ema": lambda: ind.ema(cl, p),
              "wma": lambda: ind.wma(cl, p), "rsi": lambda: ind.rsi(cl, p),
              "atr": lambda: ind.atr(h, lo, cl, p), "adx": lambda: ind.adx(h, lo, cl, p)}[name]
        return {f"{name}_{p}": _clean(fn())}
    if name == "macd":
        f, s, g = (int(x) for x in _ints(args, 3, (12, 26, 9), name))
        line, sig, hist = ind.macd(cl, f, s, g)
        key = f"macd_{f}_{s}_{g}"
        return {key: _clean(line), f"{key}_signal": _clean(sig), f"{key}_hist": _clean(hist)}
    if name in ("bollinger", "bb"):
        p, k = _ints(args, 2, (20, 2.0), name)
        up, mid, dn = ind.bollinger(cl, int(p), k, k)
        key = f"bb_{int(p)}_{k:g}"
        return {f"{key}_upper": _clean(up), f"{key}_middle": _clean(mid),
                f"{key}_lower": _clean(dn)}
    if name == "supertrend":
        p, m = _ints(args, 2, (10, 3.0), name)
        line, direction = ind.supertrend(h, lo, cl, int(p), m)
        key = f"supertrend_{int(p)}_{m:g}"
        return {key: _clean(line), f"{key}_direction": _clean(direction.astype(np.float64))}
    if name == "stochastic":
        k, sk, d = (int(x) for x in _ints(args, 3, (14, 3, 3), name))
        fk, fd = ind.stochastic(h, lo, cl, k, sk, d)
        return {f"stoch_{k}_{sk}_{d}_k": _clean(fk), f"stoch_{k}_{sk}_{d}_d": _clean(fd)}
    if name == "vwap":
        _ints(args, 0, (), name)
        return {"vwap": _clean(ind.vwap(ts_ns, h, lo, cl, v))}
    if name == "obv":
        _ints(args, 0, (), name)
        return {"obv": _clean(ind.obv(cl, v))}
    raise InvalidInput(f"unknown indicator {name!r}; known: sma, ema, wma, rsi, macd, "
                       "bollinger, atr, adx, supertrend, stochastic, vwap, obv",
                       field="indicators")


@analysis_router.get("/indicators")
async def indicators(stubs: Stubs,
                     symbol: Annotated[str, Query(description="EXCHANGE:SYMBOL")],
                     start: Annotated[str, Query(alias="from")],
                     end: Annotated[str, Query(alias="to")],
                     interval: str = "day",
                     names: Annotated[str, Query(alias="indicators")] = "sma:20,rsi:14",
                     ) -> dict[str, Any]:
    specs = [s for s in names.split(",") if s.strip()]
    if not specs or len(specs) > 20:
        raise InvalidInput("give 1 to 20 indicators, e.g. ema:20,rsi:14,macd",
                           field="indicators")
    c = await _candles(stubs, symbol, interval, start, end)
    series: dict[str, list[float | None]] = {}
    for s in specs:
        series.update(compute_indicator(s, c))
    return {
        "success": True, "symbol": symbol.upper(), "interval": interval,
        "ts": [datetime.fromtimestamp(t / 1000, UTC).astimezone(IST).isoformat()
               for t in c["ts"].tolist()],
        "close": _clean(c["close"]),
        "indicators": series,
    }


PERIODS_PER_YEAR = {"daily": 252, "weekly": 52, "monthly": 12}


@analysis_router.get("/stats")
async def stats(stubs: Stubs,
                start: Annotated[str, Query(alias="from")],
                end: Annotated[str, Query(alias="to")],
                symbol: Annotated[str | None, Query(description="EXCHANGE:SYMBOL")] = None,
                symbols: Annotated[str | None, Query(description="comma-separated")] = None,
                interval: str = "day",
                period: Literal["daily", "weekly", "monthly"] = "daily",
                bins: Annotated[int, Query(ge=1, le=200)] = 20) -> dict[str, Any]:
    """Return statistics per symbol (period returns, volatility, distribution, drawdown) and,
    for several symbols, the correlation of their period returns."""
    names = [s.strip().upper() for s in (symbols or symbol or "").split(",") if s.strip()]
    if not names or len(names) > 20:
        raise InvalidInput("give 1 to 20 symbols, e.g. symbols=NSE:INFY,NSE:TCS",
                           field="symbols")
    data: dict[str, Bars] = {}
    for name in names:
        c = await _candles(stubs, name, interval, start, end)
        data[name] = Bars(c["ts"] * 1_000_000, c["open"], c["high"], c["low"], c["close"],
                          c["volume"].astype(np.int64), name)
    out: dict[str, Any] = {"success": True, "interval": interval, "period": period,
                           "symbols": {n: symbol_stats(b, period, bins) for n, b in data.items()}}
    if len(data) > 1:
        corr = analysis.correlation_matrix(data, period)
        out["correlation"] = {r: {c: _finite(corr.loc[r, c]) for c in corr.columns}
                              for r in corr.index}
    return out


def _finite(v: Any) -> float | None:
    v = float(v)
    return v if math.isfinite(v) else None


def symbol_stats(bars: Bars, period: str, bins: int) -> dict[str, Any]:
    close = bars.close
    rets = analysis.period_returns(bars, period)  # type: ignore[arg-type]
    dd = drawdown(close)
    out: dict[str, Any] = {
        "bars": len(bars), "first_close": float(close[0]), "last_close": float(close[-1]),
        "high": float(bars.high.max()), "low": float(bars.low.min()),
        "total_return": float(close[-1] / close[0] - 1), "max_drawdown": float(dd.max()),
        "returns": len(rets),
    }
    if len(rets) >= 2:
        out["annualised_volatility"] = analysis.annualised_volatility(
            rets, PERIODS_PER_YEAR[period])
    if len(rets) >= 4:
        d = analysis.distribution(rets, bins)
        out["distribution"] = {
            "mean": d.mean, "std": d.std, "skew": _finite(d.skew),
            "kurtosis": _finite(d.kurtosis), "hist_counts": d.hist_counts.tolist(),
            "hist_edges": d.hist_edges.tolist()}
    return out


router = APIRouter()
for _sub in (strategy_router, strategies_router, backtest_router, analysis_router):
    router.include_router(_sub)
