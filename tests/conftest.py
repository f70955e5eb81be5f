"""Shared fixtures live in mandi/testing; this only registers them.

Password hashes in tests cost 1 pass over 256 KiB instead of argon2-cffi's 3 over 64 MiB
(~1 ms instead of ~180 ms): hundreds of users are created and signed in across the suite, in
this process and in the service processes it starts (they inherit the environment). Production
keeps the defaults; tests/unit/gateway/test_password_cost.py holds them and this override apart.
"""

import os
from typing import Any

import pytest

os.environ.setdefault("MANDI_PASSWORD_HASH_TIME_COST", "1")
os.environ.setdefault("MANDI_PASSWORD_HASH_MEMORY_KIB", "256")

pytest_plugins = ["mandi.testing.pg", "mandi.testing.redis"]

# `make test` runs two xdist workers with --dist loadgroup. Each test file is one group (its
# module fixtures, a kitesim or a platform, are built once, on one worker), except the files
# marked `heavy` (whole replayed days, restarts under load and the browser, each pacing
# simulated clocks and many processes). They share one group, so they run one after another on
# one worker and never against each other; the other worker takes the rest of the suite
# meanwhile. The mark travels with the file, whatever its name.
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        path = item.nodeid.split("::", 1)[0]
        item.add_marker(pytest.mark.xdist_group(
            "heavy" if item.get_closest_marker("heavy") else path))


# Each fault scenario prints one `[fault] …` line with its figure (RELIABILITY.md). Output is
# captured (and comes from xdist workers), so the lines are gathered from the test reports and
# shown together at the end of the run.
_FIGURES: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call":
        _FIGURES.extend(line.strip() for line in report.capstdout.splitlines()
                        if line.strip().startswith("[fault]"))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _FIGURES:
        terminalreporter.write_sep("=", "fault scenario figures")
        for line in _FIGURES:
            terminalreporter.write_line(line)
