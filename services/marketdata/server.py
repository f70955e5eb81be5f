"""gRPC surface of the marketdata service.

RPCs that are not built yet fall through to the generated base class, which answers
UNIMPLEMENTED; README.md's status table says which ones those are.
"""

from __future__ import annotations

from mandi.platform.config import Settings
from mandi.platform.grpc_server import ServiceSpec
from mandi.v1 import marketdata_pb2, marketdata_pb2_grpc

SERVICE_NAME = marketdata_pb2.DESCRIPTOR.services_by_name["MarketdataService"].full_name


class MarketdataServicer(marketdata_pb2_grpc.MarketdataServiceServicer):
    pass


def build_spec(settings: Settings) -> ServiceSpec:
    servicer = MarketdataServicer()
    return ServiceSpec(
        name="marketdata",
        register=lambda server: marketdata_pb2_grpc.add_MarketdataServiceServicer_to_server(
            servicer, server),
        service_names=[SERVICE_NAME],
    )
