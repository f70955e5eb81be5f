"""The Helm chart, checked by the real tools: helm lint --strict, helm template of the default and
the production values, every manifest against the Kubernetes schemas of KUBE_VERSION
(kubernetes-validate, strict: unknown fields fail), golden files, and values.schema.json refusing
wrong values. Regenerate the golden files with MANDI_UPDATE_GOLDEN=1 (mandi/testing/chart.py).
"""

from __future__ import annotations

import base64
import difflib
import os

import kubernetes_validate
import pytest
import yaml

from mandi.testing.chart import (
    CHART,
    GOLDEN,
    KUBE_VERSION,
    SCENARIOS,
    helm_template,
    manifests,
    normalise,
    render,
)
from mandi.testing.k8s_tools import tools

# Custom resources have no schema in kubernetes-validate; they are skipped on purpose (and only
# these: any other kind without a schema fails the test).
CRD_KINDS = {"Cluster", "ServiceMonitor", "PrometheusRule"}
SERVICES = {"gateway", "history", "marketdata", "strategy", "execution"}


def by_kind(docs: list[dict], kind: str) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def test_helm_lint_strict_passes_for_both_values_files():
    for values in ("values.yaml", "values-production.yaml"):
        proc = tools().run("helm", "lint", "--strict", str(CHART), "--values",
                           str(CHART / values), "--kube-version", KUBE_VERSION)
        assert "0 chart(s) failed" in proc.stdout, proc.stdout


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_every_manifest_validates_against_kubernetes_schemas(scenario):
    docs = manifests(scenario)
    assert len(docs) > 20
    skipped = set()
    for doc in docs:
        name = f"{doc['kind']}/{doc['metadata']['name']}"
        try:
            kubernetes_validate.validate(doc, KUBE_VERSION, strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            assert doc["kind"] in CRD_KINDS, f"{name}: no schema and not a known CRD"
            skipped.add(doc["kind"])
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{scenario}: {name} is invalid at {list(exc.path)}: {exc.message}")
    assert "Cluster" in skipped


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_rendered_manifests_have_no_duplicate_keys(scenario):
    class Strict(yaml.SafeLoader):
        pass

    def mapping(loader, node):
        keys = [loader.construct_object(k) for k, _ in node.value]
        dupes = {k for k in keys if keys.count(k) > 1}
        assert not dupes, f"duplicate keys {dupes} at line {node.start_mark.line}"
        return loader.construct_mapping(node)

    Strict.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping)
    assert len([d for d in yaml.load_all(render(scenario), Loader=Strict) if d]) > 20


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_rendered_manifests_match_golden_files(scenario):
    got = normalise(render(scenario))
    path = GOLDEN / f"{scenario}.yaml"
    if os.environ.get("MANDI_UPDATE_GOLDEN") == "1":
        path.write_text(got)
    want = path.read_text()
    diff = "".join(difflib.unified_diff(want.splitlines(True), got.splitlines(True),
                                        f"golden/{scenario}.yaml", "rendered"))
    assert not diff, ("rendered chart differs from its golden file (if intended, regenerate "
                      f"with MANDI_UPDATE_GOLDEN=1):\n{diff[:6000]}")


@pytest.mark.parametrize(("override", "field"), [
    ("components.gateway.httpPort=http", "/components/gateway/httpPort"),
    ("database.mode=sqlite", "/database/mode"),
    ("config.LOG_LEVEL=debug", "LOG_LEVEL"),  # only MANDI_* keys
    ("components.history.enabled=yes", "/components/history/enabled"),
    ("default.pdb.enabled=1", "/default/pdb/enabled"),
])
def test_values_schema_refuses_a_wrong_value_naming_the_field(override, field):
    # --set-string keeps the bad value a string even where it looks like a number/bool
    proc = helm_template("--set-string", override, check=False)
    assert proc.returncode != 0
    assert "schema" in proc.stderr and field in proc.stderr, proc.stderr


def test_pods_are_hardened():
    for scenario in SCENARIOS:
        docs = manifests(scenario)
        pods = [(f"{d['kind']}/{d['metadata']['name']}", d["spec"]["template"]["spec"])
                for d in docs if d["kind"] in ("Deployment", "StatefulSet", "Job")]
        assert len(pods) >= 6
        for name, pod in pods:
            assert pod["automountServiceAccountToken"] is False, name
            assert pod["securityContext"]["runAsNonRoot"] is True, name
            assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
            for c in pod["containers"]:
                sc = c["securityContext"]
                assert sc["readOnlyRootFilesystem"] is True, name
                assert sc["allowPrivilegeEscalation"] is False, name
                assert sc["capabilities"]["drop"] == ["ALL"], name
                assert c["resources"]["requests"] and c["resources"]["limits"], name
                assert any(m["mountPath"] == "/tmp" for m in c["volumeMounts"]), name


