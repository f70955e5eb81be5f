"""Entry point: `python -m services.history`. Only wiring lives here."""

from mandi.platform.grpc_server import run_service
from services.history.server import build_spec

if __name__ == "__main__":
    run_service(build_spec)
