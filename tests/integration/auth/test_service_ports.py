"""A client that reaches a service's gRPC port directly is not admin (issue #13, "between
services"): on each of history, strategy, execution and marketdata — the real servers under
`serve()` — a forged principal is refused with UNAUTHENTICATED naming what is wrong: plain
`mandi-role: admin` metadata, a token signed with another key, an expired one, one signed for
another method — and a call with no principal at all (only health and reflection answer
unsigned). A service's own principal (`svc:<name>`, as `channel()` signs) is not admin either:
strategy's custom-code check and execution's emergency-stop reset and risk limits refuse it. The
same calls with a principal signed by the shared key (as the gateway signs it) pass, so each
refusal is the signature's doing."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
import pytest_asyncio
from grpc_health.v1 import health_pb2, health_pb2_grpc

from mandi.platform.config import load_settings
from mandi.platform.grpc_server import ServerReady, serve
from mandi.platform.service_auth import PRINCIPAL_KEY, service_key, sign
from mandi.testing.pg import fresh_database
from mandi.v1 import (
    common_pb2,
    execution_pb2,
    execution_pb2_grpc,
    history_pb2,
    history_pb2_grpc,
    marketdata_pb2,
    marketdata_pb2_grpc,
    strategy_pb2,
    strategy_pb2_grpc,
)
from services.history.server import build_spec as history_spec
from tests.integration.strategy.signal_stack import SignalStack, signal_stack

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

CUSTOM = strategy_pb2.StrategyDef(
    name="forged", type="custom",
    code="class Strategy:\n    def on_bar(self, bar, ctx):\n        return 1\n")


@dataclass
class Ports:
    stack: SignalStack
    channels: list[grpc.aio.Channel]
    history: history_pb2_grpc.HistoryServiceStub
    strategy: strategy_pb2_grpc.StrategyServiceStub
    execution: execution_pb2_grpc.ExecutionServiceStub
    marketdata: marketdata_pb2_grpc.MarketdataServiceStub


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def ports() -> AsyncIterator[Ports]:
    """Plain channels (no signer) straight to each service's port, as an attacker has them."""
    async with signal_stack() as st, fresh_database() as hdsn:
        settings = load_settings({"MANDI_PG_DSN": hdsn, "MANDI_SHUTDOWN_GRACE_S": "1"})
        ready, stop = ServerReady(), asyncio.Event()
        history = asyncio.create_task(serve(history_spec(settings), settings, port=0,
                                            metrics_port=-1, ready=ready, stop=stop))
        await asyncio.wait_for(ready.wait(), 60)
        chans = [grpc.aio.insecure_channel(a) for a in (
            f"127.0.0.1:{ready.port}", f"127.0.0.1:{st.strategy.port}", st.md.addr,
            st.exec_addr)]
        try:
            yield Ports(st, chans, history_pb2_grpc.HistoryServiceStub(chans[0]),
                        strategy_pb2_grpc.StrategyServiceStub(chans[1]),
                        execution_pb2_grpc.ExecutionServiceStub(chans[3]),
                        marketdata_pb2_grpc.MarketdataServiceStub(chans[2]))
        finally:
            for ch in chans:
                await ch.close()
            stop.set()
            await asyncio.wait_for(history, 30)


def _method(stub: Any, name: str) -> str:
    service = {history_pb2_grpc.HistoryServiceStub: "mandi.v1.HistoryService",
               strategy_pb2_grpc.StrategyServiceStub: "mandi.v1.StrategyService",
               execution_pb2_grpc.ExecutionServiceStub: "mandi.v1.ExecutionService",
               marketdata_pb2_grpc.MarketdataServiceStub: "mandi.v1.MarketdataService",
               }[type(stub)]
    return f"/{service}/{name}"


def _signed(method: str, *, role: str = "admin", key: bytes | None = None,
            now: float | None = None, user: str = "mallory", accounts: tuple[str, ...] = (),
            ) -> tuple[tuple[str, str], ...]:
    token = sign(key or service_key(load_settings({})), user=user, role=role,
                 accounts=accounts, method=method, now=now)
    return ((PRINCIPAL_KEY, token),)


