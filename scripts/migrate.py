"""`python -m scripts.migrate`: apply every service's numbered SQL migrations, then exit.

The Helm chart runs this as its migration Job before the services roll out, so a failing
migration stops a deploy instead of crash-looping every replica. The services still migrate
at start (mandi/platform/migrations.py, under an advisory lock per service), so running this
first is an ordering choice, not a requirement. Reads MANDI_PG_DSN; creates the database when
it is missing. Exit 0 on success, 1 when a migration fails (the error is logged).
"""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path

from mandi.platform.config import load_settings
from mandi.platform.migrations import ensure_database, run_migrations

ROOT = Path(__file__).resolve().parent.parent
# the ledger's service name → its migrations folder (the notifier shares the gateway's schema)
MIGRATIONS = {
    "history": ROOT / "services" / "history" / "migrations",
    "strategy": ROOT / "services" / "strategy" / "migrations",
    "execution": ROOT / "services" / "execution" / "migrations",
    "gateway": ROOT / "services" / "gateway" / "migrations",
}

log = logging.getLogger("migrate")


async def migrate_all(dsn: str) -> dict[str, list[str]]:
    """Every service's pending migrations applied, in a fixed order; what each applied."""
    await ensure_database(dsn)
    return {service: await run_migrations(dsn, service, folder)
            for service, folder in MIGRATIONS.items()}


def main() -> int:
    settings = load_settings()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(message)s")
    try:
        applied = asyncio.run(migrate_all(settings.pg_dsn))
    except Exception:
        log.exception("migrations failed")
        return 1
    for service, names in applied.items():
        log.info("%s: %s", service, ", ".join(names) if names else "up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
