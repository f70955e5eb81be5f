"""deploy/prometheus/rules.yaml under Prometheus's own tools (Debian's prometheus package, installed
by scripts/ensure_prometheus.sh): `promtool check rules` parses every expression, and
`promtool test rules` runs each alert on synthetic series — it fires when it should (with its
labels and runbook) and stays quiet when it should not. promtool's clock starts at 1970-01-01
00:00 UTC, a Thursday: 04:00 is inside Indian market hours (03:45-10:00 UTC), 00:00 outside.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import yaml

from mandi.testing.chart import ROOT

RULES = ROOT / "deploy" / "prometheus" / "rules.yaml"


def promtool() -> str:
    path = shutil.which("promtool")
    assert path, "promtool is missing: scripts/ensure_prometheus.sh (make test runs it)"
    return path


def annotations(alert: str, **labels: str) -> dict[str, str]:
    for group in yaml.safe_load(RULES.read_text())["groups"]:
        for rule in group["rules"]:
            if rule["alert"] == alert:
                out = dict(rule["annotations"])
                for k, v in labels.items():
                    out = {a: t.replace(f"{{{{ $labels.{k} }}}}", v) for a, t in out.items()}
                return out
    raise KeyError(alert)


def fires(alert: str, at: str, severity: str, **labels: str) -> dict:
    return {"eval_time": at, "alertname": alert, "exp_alerts": [{
        "exp_labels": {"severity": severity, **labels},
        "exp_annotations": annotations(alert, **labels)}]}


def quiet(alert: str, at: str) -> dict:
    return {"eval_time": at, "alertname": alert, "exp_alerts": []}


PLACE = 'service="execution",method="mandi.v1.ExecutionService/PlaceOrder"'
CASES = [
    # a target down for more than its minute fires; one that came back does not
    {"interval": "1m", "input_series": [
        {"series": 'up{job="mandi-history",instance="h:9102"}', "values": "1 1 0 0 0 0"},
        {"series": 'up{job="mandi-gateway",instance="g:9105"}', "values": "1 0 1 1 1 1"},
        {"series": 'up{job="node",instance="n:9100"}', "values": "0 0 0 0 0 0"}],
     "alert_rule_test": [
        quiet("MandiServiceDown", "2m"),
        fires("MandiServiceDown", "4m", "critical", job="mandi-history", instance="h:9102")]},
    # 10% of gateway requests 5xx for 5 minutes
    {"interval": "1m", "input_series": [
        {"series": 'mandi_http_requests_total{route="/a",method="GET",status="200"}',
         "values": "0+90x20"},
        {"series": 'mandi_http_requests_total{route="/a",method="GET",status="503"}',
         "values": "0+10x20"}],
     "alert_rule_test": [quiet("MandiGatewayErrors", "3m"),
                         fires("MandiGatewayErrors", "15m", "warning")]},
    {"interval": "1m", "input_series": [
        {"series": 'mandi_marketdata_reconnects_total{reason="auth"}', "values": "0 0 1 1"},
        {"series": 'mandi_history_kite_rate_limited_total', "values": "0 0 0 2"},
        {"series": 'mandi_history_job_items_total{state="failed"}', "values": "0 1 1 1"},
        {"series": 'mandi_history_job_items_total{state="done"}', "values": "0 5 9 12"},
        {"series": 'mandi_bot_errors_total', "values": "0 0 1 1"},
        {"series": 'mandi_notify_deliveries_total{channel="telegram",outcome="failed"}',
         "values": "0 0 0 0"}],
     "alert_rule_test": [
        quiet("MandiKiteTokenExpired", "1m"), fires("MandiKiteTokenExpired", "3m", "critical"),
        quiet("MandiKiteRateLimited", "2m"), fires("MandiKiteRateLimited", "3m", "warning"),
        fires("MandiFetchJobsFailing", "3m", "warning"),
        fires("MandiBotErrors", "3m", "warning"),
        quiet("MandiNotificationsFailing", "3m")]},
    # no ticks: quiet at night, fires in market hours; reconnect storms fire any time
    {"interval": "1m", "input_series": [
        {"series": 'mandi_marketdata_ticks_received_total', "values": "0x300"},
        {"series": 'mandi_marketdata_reconnects_total{reason="auth"}', "values": "0x300"}],
     "alert_rule_test": [quiet("MandiTickerDisconnected", "1h"),
                         fires("MandiTickerDisconnected", "4h", "critical")]},
    {"interval": "1m", "input_series": [
        {"series": 'mandi_marketdata_ticks_received_total', "values": "0+100x30"},
        {"series": 'mandi_marketdata_reconnects_total{reason="stalled"}',
         "values": "0 0 0 0 0 0 0 0 0 0 0+2x20"}],
     "alert_rule_test": [quiet("MandiTickerDisconnected", "9m"),
                         fires("MandiTickerDisconnected", "20m", "critical")]},
    # a third of orders refused for 5 minutes fires; a few refusals among many do not
    {"interval": "1m", "input_series": [
        {"series": f'mandi_rpc_requests_total{{{PLACE},code="OK"}}', "values": "0+20x20"},
        {"series": f'mandi_rpc_requests_total{{{PLACE},code="FAILED_PRECONDITION"}}',
         "values": "0+10x20"}],
     "alert_rule_test": [fires("MandiOrderRejectionsSpiking", "15m", "warning")]},
    {"interval": "1m", "input_series": [
        {"series": f'mandi_rpc_requests_total{{{PLACE},code="OK"}}', "values": "0+100x20"},
        {"series": f'mandi_rpc_requests_total{{{PLACE},code="FAILED_PRECONDITION"}}',
         "values": "0+1x20"}],
     "alert_rule_test": [quiet("MandiOrderRejectionsSpiking", "15m")]},
    # a latched account fires with its id (once, though two replicas export it: one stale 0);
    # an account under its limit, and the latch clearing at the next day, do not
    {"interval": "1m", "input_series": [
        {"series": 'mandi_execution_daily_loss_latched{account="ZX1",instance="e1:9104"}',
         "values": "0 0 1 1 1 0"},
        {"series": 'mandi_execution_daily_loss_latched{account="ZX1",instance="e2:9104"}',
         "values": "0 0 0 0 0 0"},
        {"series": 'mandi_execution_daily_loss_latched{account="PAPER1",instance="e1:9104"}',
         "values": "0 0 0 0 0 0"}],
     "alert_rule_test": [quiet("MandiDailyLossLatched", "1m"),
                         fires("MandiDailyLossLatched", "3m", "warning", account="ZX1"),
                         quiet("MandiDailyLossLatched", "5m")]},
]


def test_promtool_checks_every_rule():
    proc = subprocess.run([promtool(), "check", "rules", str(RULES)], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS: 10 rules found" in proc.stdout


def test_every_alert_fires_when_it_should_and_only_then(tmp_path: Path):
    tested = {t["alertname"] for case in CASES for t in case["alert_rule_test"]}
    alerts = {r["alert"] for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]}
    assert tested == alerts
    shutil.copy(RULES, tmp_path / "rules.yaml")
    (tmp_path / "rules_test.yaml").write_text(yaml.safe_dump(
        {"rule_files": ["rules.yaml"], "evaluation_interval": "1m", "tests": CASES}))
    proc = subprocess.run([promtool(), "test", "rules", "rules_test.yaml"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # and promtool does catch a wrong expectation
    broken = [{**CASES[0], "alert_rule_test": [quiet("MandiServiceDown", "4m")]}]
    (tmp_path / "broken_test.yaml").write_text(yaml.safe_dump(
        {"rule_files": ["rules.yaml"], "evaluation_interval": "1m", "tests": broken}))
    proc = subprocess.run([promtool(), "test", "rules", "broken_test.yaml"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
