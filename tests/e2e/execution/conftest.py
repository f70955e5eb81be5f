"""The execution service's process tests share the integration suite's fixtures
(tests/integration/execution/conftest.py): the logged-in kitesim (`sim`), a Redis namespace
(`ns`) and an empty database the processes migrate (`dsn`), one per module."""

from __future__ import annotations

from tests.integration.execution.conftest import dsn, ns, sim

__all__ = ["dsn", "ns", "sim"]
