"""What the services export to Prometheus, and which metrics and labels a PromQL expression uses:
so dashboards and alerts can be checked against the real registry instead of showing "No data".

`exported()` imports every module that defines Mandi metrics and reads prometheus_client's
registry: each metric family's exported sample names (a counter `x` is `x_total`, a histogram
`x_bucket`/`x_sum`/`x_count`) with its label names. The PromQL reading is deliberately simple
(Mandi's expressions only): metric names are the `mandi_*` identifiers plus `up`, label names
come from `{matchers}` and `by (...)` clauses.
"""

from __future__ import annotations

import importlib
import re
from functools import cache

from prometheus_client import REGISTRY

# every module holding Mandi metric definitions (grep Counter(/Gauge(/Histogram( to extend)
METRIC_MODULES = (
    "mandi.platform.telemetry",
    "mandi.platform.notify_events",
    "services.gateway.http_metrics",
    "services.gateway.ws.metrics",
    "services.history.metrics",
    "services.marketdata.metrics",
    "services.strategy.metrics",
    "services.execution.metrics",
    "services.notifier.worker",
)
# labels Prometheus itself attaches to every scraped series
TARGET_LABELS = frozenset({"job", "instance"})
PROMETHEUS_SERIES = {"up": frozenset()}

_SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"),
             "gauge": ("",), "summary": ("_sum", "_count", "")}


@cache
def exported() -> dict[str, frozenset[str]]:
    """Sample name → its label names (histogram buckets also carry `le`)."""
    for module in METRIC_MODULES:
        importlib.import_module(module)
    out: dict[str, frozenset[str]] = dict(PROMETHEUS_SERIES)
    for collector in list(REGISTRY._collector_to_names):  # no public listing
        labels = tuple(getattr(collector, "_labelnames", ()))
        for family in collector.collect():
            if not family.name.startswith("mandi_"):
                continue
            for suffix in _SUFFIXES.get(family.type, ("",)):
                extra = ("le",) if suffix == "_bucket" else ()
                out[family.name + suffix] = frozenset(labels + extra)
    return out


_METRIC = re.compile(r"\b(mandi_[a-z0-9_]+|up)\b(\{[^}]*\})?")
_MATCHER = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)")
_BY = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")


def metrics_of(expr: str) -> dict[str, set[str]]:
    """Metric names in `expr` → label names their matchers use."""
    found: dict[str, set[str]] = {}
    for name, matchers in _METRIC.findall(expr):
        found.setdefault(name, set()).update(_MATCHER.findall(matchers or ""))
    return found


def problems(expr: str) -> list[str]:
    """Why `expr` would show nothing: unknown metrics, or labels none of its metrics has."""
    known = exported()
    used = metrics_of(expr)
    if not used:
        return [f"no Mandi metric in {expr!r}"]
    out = [f"{name} is not exported" for name in used if name not in known]
    have = set(TARGET_LABELS).union(*(known.get(n, frozenset()) for n in used))
    for name, labels in used.items():
        out += [f"{name} has no label {lbl!r}" for lbl in labels - have]
    for group in _BY.findall(expr):
        out += [f"`by ({group})`: no metric of the expression has label {lbl!r}"
                for lbl in (x.strip() for x in group.split(",")) if lbl and lbl not in have]
    return out
