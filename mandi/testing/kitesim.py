"""Run kitesim for tests: in-process on a background thread, or as a subprocess, plus the real
Kite login flow and the simulator's admin routes.

    from mandi.testing.kitesim import kitesim_server  # pytest fixture (module scope)

    def test_x(kitesim_server):
        kite = kitesim_server.kite()          # logged-in kiteconnect.KiteConnect
        kite.quote(["NSE:INFY"])

The fixture's simulator starts on a trading day (DEFAULT_START, speed 1), rate limits off.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from mandi.core.clock import IST

DEFAULT_START = datetime(2025, 11, 20, 10, 0, tzinfo=IST)  # a Thursday, market open
REPO_ROOT = Path(__file__).resolve().parents[2]
# Zerodha's sample responses, vendored (tests/fixtures/kite-mocks/README.md): never skipped.
KITE_MOCKS = REPO_ROOT / "tests" / "fixtures" / "kite-mocks"


def kite_sample(name: str) -> Any:
    """One of Zerodha's sample responses (kiteconnect-mocks), parsed."""
    return json.loads((KITE_MOCKS / f"{name}.json").read_text())


def json_kind(value: Any) -> str:
    """The JSON type of a parsed value (int and float are both JSON numbers)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _merge_items(items: list) -> Any:
    """One expected shape for a sample list: the keys every object item has (nested lists
    concatenated, other values the first non-null one), or the first non-null item."""
    present = [i for i in items if i is not None]
    if not present:
        return None
    if not all(isinstance(i, dict) for i in present):
        return present[0]
    out: dict[str, Any] = {}
    for key in present[0]:
        if not all(key in i for i in present):
            continue
        values = [i[key] for i in present]
        if all(isinstance(v, list) for v in values):
            out[key] = [x for v in values for x in v]
        else:
            out[key] = next((v for v in values if v is not None), None)
    return out


def shape_diff(ours: Any, theirs: Any, path: str = "", skip: tuple[str, ...] = ()) -> list[str]:
    """Where our response differs in shape from Zerodha's sample: every key of the sample
    present, every leaf of the same JSON type, and every item of our lists held to the sample
    list's items (a null on either side is compatible: Kite nulls optional values).

    Keys named in `skip` are required but neither typed nor descended into."""
    if ours is None or theirs is None:
        return []
    mine, want = json_kind(ours), json_kind(theirs)
    if mine != want:
        return [f"{path or '.'}: {mine}, sample has {want}"]
    out: list[str] = []
    if isinstance(theirs, dict):
        for key, value in theirs.items():
            if key not in ours:
                out.append(f"{path}.{key}: missing")
            elif key not in skip:
                out.extend(shape_diff(ours[key], value, f"{path}.{key}", skip))
    elif isinstance(theirs, list) and theirs:
        if len({json_kind(i) for i in theirs if i is not None}) > 1:  # a tuple (a candle)
            if len(ours) != len(theirs):
                return [f"{path}: {len(ours)} items, sample has {len(theirs)}"]
            for i, (mine_i, want_i) in enumerate(zip(ours, theirs, strict=True)):
                out.extend(shape_diff(mine_i, want_i, f"{path}[{i}]", skip))
            return out
        expected = _merge_items(theirs)
        for i, item in enumerate(ours):
            out.extend(shape_diff(item, expected, f"{path}[{i}]", skip))
    return out



# Under pytest-xdist every worker takes ports from its own block, below the kernel's ephemeral
# range (32768+): a port the kernel hands out for bind(0) is free again once checked, so two
# workers could be given the same one and the second platform's gateway would then talk to the
# first's services (seen in CI as "Method not found" 500s). Within a block a process walks on
# from a random start, so it never hands out the same port twice (until the block wraps) and
# its child processes, starting elsewhere, rarely meet its ports.
_PORT_BLOCK = 5000
_PORT_BASE = 10000
_cursor = random.Random().randrange(_PORT_BLOCK)  # own state: a seeded `random` cannot repeat it


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    global _cursor
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if not (worker.startswith("gw") and worker[2:].isdigit()):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]
    low = _PORT_BASE + int(worker[2:]) % 4 * _PORT_BLOCK
    for _ in range(_PORT_BLOCK):
        port = low + _cursor
        _cursor = (_cursor + 1) % _PORT_BLOCK
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {low}-{low + _PORT_BLOCK - 1} for worker {worker}")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


@dataclass
class KitesimServer:
    """A running simulator: its URLs, credentials and (in-process only) its Simulator."""

    url: str
    api_key: str
    api_secret: str
    sim: Any = None  # services.kitesim.app.Simulator when in-process
    access_token: str | None = None
    _stop: Any = field(default=None, repr=False)

    @classmethod
    def at(cls, url: str) -> KitesimServer:
        """A simulator started elsewhere (`make run`, the platform's supervisor) with kitesim's
        default credentials (services/kitesim/defaults.py)."""
        from services.kitesim.defaults import DEFAULT_API_KEY, DEFAULT_API_SECRET

        return cls(url, DEFAULT_API_KEY, DEFAULT_API_SECRET)

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://") + "/ws"

    def request_token(self) -> str:
        """GET /connect/login and read request_token from the 302 Location."""
        opener = urllib.request.build_opener(_NoRedirect)
        try:
            opener.open(f"{self.url}/connect/login?api_key={self.api_key}&v=3", timeout=5)
        except urllib.error.HTTPError as exc:
            if exc.code != 302:
                raise
            location = exc.headers["Location"]
        else:  # pragma: no cover - the route always redirects
            raise AssertionError("/connect/login did not redirect")
        query = parse_qs(urlparse(location).query)
        assert query["status"] == ["success"] and query["action"] == ["login"]
        return query["request_token"][0]

    def login(self) -> str:
        """The full Kite login flow with the real client; returns a fresh access token."""
        from kiteconnect import KiteConnect

        kite = KiteConnect(self.api_key, root=self.url)
        data = kite.generate_session(self.request_token(), api_secret=self.api_secret)
        self.access_token = data["access_token"]
        return self.access_token

    def kite(self, access_token: str | None = None):
        """A kiteconnect.KiteConnect pointed at the simulator, logged in."""
        from kiteconnect import KiteConnect

        kite = KiteConnect(self.api_key, root=self.url)
        kite.set_access_token(access_token or self.access_token or self.login())
        return kite

    def admin(self, path: str, body: dict | None = None) -> Any:
        """Call a /sim/ admin route (POST with a JSON body, GET without); returns `data`."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(f"{self.url}/sim/{path.lstrip('/')}", data=data,
                                     method="POST" if body is not None else "GET",
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read())["data"]

    def raw(self, path: str) -> Any:
        """GET a Kite route with the access token, without kiteconnect; the parsed envelope."""
        req = urllib.request.Request(self.url + path, headers={
            "Authorization": f"token {self.api_key}:{self.access_token}",
            "X-Kite-Version": "3"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            assert "json" in resp.headers["Content-Type"]
            return json.loads(resp.read())

    def now(self) -> datetime:
        return datetime.fromisoformat(self.admin("clock")["now"])

    def stop(self) -> None:
        if self._stop:
            self._stop()
            self._stop = None


def start_kitesim(seed: int = 1, start: datetime | None = DEFAULT_START, speed: float = 1.0,
                  rate_limits: bool = True, **cfg: Any) -> KitesimServer:
    """Start kitesim in-process on a daemon thread with its own event loop."""
    from aiohttp import web

    from services.kitesim.app import SIM, SimConfig, create_app

    config = SimConfig(seed=seed, start=start, speed=speed, rate_limits=rate_limits, **cfg)
    port = free_port()
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    holder: dict[str, Any] = {}

    def run() -> None:
        asyncio.set_event_loop(loop)
        app = create_app(config)
        runner = web.AppRunner(app, access_log=None)
        loop.run_until_complete(runner.setup())
        loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", port).start())
        holder["app"], holder["runner"] = app, runner
        ready.set()
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())
        loop.close()

    thread = threading.Thread(target=run, name="kitesim", daemon=True)
    thread.start()
    if not ready.wait(30):
        raise RuntimeError("kitesim did not start")

    def stop() -> None:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)

    return KitesimServer(f"http://127.0.0.1:{port}", config.api_key, config.api_secret,
                         holder["app"][SIM], _stop=stop)


