"""`make run` as a user runs it: every service reports SERVING within 60 s, and SIGTERM stops
the whole platform with exit code 0 and no orphan processes."""

from __future__ import annotations

from pathlib import Path

import pytest

from scripts.smoke import run_smoke

pytestmark = pytest.mark.e2e


def test_platform_when_started_all_services_serving_and_sigterm_exits_clean(
    tmp_path: Path,
) -> None:
    log = tmp_path / "platform.log"
    try:
        ready = run_smoke(timeout_s=60.0, log_path=str(log))
    except Exception:
        print(log.read_text(errors="replace")[-5000:])
        raise
    assert set(ready) == {"marketdata", "history", "strategy", "execution", "gateway"}
    assert max(ready.values()) < 60.0
