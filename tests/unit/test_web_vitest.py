"""The web UI's own unit tests (Vitest: formatters, i18n, live-channel reducers under
web/src/**/*.test.ts) run inside `make test` through this test."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

WEB = Path(__file__).resolve().parents[2] / "web"


def test_vitest_suite_of_the_web_ui_passes() -> None:
    assert (WEB / "node_modules" / ".bin" / "vitest").exists(), \
        "web/node_modules is missing: run make setup"
    npx = shutil.which("npx")
    assert npx, "node/npm are needed for the web UI"
    r = subprocess.run([npx, "vitest", "run", "--reporter=dot"], cwd=WEB, capture_output=True,
                       text=True, timeout=120)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-4000:]
    assert " passed" in out and " failed" not in out, out[-2000:]