@contextlib.contextmanager
def logged_in_kitesim(rate_limits: bool = False, **kw: Any) -> Iterator[KitesimServer]:
    """start_kitesim (rate limits off unless asked), logged in; stopped on the way out."""
    server = start_kitesim(rate_limits=rate_limits, **kw)
    server.login()
    try:
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def kitesim_process(*args: str, seed: int = 1, port: int | None = None,
                    env: dict[str, str] | None = None) -> Iterator[KitesimServer]:
    """`python -m services.kitesim` as a subprocess; yields once it answers /sim/clock."""
    port = port or free_port()
    full_env = {**os.environ, **(env or {})}
    full_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT),
                                                           full_env.get("PYTHONPATH")]))
    proc = subprocess.Popen(
        [sys.executable, "-m", "services.kitesim", "--seed", str(seed), "--port", str(port),
         *args], cwd=REPO_ROOT, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    default = KitesimServer.at(f"http://127.0.0.1:{port}")
    server = KitesimServer(default.url, full_env.get("MANDI_KITE_API_KEY", default.api_key),
                           full_env.get("MANDI_KITE_API_SECRET", default.api_secret))
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                server.admin("clock")
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    out = proc.stdout.read().decode() if proc.stdout else ""
                    raise RuntimeError(f"kitesim process did not start:\n{out}") from None
                time.sleep(0.1)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="module")
def kitesim_server() -> Iterator[KitesimServer]:
    """A logged-in in-process simulator on DEFAULT_START at speed 1.

    Rate limits are off so tests can call freely; a test about limits turns them on with
    `server.admin("ratelimit", {"enabled": True})` (the CLI simulator has them on by default).
    """
    with logged_in_kitesim() as server:
        yield server
