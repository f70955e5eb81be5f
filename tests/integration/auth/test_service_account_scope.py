"""A signed *user* principal reaches only its granted accounts, directly on the services' gRPC
ports (issue #13: "user A naming user B's account → 404 ... on each service's gRPC port — 0
leaks"). Trader asha holds account A; account B exists but is not hers. Every execution RPC
whose request names an `account_id` (taken from the service descriptor, so an RPC added later
is covered) answers NOT_FOUND "no account 'B'" — the answer for an account that does not exist —
and so do strategy's RPCs on a bot of hers that trades B, and a deploy on B. Controls: the same
calls on A, or with B granted, or as a service principal, get past the check."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
import pytest_asyncio

from mandi.testing.signed_channel import as_user, signed_aio_channel
from mandi.v1 import execution_pb2, execution_pb2_grpc, strategy_pb2, strategy_pb2_grpc
from tests.integration.strategy.signal_stack import SignalStack, signal_stack
from tests.integration.strategy.test_bots_grpc import deploy_req

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

EXEC = execution_pb2.DESCRIPTOR.services_by_name["ExecutionService"]
STRAT = strategy_pb2.DESCRIPTOR.services_by_name["StrategyService"]
# Bot RPCs by deployment_id; PostSignal is authenticated by the bot's own key, not a user.
BOT_RPCS = [m for m in STRAT.methods
            if "deployment_id" in m.input_type.fields_by_name and m.name != "PostSignal"]
ACCOUNT_RPCS = [m for m in EXEC.methods if "account_id" in m.input_type.fields_by_name]


@dataclass
class Scope:
    st: SignalStack
    a: str
    b: str
    bot: str  # asha's bot, trading account B
    execution: execution_pb2_grpc.ExecutionServiceStub
    strategy: strategy_pb2_grpc.StrategyServiceStub


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def scope() -> AsyncIterator[Scope]:
    async with signal_stack() as st:
        a, b = st.env.account_id, await st.env.add_account()
        ex = signed_aio_channel(st.exec_addr)
        sg = signed_aio_channel(f"127.0.0.1:{st.strategy.port}")
        try:
            strategy = strategy_pb2_grpc.StrategyServiceStub(sg)
            admin = as_user("root", "admin")
            bot = (await strategy.Deploy(deploy_req(account_id=b, owner="asha"),
                                         metadata=admin, timeout=20)).deployment_id
            yield Scope(st, a, b, bot, execution_pb2_grpc.ExecutionServiceStub(ex), strategy)
        finally:
            await ex.close()
            await sg.close()


def _asha(*accounts: str) -> Any:
    return as_user("asha", "trader", accounts)


async def _call(stub: Any, method: Any, request: Any, metadata: Any) -> Any:
    rpc = getattr(stub, method.name)
    if method.server_streaming:
        call = rpc(request, metadata=metadata, timeout=10)
        return await call.read()
    return await rpc(request, metadata=metadata, timeout=10)


async def _refused(stub: Any, method: Any, request: Any, metadata: Any) -> str:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await _call(stub, method, request, metadata)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND, (method.name, err.value.details())
    return err.value.details()


async def test_the_matrix_covers_every_account_rpc() -> None:
    assert len(ACCOUNT_RPCS) >= 20 and len(BOT_RPCS) >= 12
    assert {"PlaceOrder", "EmergencyStop", "StreamOrderEvents", "GetAccountSnapshot"} <= {
        m.name for m in ACCOUNT_RPCS}


@pytest.mark.parametrize("method", ACCOUNT_RPCS, ids=lambda m: m.name)
async def test_another_users_account_is_not_found_on_execution(scope: Scope, method) -> None:
    request = getattr(execution_pb2, method.input_type.name)(account_id=scope.b)
    details = await _refused(scope.execution, method, request, _asha(scope.a))
    assert details == f"account_id: no account '{scope.b}'"
    missing = getattr(execution_pb2, method.input_type.name)(account_id="ZZ0000")
    assert await _refused(scope.execution, method, missing, _asha(scope.a)) == \
        "account_id: no account 'ZZ0000'"  # the same answer as for no such account


async def test_own_account_and_service_principals_pass_the_check(scope: Scope) -> None:
    listed = await scope.execution.ListOrders(
        execution_pb2.ListOrdersRequest(account_id=scope.a), metadata=_asha(scope.a))
    assert list(listed.orders) == []
    await scope.execution.ListOrders(execution_pb2.ListOrdersRequest(account_id=scope.b))
    await scope.execution.ListOrders(execution_pb2.ListOrdersRequest(account_id=scope.b),
                                     metadata=as_user("root", "admin"))


async def test_listings_show_a_user_only_its_accounts(scope: Scope) -> None:
    mine = await scope.execution.ListAccounts(execution_pb2.ListAccountsRequest(),
                                              metadata=_asha(scope.a))
    assert [a.account_id for a in mine.accounts] == [scope.a]
    every = await scope.execution.ListAccounts(execution_pb2.ListAccountsRequest())
    assert {scope.a, scope.b} <= {a.account_id for a in every.accounts}
    await scope.execution.EmergencyStop(execution_pb2.EmergencyStopRequest(
        account_id=scope.b, reason="audit row", actor="t"))
    audit = await scope.execution.ListAuditLogs(
        execution_pb2.ListAuditLogsRequest(account_ids=[scope.b]), metadata=_asha(scope.a))
    assert list(audit.entries) == []
    await scope.execution.ResetEmergencyStop(
        execution_pb2.ResetEmergencyStopRequest(account_id=scope.b, actor="root"),
        metadata=as_user("root", "admin"))


@pytest.mark.parametrize("method", BOT_RPCS, ids=lambda m: m.name)
async def test_a_bot_on_another_account_is_not_found_on_strategy(scope: Scope, method) -> None:
    request = getattr(strategy_pb2, method.input_type.name)(deployment_id=scope.bot)
    if "date" in method.input_type.fields_by_name:
        request.date = "2026-01-05"  # GetParity checks its date before the bot
    details = await _refused(scope.strategy, method, request, _asha(scope.a))
    assert details == f"id: no bot {scope.bot}"


async def test_strategy_deploys_and_lists_only_on_granted_accounts(scope: Scope) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await scope.strategy.Deploy(deploy_req(account_id=scope.b, name="on-b"),
                                    metadata=_asha(scope.a), timeout=20)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    assert err.value.details() == f"account_id: no account '{scope.b}'"
    listed = await scope.strategy.ListBots(strategy_pb2.ListBotsRequest(),
                                           metadata=_asha(scope.a))
    assert scope.bot not in [b.deployment_id for b in listed.bots]
    # control: granted B, asha sees and reads her bot
    both = _asha(scope.a, scope.b)
    listed = await scope.strategy.ListBots(strategy_pb2.ListBotsRequest(), metadata=both)
    assert scope.bot in [b.deployment_id for b in listed.bots]
    got = await scope.strategy.GetBot(strategy_pb2.GetBotRequest(deployment_id=scope.bot),
                                      metadata=both)
    assert got.state.account_id == scope.b
