"""Where the servers of a Mandi process listen (security review S2): every gRPC server, metrics
server and the gateway's REST bind loopback by default, the host of their MANDI_<SERVICE>_ADDR
when it names one, and MANDI_BIND when it is set (0.0.0.0 for containers).

Read from the kernel's socket tables (/proc/net/tcp, tcp6), so the test sees the listening
address itself, not what the code meant to ask for."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from mandi.platform.config import Settings, load_settings
from mandi.platform.grpc_server import ServerReady, ServiceSpec, serve
from mandi.testing.kitesim import free_port
from services.gateway.server import build_spec as gateway_spec
from tests.integration.market_stack import start_service

pytestmark = pytest.mark.integration

LISTEN = "0A"


def listening_hosts(port: int) -> set[str]:
    """Local addresses of the TCP sockets listening on `port`, as the kernel lists them: an
    IPv4-mapped IPv6 address as its IPv4 one (gRPC listens through IPv6 sockets), and either
    wildcard (0.0.0.0 or ::) as "*"."""
    hosts = set()
    for table, width in (("/proc/net/tcp", 4), ("/proc/net/tcp6", 16)):
        for line in Path(table).read_text().splitlines()[1:]:
            cols = line.split()
            addr, port_hex = cols[1].split(":")
            if cols[3] != LISTEN or int(port_hex, 16) != port:
                continue
            raw = bytes.fromhex(addr)
            # The kernel prints each 32-bit word in host (little-endian) byte order.
            packed = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
            ip = ipaddress.ip_address(packed if width == 16 else packed[:4])
            if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
                ip = ip.ipv4_mapped
            hosts.add("*" if ip.is_unspecified else str(ip))
    return hosts


def plain_spec() -> ServiceSpec:
    return ServiceSpec(name="history", register=lambda _server: None, service_names=[])


async def serve_briefly(spec: ServiceSpec, settings: Settings, **ports: int) -> tuple[
        set[str], set[str]]:
    """Start `spec`, read where its gRPC and metrics servers listen, stop it."""
    ready, stop = ServerReady(), asyncio.Event()
    task = asyncio.create_task(serve(spec, settings, ready=ready, stop=stop, **ports))
    waiter = asyncio.create_task(ready.wait())
    await asyncio.wait({task, waiter}, timeout=30, return_when=asyncio.FIRST_COMPLETED)
    assert ready.is_set(), f"service did not start: {task}"
    try:
        return listening_hosts(ready.port), listening_hosts(ready.metrics_port)
    finally:
        stop.set()
        assert await asyncio.wait_for(task, 30) == 0


@pytest.mark.parametrize(("settings", "host"), [
    (Settings(), "127.0.0.1"),
    (load_settings({"MANDI_HISTORY_ADDR": "127.0.0.3:50052"}), "127.0.0.3"),
    (load_settings({"MANDI_BIND": "0.0.0.0"}), "*"),
    (load_settings({"MANDI_BIND": "::1"}), "::1"),
    (load_settings({"MANDI_BIND": "127.0.0.4", "MANDI_HISTORY_ADDR": "127.0.0.3:1"}),
     "127.0.0.4"),
], ids=["default-loopback", "addr-host", "bind-all", "bind-ipv6", "bind-over-addr"])
async def test_grpc_and_metrics_listen_where_settings_say(settings: Settings, host: str) -> None:
    grpc_hosts, metrics_hosts = await serve_briefly(plain_spec(), settings, port=0,
                                                    metrics_port=0)
    assert grpc_hosts == {host}
    assert metrics_hosts == {host}


async def test_grpc_on_the_default_address_is_not_reachable_on_another_local_address() -> None:
    service = await start_service(plain_spec(), Settings(), "demo")
    try:
        socket.create_connection(("127.0.0.1", service.port), timeout=2).close()
        with pytest.raises(ConnectionRefusedError):  # 127.0.0.2 is loopback too, but not bound
            socket.create_connection(("127.0.0.2", service.port), timeout=2)
    finally:
        await service.close()


@pytest.mark.parametrize(("env", "host"), [
    ({}, "127.0.0.1"),
    ({"MANDI_GATEWAY_ADDR": "127.0.0.5:50055"}, "127.0.0.5"),
    ({"MANDI_BIND": "0.0.0.0"}, "*"),
], ids=["default-loopback", "addr-host", "bind-all"])
async def test_gateway_rest_listens_where_settings_say(env: dict[str, str], host: str) -> None:
    rest_port = free_port()
    settings = replace(load_settings(env), gateway_port=rest_port)
    gateway = await start_service(gateway_spec(settings), settings, "gateway")
    try:
        assert listening_hosts(rest_port) == {host}
        assert listening_hosts(gateway.port) == {host}  # its health-only gRPC port
        reach = "127.0.0.1" if host == "*" else host
        async with httpx.AsyncClient(base_url=f"http://{reach}:{rest_port}") as http:
            assert (await http.get("/healthz")).status_code == 200
    finally:
        await gateway.close()
