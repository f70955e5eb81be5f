"""The reliability suite (issue 17, RELIABILITY.md): one fault per test, each bounded in time
and printing its figure. `MANDI_CHAOS_REPEAT` (set by `make chaos`) scales the repeated ones.
The execution fixtures are the integration suite's (tests/integration/execution/conftest.py),
not copies: a fresh migrated database per module and a paper engine per test (`ledger_dsn`,
`env`), the logged-in kitesim (`sim`), and for execution processes a Redis namespace and an
empty database (`ns`, `dsn`)."""

from __future__ import annotations

from tests.integration.execution.conftest import dsn, env, ledger_dsn, ns, sim

__all__ = ["dsn", "env", "ledger_dsn", "ns", "sim"]
