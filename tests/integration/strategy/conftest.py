"""A real strategy service on an ephemeral port, over a fresh database, reading candles from a
minimal real gRPC HistoryService (deterministic random-walk bars) — the history service's own
code is not needed to test ours, its wire contract is."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import grpc
import pytest
import pytest_asyncio

from mandi.platform.config import load_settings
from mandi.platform.grpc_server import ServerReady, serve
from mandi.platform.service_auth import service_key
from mandi.testing.kitesim import free_port
from mandi.testing.pg import fresh_database
from mandi.testing.signed_channel import signed_aio_channel
from mandi.v1 import strategy_pb2_grpc
from services.strategy.sandbox import SandboxLimits
from services.strategy.server import StrategyOptions, build_spec
from tests.integration.strategy.fake_history import FakeHistory, start_history


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def history() -> AsyncIterator[tuple[FakeHistory, int]]:
    fake = FakeHistory()
    server, port = await start_history(fake)
    try:
        yield fake, port
    finally:
        await server.stop(None)


class StrategyProcess:
    """`serve()` of the strategy service as a task: start, stop (graceful), start again."""

    def __init__(self, pg_dsn: str, history_port: int, options: StrategyOptions) -> None:
        # marketdata and execution on ports nobody listens on: a bot started here must never
        # reach a stack another test runs on the default ports
        self.settings = load_settings({"MANDI_PG_DSN": pg_dsn,
                                       "MANDI_HISTORY_ADDR": f"127.0.0.1:{history_port}",
                                       "MANDI_MARKETDATA_ADDR": f"127.0.0.1:{free_port()}",
                                       "MANDI_EXECUTION_ADDR": f"127.0.0.1:{free_port()}",
                                       "MANDI_REDIS_PREFIX": f"t-strategy-{uuid.uuid4().hex}",
                                       "MANDI_SHUTDOWN_GRACE_S": "1"})
        self.options = options
        self.task: asyncio.Task[int] | None = None
        self.stop_event = asyncio.Event()
        self.channel: grpc.aio.Channel | None = None
        self.stub: strategy_pb2_grpc.StrategyServiceStub | None = None

    async def start(self) -> None:
        ready = ServerReady()
        self.stop_event = asyncio.Event()
        self.task = asyncio.create_task(serve(build_spec(self.settings, self.options),
                                              self.settings, port=0, metrics_port=-1,
                                              ready=ready, stop=self.stop_event))
        waiter = asyncio.create_task(ready.wait())
        await asyncio.wait({waiter, self.task}, timeout=30,
                           return_when=asyncio.FIRST_COMPLETED)
        if not ready.is_set():
            waiter.cancel()
            raise RuntimeError(f"strategy service did not start: {self.task}")
        self.port = ready.port
        # Signs the tests' `mandi-user`/`mandi-role` metadata as the gateway does.
        self.channel = signed_aio_channel(f"127.0.0.1:{ready.port}",
                                          key=service_key(self.settings))
        self.stub = strategy_pb2_grpc.StrategyServiceStub(self.channel)

    async def stop(self) -> int:
        if self.channel is not None:
            await self.channel.close()
        self.stop_event.set()
        assert self.task is not None
        return await asyncio.wait_for(self.task, 30)


def fast_options(**kw) -> StrategyOptions:
    base = dict(lease_s=2.0, poll_s=0.1,
                sandbox=SandboxLimits(cpu_s=1, memory_bytes=512 * 1024 * 1024, wall_s=8.0),
                validate_sandbox=SandboxLimits(cpu_s=1, wall_s=4.0))
    base.update(kw)
    return StrategyOptions(**base)


@pytest.fixture(autouse=True)
def _reset_history(request):
    """Module-shared fake: every test starts with no delay and an empty call log."""
    if "history" in request.fixturenames:
        fake = request.getfixturevalue("history")[0]
        fake.delay_s = 0.0
        fake.calls.clear()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def module_dsn() -> AsyncIterator[str]:
    async with fresh_database() as dsn:
        yield dsn


@pytest.fixture
def user() -> tuple[tuple[str, str], ...]:
    """Call metadata of a user of this test only, so tests can share one service; a trader
    holding the paper account the bot tests deploy on."""
    return (("mandi-user", f"u-{uuid.uuid4().hex[:10]}"), ("mandi-accounts", "PAPER1"))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def strategy(module_dsn, history) -> AsyncIterator[StrategyProcess]:
    """One service per test module (its users keep tests apart); tests that stop or slow it
    start their own `StrategyProcess`."""
    proc = StrategyProcess(module_dsn, history[1], fast_options())
    await proc.start()
    try:
        yield proc
    finally:
        if proc.task is not None and not proc.task.done():
            await proc.stop()
