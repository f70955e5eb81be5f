"""gRPC surface of the history service.

RPCs that are not built yet fall through to the generated base class, which answers
UNIMPLEMENTED; README.md's status table says which ones those are.
"""

from __future__ import annotations

from mandi.platform.config import Settings
from mandi.platform.grpc_server import ServiceSpec
from mandi.v1 import history_pb2, history_pb2_grpc

SERVICE_NAME = history_pb2.DESCRIPTOR.services_by_name["HistoryService"].full_name


class HistoryServicer(history_pb2_grpc.HistoryServiceServicer):
    pass


def build_spec(settings: Settings) -> ServiceSpec:
    servicer = HistoryServicer()
    return ServiceSpec(
        name="history",
        register=lambda server: history_pb2_grpc.add_HistoryServiceServicer_to_server(servicer, server),
        service_names=[SERVICE_NAME],
    )