def test_services_have_native_grpc_probes_and_the_gateway_an_http_one():
    deps = by_kind(manifests("default"), "Deployment")
    assert {n.removeprefix("mandi-") for n in deps} == SERVICES | {"kitesim"}
    for name in SERVICES - {"gateway"}:
        c = deps[f"mandi-{name}"]["spec"]["template"]["spec"]["containers"][0]
        port = next(p["containerPort"] for p in c["ports"] if p["name"] == "grpc")
        assert c["readinessProbe"]["grpc"] == {
            "port": port, "service": f"mandi.v1.{name.capitalize()}Service"}
        assert c["livenessProbe"]["grpc"] == {"port": port}
        assert c["command"] == ["python", "-m", f"services.{name}"]
    gw = deps["mandi-gateway"]["spec"]["template"]["spec"]["containers"][0]
    assert gw["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}


def test_scaling_disruption_and_the_single_marketdata_ingester():
    docs = manifests("default")
    hpas = by_kind(docs, "HorizontalPodAutoscaler")
    assert set(hpas) == {"mandi-gateway", "mandi-strategy"}
    deps = by_kind(docs, "Deployment")
    assert deps["mandi-marketdata"]["spec"]["replicas"] == 1
    assert "replicas" not in deps["mandi-gateway"]["spec"]  # the HPA owns it
    pdbs = by_kind(docs, "PodDisruptionBudget")
    assert {n.removeprefix("mandi-") for n in pdbs} == SERVICES
    assert pdbs["mandi-gateway"]["spec"]["minAvailable"] == 1


def test_only_the_gateway_is_reachable_from_outside():
    for scenario in SCENARIOS:
        policies = by_kind(manifests(scenario), "NetworkPolicy")
        assert {"mandi-gateway", "mandi-history", "mandi-execution"} <= set(policies)
        for name, pol in policies.items():
            assert set(pol["spec"]["policyTypes"]) == {"Ingress", "Egress"}
            open_rules = [r for r in pol["spec"]["ingress"] if "from" not in r]
            if name == "mandi-gateway":
                assert open_rules == [{"ports": [{"port": "http", "protocol": "TCP"}]}]
            else:
                assert open_rules == [], name
            egress_ports = {p["port"] for r in pol["spec"]["egress"] for p in r.get("ports", [])}
            if name != "mandi-redis":
                assert {53, 443} <= egress_ports, name


def test_config_secrets_and_migrations_wiring():
    docs = manifests("default")
    cm = by_kind(docs, "ConfigMap")["mandi-config"]["data"]
    assert cm["MANDI_BIND"] == "0.0.0.0"
    assert cm["MANDI_EXECUTION_ADDR"] == "mandi-execution:50054"
    assert cm["MANDI_KITE_ROOT"] == "http://mandi-kitesim:8765"
    assert all(k.startswith("MANDI_") for k in cm)
    data = by_kind(docs, "Secret")["mandi-generated"]["data"]
    for key in ("MANDI_SERVICE_TOKEN_KEY", "MANDI_SECRET_KEY", "MANDI_JWT_SECRET"):
        assert len(base64.b64decode(data[key])) >= 32, key  # config.py refuses shorter keys
    assert len(base64.b64decode(data["MANDI_ADMIN_PASSWORD"])) >= 16
    job = by_kind(docs, "Job")["mandi-migrate"]
    # the in-chart database exists only after install: the hook runs post-install
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "post-install,pre-upgrade"
    assert job["spec"]["template"]["spec"]["containers"][0]["command"] == [
        "python", "-m", "scripts.migrate"]

    prod = manifests("production")
    cm = by_kind(prod, "ConfigMap")["mandi-config"]["data"]
    assert cm["MANDI_KITE_ROOT"] == "https://api.kite.trade"
    assert "MANDI_REDIS_URL" not in cm  # from the existing Secret
    assert not by_kind(prod, "Secret")
    dep = by_kind(prod, "Deployment")["mandi-gateway"]["spec"]["template"]["spec"]
    assert {"secretRef": {"name": "mandi-secrets"}} in dep["containers"][0]["envFrom"]
    assert set(by_kind(prod, "ServiceMonitor")) == {f"mandi-{s}" for s in SERVICES}
    external = helm_template("--set", "database.mode=external",
                             "--set", "secrets.existingSecret=s").stdout
    job = next(d for d in yaml.safe_load_all(external) if d and d["kind"] == "Job")
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert "kind: Cluster" not in external


def test_every_pods_environment_is_a_valid_mandi_configuration(caplog):
    """The ConfigMap, the generated Secret and each container's env, loaded as the service
    would: no ConfigError, no unknown MANDI_* variable, and the ports the service will listen
    on are the ports the chart declares (gRPC, metrics, the gateway's HTTP)."""
    from mandi.platform.config import load_settings

    load_settings({"MANDI_NO_SUCH_SETTING": "1"})  # the warning this test looks for
    assert "unknown environment variable MANDI_NO_SUCH_SETTING" in caplog.text
    for scenario in SCENARIOS:
        docs = manifests(scenario)
        cm = by_kind(docs, "ConfigMap")["mandi-config"]["data"]
        secret = {k: base64.b64decode(v).decode() for s in by_kind(docs, "Secret").values()
                  for k, v in s["data"].items()}
        for name, dep in by_kind(docs, "Deployment").items():
            service = name.removeprefix("mandi-")
            if service == "kitesim":
                continue
            (c,) = dep["spec"]["template"]["spec"]["containers"]
            env = {**cm, **secret}
            for e in c["env"]:
                env[e["name"]] = e.get("value", "postgresql://u@db:5432/mandi")
            caplog.clear()
            settings = load_settings(env)
            assert not [r for r in caplog.records if "unknown" in r.getMessage()], name
            ports = {p["name"]: p["containerPort"] for p in c["ports"]}
            assert settings.listen_host_of(service) == "0.0.0.0"
            assert settings.addr_of(service).endswith(f":{ports['grpc']}"), name
            assert settings.metrics_port_of(service) == ports["metrics"], name
            if service == "gateway":
                assert settings.gateway_port == ports["http"]
