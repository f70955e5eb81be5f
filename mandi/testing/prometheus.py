"""A real Prometheus (Debian's package, scripts/ensure_prometheus.sh) for the live observability
tests: its own config, data directory and free port, scraping the given targets every second and
evaluating the given rule file every second."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import yaml

from mandi.testing.kitesim import free_port


@dataclass
class Prometheus:
    url: str
    proc: subprocess.Popen
    log_path: Path

    def query(self, expr: str) -> list[dict]:
        r = httpx.get(f"{self.url}/api/v1/query", params={"query": expr}, timeout=10)
        body = r.json()
        if body.get("status") != "success":
            raise ValueError(f"{expr!r}: {body.get('error', r.text)}")
        return body["data"]["result"]

    def alerts(self) -> list[dict]:
        return httpx.get(f"{self.url}/api/v1/alerts", timeout=10).json()["data"]["alerts"]

    def targets_up(self) -> dict[str, float]:
        return {r["metric"]["job"]: float(r["value"][1]) for r in self.query("up")}

    def wait(self, what: str, check, timeout_s: float = 30.0, every_s: float = 0.5):
        """Poll `check()` until it returns something truthy; TimeoutError names `what`."""
        deadline = time.monotonic() + timeout_s
        while True:
            got = check()
            if got:
                return got
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what} not within {timeout_s:.0f} s")
            time.sleep(every_s)


@contextlib.contextmanager
def prometheus(targets: dict[str, str], workdir: Path, rules: Path | None = None,
               ) -> Iterator[Prometheus]:
    """`targets`: job name → host:port of its /metrics."""
    binary = shutil.which("prometheus")
    assert binary, "prometheus is missing: scripts/ensure_prometheus.sh"
    config = {"global": {"scrape_interval": "1s", "evaluation_interval": "1s",
                         "scrape_timeout": "900ms"},
              "scrape_configs": [{"job_name": job, "static_configs": [{"targets": [addr]}]}
                                 for job, addr in targets.items()]}
    if rules is not None:
        config["rule_files"] = [str(rules)]
    (workdir / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    log_path = workdir / "prometheus.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [binary, f"--config.file={workdir / 'prometheus.yml'}",
             f"--storage.tsdb.path={workdir / 'data'}", f"--web.listen-address=127.0.0.1:{port}",
             "--storage.tsdb.retention.time=1h"], stdout=log, stderr=subprocess.STDOUT)
    prom = Prometheus(f"http://127.0.0.1:{port}", proc, log_path)
    try:
        def ready() -> bool:
            if proc.poll() is not None:
                raise RuntimeError(f"prometheus exited:\n{log_path.read_text()[-3000:]}")
            try:
                return httpx.get(f"{prom.url}/-/ready", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        prom.wait("prometheus ready", ready, timeout_s=30, every_s=0.2)
        yield prom
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
