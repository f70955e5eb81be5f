"""Dashboards, alerts and the collector config as code, checked without a running Prometheus:
the dashboards are the generator's output, every panel's and every alert's PromQL names only
metrics and labels the services really export (mandi/testing/promql.py reads the
prometheus_client registry), every alert has a runbook, and the chart ships them (dashboard
ConfigMaps labelled for Grafana's sidecar, the PrometheusRule when the CRD exists). The running
check (Prometheus scraping the stack) is tests/deploy/test_prometheus_live.py."""

from __future__ import annotations

import importlib.util
import json

import yaml

from mandi.testing.chart import ROOT, manifests
from mandi.testing.promql import problems

GRAFANA = ROOT / "deploy" / "grafana"
RULES = ROOT / "deploy" / "prometheus" / "rules.yaml"
WANTED_BOARDS = {"platform-overview", "market-data", "history", "execution", "strategy"}
WANTED_ALERTS = {"MandiServiceDown", "MandiKiteTokenExpired", "MandiTickerDisconnected",
                 "MandiKiteRateLimited", "MandiOrderRejectionsSpiking", "MandiFetchJobsFailing",
                 "MandiDailyLossLatched"}


def dashboards() -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text()) for p in (GRAFANA / "dashboards").glob("*.json")}


def panel_exprs() -> list[tuple[str, str]]:
    return [(f"{name}: {p['title']}", t["expr"]) for name, board in dashboards().items()
            for p in board["panels"] for t in p["targets"]]


def alerts() -> list[dict]:
    return [r for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]]


def test_dashboards_are_the_generators_output():
    spec = importlib.util.spec_from_file_location("build_dashboards",
                                                  GRAFANA / "build_dashboards.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    assert set(gen.BOARDS) == WANTED_BOARDS == set(dashboards())
    for name, board in gen.BOARDS.items():
        assert (GRAFANA / "dashboards" / f"{name}.json").read_text() == gen.render(board), (
            f"{name}.json is stale: python deploy/grafana/build_dashboards.py")


def test_every_panel_queries_only_exported_metrics_and_labels():
    exprs = panel_exprs()
    assert len(exprs) > 40
    bad = {f"{where}: {expr}": p for where, expr in exprs if (p := problems(expr))}
    assert not bad, bad
    # the checker itself refuses a typo
    assert problems("sum by (service) (rate(mandi_rpc_request_total[5m]))")


def test_execution_board_shows_orders_rejections_pnl_and_daily_loss():
    """The issue's execution panels, on execution's own metrics (not PlaceOrder gRPC codes)."""
    exprs = {p["title"]: " ".join(t["expr"] for t in p["targets"])
             for p in dashboards()["execution"]["panels"]}
    wanted = {"mandi_execution_orders_total": "by (status)",
              "mandi_execution_order_rejections_total": "by (rule)",
              "mandi_execution_pnl_paise": "by (account, kind)",
              "mandi_execution_daily_loss_used_paise": "by (account)",
              "mandi_execution_daily_loss_limit_paise": "by (account)",
              "mandi_execution_daily_loss_latched": "by (account)"}
    for metric, grouping in wanted.items():
        shown = [t for t, e in exprs.items() if metric in e and grouping in e]
        assert shown, f"no execution panel shows {metric} {grouping}"
    (latch,) = [r for r in alerts() if r["alert"] == "MandiDailyLossLatched"]
    assert "mandi_execution_daily_loss_latched" in latch["expr"]
    assert "{{ $labels.account }}" in latch["annotations"]["summary"]


def test_every_alert_uses_exported_metrics_and_has_a_runbook():
    rules = alerts()
    assert WANTED_ALERTS <= {r["alert"] for r in rules}
    for rule in rules:
        assert not problems(rule["expr"]), (rule["alert"], problems(rule["expr"]))
        assert len(rule["annotations"]["runbook"]) > 80, rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]
        assert rule["labels"]["severity"] in ("critical", "warning"), rule["alert"]


def test_chart_ships_dashboards_and_rules():
    configmaps = {d["metadata"]["name"]: d for d in manifests("default")
                  if d["kind"] == "ConfigMap"}
    boards = {n: d for n, d in configmaps.items() if "-dashboard-" in n}
    assert {n.removeprefix("mandi-dashboard-") for n in boards} == WANTED_BOARDS
    for name, cm in boards.items():
        assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
        (body,) = cm["data"].values()
        assert json.loads(body) == dashboards()[name.removeprefix("mandi-dashboard-")]
    (rule,) = [d for d in manifests("production") if d["kind"] == "PrometheusRule"]
    assert rule["spec"] == yaml.safe_load(RULES.read_text())
    assert not [d for d in manifests("default") if d["kind"] == "PrometheusRule"]


def test_collector_config_receives_otlp_and_exports_traces():
    cfg = yaml.safe_load((ROOT / "deploy" / "otel" / "collector.yaml").read_text())
    assert cfg["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"].endswith(":4317")
    pipe = cfg["service"]["pipelines"]["traces"]
    assert pipe["receivers"] == ["otlp"]
    for kind in ("processors", "exporters"):
        assert set(pipe[kind]) <= set(cfg[kind]), kind
