"""The reliability suite (issue 17, RELIABILITY.md): one fault per test, each bounded in time
and printing its figure. `MANDI_CHAOS_REPEAT` (set by `make chaos`) scales the repeated ones.
The execution ledger fixtures are the integration suite's (a fresh migrated database per
module, a paper engine per test), not copies."""

from __future__ import annotations

from tests.integration.execution.conftest import env, ledger_dsn

__all__ = ["env", "ledger_dsn"]
