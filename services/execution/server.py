"""gRPC surface of the execution service.

RPCs that are not built yet fall through to the generated base class, which answers
UNIMPLEMENTED; README.md's status table says which ones those are.
"""

from __future__ import annotations

from mandi.platform.config import Settings
from mandi.platform.grpc_server import ServiceSpec
from mandi.v1 import execution_pb2, execution_pb2_grpc

SERVICE_NAME = execution_pb2.DESCRIPTOR.services_by_name["ExecutionService"].full_name


class ExecutionServicer(execution_pb2_grpc.ExecutionServiceServicer):
    pass


def build_spec(settings: Settings) -> ServiceSpec:
    servicer = ExecutionServicer()
    return ServiceSpec(
        name="execution",
        register=lambda server: execution_pb2_grpc.add_ExecutionServiceServicer_to_server(servicer, server),
        service_names=[SERVICE_NAME],
    )
