"""gRPC surface of the strategy service.

RPCs that are not built yet fall through to the generated base class, which answers
UNIMPLEMENTED; README.md's status table says which ones those are.
"""

from __future__ import annotations

from mandi.platform.config import Settings
from mandi.platform.grpc_server import ServiceSpec
from mandi.v1 import strategy_pb2, strategy_pb2_grpc

SERVICE_NAME = strategy_pb2.DESCRIPTOR.services_by_name["StrategyService"].full_name


class StrategyServicer(strategy_pb2_grpc.StrategyServiceServicer):
    pass


def build_spec(settings: Settings) -> ServiceSpec:
    servicer = StrategyServicer()
    return ServiceSpec(
        name="strategy",
        register=lambda server: strategy_pb2_grpc.add_StrategyServiceServicer_to_server(servicer, server),
        service_names=[SERVICE_NAME],
    )
