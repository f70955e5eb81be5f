"""The strategy service as its own process, as `python -m services.strategy` runs it, but with a
short job lease so a test can watch a killed process's job resumed within seconds."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from mandi.platform.config import load_settings
from mandi.platform.grpc_server import serve
from mandi.platform.logging import configure_logging
from services.strategy.server import StrategyOptions, build_spec

if __name__ == "__main__":
    settings = load_settings()
    configure_logging("strategy", settings.log_level, secrets=[])
    options = StrategyOptions(lease_s=2.0, poll_s=0.2)
    sys.exit(asyncio.run(serve(build_spec(settings, options), settings)))