# One cheap unary RPC per service port.
CALLS = {
    "history": ("DatabaseInfo", lambda: history_pb2.DatabaseInfoRequest(
        segment=common_pb2.SEGMENT_EQUITY)),
    "strategy": ("ListStrategies", lambda: strategy_pb2.ListStrategiesRequest()),
    "execution": ("ListAccounts", lambda: execution_pb2.ListAccountsRequest()),
    "marketdata": ("GetStatus", lambda: marketdata_pb2.GetStatusRequest()),
}
FORGERIES = {
    "no principal": (lambda m: (), "carries no mandi-principal"),
    "plain role metadata": (lambda m: (("mandi-user", "mallory"), ("mandi-role", "admin")),
                            "mandi-user metadata is not accepted"),
    "plain role alone": (lambda m: (("mandi-role", "admin"),),
                         "mandi-role metadata is not accepted"),
    "another key": (lambda m: _signed(m, key=b"k" * 48), "bad signature"),
    "expired": (lambda m: _signed(m, now=time.time() - 3600), "has expired"),
    "another method": (lambda m: _signed(m.rsplit("/", 1)[0] + "/SomethingElse"),
                       "signed for another method"),
    "garbage": (lambda m: ((PRINCIPAL_KEY, "v1.e30.AAAA"),), "bad signature"),
}


@pytest.mark.parametrize("forgery", FORGERIES)
@pytest.mark.parametrize("service", CALLS)
async def test_forged_principal_is_refused_on_every_port(ports: Ports, service: str,
                                                         forgery: str) -> None:
    stub = getattr(ports, service)
    name, request = CALLS[service]
    metadata, message = FORGERIES[forgery]
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await getattr(stub, name)(request(), metadata=metadata(_method(stub, name)), timeout=10)
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert message in err.value.details()


@pytest.mark.parametrize("service", CALLS)
async def test_a_signed_principal_is_accepted_on_every_port(ports: Ports, service: str) -> None:
    stub = getattr(ports, service)
    name, request = CALLS[service]
    await getattr(stub, name)(request(), metadata=_signed(_method(stub, name), role="viewer"),
                              timeout=10)


@pytest.mark.parametrize("service", CALLS)
async def test_health_answers_unsigned_and_a_service_principal_is_accepted(
        ports: Ports, service: str) -> None:
    stub = getattr(ports, service)
    channel = ports.channels[["history", "strategy", "marketdata", "execution"].index(service)]
    health = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(),
                                                             timeout=10)
    assert health.status == health_pb2.HealthCheckResponse.SERVING
    name, request = CALLS[service]
    await getattr(stub, name)(request(), timeout=10, metadata=_signed(
        _method(stub, name), role="service", user="svc:tests"))


async def test_a_forged_stream_call_is_refused(ports: Ports) -> None:
    call = ports.marketdata.StreamTicks(marketdata_pb2.StreamTicksRequest(),
                                        metadata=(("mandi-role", "admin"),), timeout=10)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call.read()
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_strategy_custom_code_needs_a_signed_admin(ports: Ports) -> None:
    request = strategy_pb2.CreateStrategyRequest(strategy=CUSTOM)
    method = _method(ports.strategy, "CreateStrategy")
    with pytest.raises(grpc.aio.AioRpcError) as err:  # no principal: nobody
        await ports.strategy.CreateStrategy(request, timeout=10)
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    with pytest.raises(grpc.aio.AioRpcError) as err:  # a service is no admin
        await ports.strategy.CreateStrategy(
            request, metadata=_signed(method, role="service", user="svc:tests"), timeout=10)
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.aio.AioRpcError) as err:  # a signed trader is no admin either
        await ports.strategy.CreateStrategy(request, metadata=_signed(method, role="trader"),
                                            timeout=10)
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    created = (await ports.strategy.CreateStrategy(request, metadata=_signed(method),
                                                   timeout=10)).strategy
    assert created.type == "custom" and created.owner == "mallory"


async def test_execution_admin_rpcs_need_a_signed_admin(ports: Ports) -> None:
    aid = ports.stack.env.account_id
    reset = execution_pb2.ResetEmergencyStopRequest(account_id=aid, actor="mallory")
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await ports.execution.ResetEmergencyStop(reset, timeout=10)
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    method = _method(ports.execution, "ResetEmergencyStop")
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await ports.execution.ResetEmergencyStop(
            reset, metadata=_signed(method, role="service", user="svc:tests"), timeout=10)
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "only an admin" in err.value.details()
    limits = await ports.stack.exec_stub.GetRiskLimits(  # signed as svc:tests
        execution_pb2.GetRiskLimitsRequest(account_id=aid), timeout=10)
    change = execution_pb2.SetRiskLimitsRequest(account_id=aid, limits=limits.limits)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await ports.execution.SetRiskLimits(
            change, metadata=_signed(_method(ports.execution, "SetRiskLimits"), role="trader",
                                     accounts=(aid,)),  # its own account: still no admin
            timeout=10)
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    await ports.execution.ResetEmergencyStop(
        reset, metadata=_signed(_method(ports.execution, "ResetEmergencyStop")), timeout=10)
