"""Rendering deploy/helm/mandi with the real helm binary, for the deployment tests.

Two scenarios are rendered and kept as golden files (tests/deploy/golden/<scenario>.yaml):
`default` (values.yaml: the demo with kitesim, CloudNativePG and an in-chart Redis) and
`production` (values-production.yaml, with the Prometheus operator's CRDs announced through
--api-versions so the ServiceMonitor and PrometheusRule paths render too). Both target
KUBE_VERSION, the newest release whose schemas kubernetes-validate carries.

Golden files are the rendered manifests with two things normalised: the demo Secret's random
values (`<generated>`), and each dashboard ConfigMap's JSON (its sha256: the dashboards have
their own tests and would swamp the diff). Regenerate after a deliberate chart change with
`MANDI_UPDATE_GOLDEN=1 .venv/bin/pytest tests/deploy` and review the diff.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

from mandi.testing.k8s_tools import tools

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "mandi"
GOLDEN = ROOT / "tests" / "deploy" / "golden"
KUBE_VERSION = "1.37.0"
RELEASE = "mandi"
MONITORING_CRDS = ("monitoring.coreos.com/v1/ServiceMonitor",
                   "monitoring.coreos.com/v1/PrometheusRule")


@dataclass(frozen=True)
class Scenario:
    name: str
    values: tuple[str, ...] = ()
    api_versions: tuple[str, ...] = ()


SCENARIOS = {
    "default": Scenario("default"),
    "production": Scenario("production", ("values-production.yaml",), MONITORING_CRDS),
}


def helm_template(*extra: str, check: bool = True):
    """`helm template mandi deploy/helm/mandi --kube-version … <extra>` (CompletedProcess)."""
    return tools().run("helm", "template", RELEASE, str(CHART), "--namespace", "mandi",
                       "--kube-version", KUBE_VERSION, *extra, check=check)


@cache
def render(scenario: str) -> str:
    s = SCENARIOS[scenario]
    args = [a for v in s.values for a in ("--values", str(CHART / v))]
    args += [a for api in s.api_versions for a in ("--api-versions", api)]
    return helm_template(*args).stdout


def manifests(scenario: str) -> list[dict]:
    return [d for d in yaml.safe_load_all(render(scenario)) if d]


def normalise(text: str) -> str:
    """The rendered text with the demo Secret's random values and dashboard bodies replaced."""
    out = []
    for doc in text.split("\n---\n"):
        obj = yaml.safe_load(doc)
        if isinstance(obj, dict) and obj.get("kind") == "Secret" and \
                obj["metadata"]["name"].endswith("-generated"):
            keep = {"MANDI_KITE_API_SECRET"}  # fixed: the simulator's demo secret
            lines = []
            for line in doc.splitlines():
                key = line.strip().split(":", 1)[0]
                if line.startswith("  MANDI_") and key not in keep:
                    line = f"  {key}: <generated>"
                lines.append(line)
            doc = "\n".join(lines)
        elif isinstance(obj, dict) and obj.get("kind") == "ConfigMap" and \
                "-dashboard-" in obj["metadata"]["name"]:
            head, _, _ = doc.partition("\ndata:\n")
            body = "\n".join(f"  {k}: sha256:{hashlib.sha256(v.encode()).hexdigest()}"
                             for k, v in sorted(obj["data"].items()))
            doc = f"{head}\ndata:\n{body}"
        out.append(doc)
    return "\n---\n".join(out).rstrip("\n") + "\n"
