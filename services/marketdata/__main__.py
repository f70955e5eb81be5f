"""Entry point: `python -m services.marketdata`. Only wiring lives here."""

from functools import partial

from mandi.platform.grpc_server import run_service
from services.marketdata.leader import LeasedIngester
from services.marketdata.server import build_spec

if __name__ == "__main__":
    run_service(partial(build_spec, ingester_factory=LeasedIngester))
