"""The kind files (make kind-up is not run here: no Docker): the kind-values render and validate,
load the image kind-up builds and never pull it, and the script is valid bash."""

from __future__ import annotations

import subprocess

import kubernetes_validate
import yaml

from mandi.testing.chart import KUBE_VERSION, ROOT, helm_template

KIND = ROOT / "deploy" / "kind"


def test_kind_values_render_valid_manifests_using_the_loaded_image():
    docs = [d for d in yaml.safe_load_all(helm_template(
        "--values", str(KIND / "values-kind.yaml")).stdout) if d]
    deployments = [d for d in docs if d["kind"] == "Deployment"]
    assert len(deployments) == 6
    for d in deployments:
        c = d["spec"]["template"]["spec"]["containers"][0]
        assert (c["image"], c["imagePullPolicy"]) == ("mandi:dev", "Never")
        assert d["spec"]["replicas"] == 1
    for d in docs:
        if d["kind"] != "Cluster":
            kubernetes_validate.validate(d, KUBE_VERSION, strict=True)
    cluster = yaml.safe_load((KIND / "cluster.yaml").read_text())
    assert cluster["kind"] == "Cluster" and cluster["name"] == "mandi"
    assert "mandi:dev" in (KIND / "up.sh").read_text()


def test_kind_up_script_parses():
    proc = subprocess.run(["bash", "-n", str(KIND / "up.sh")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
