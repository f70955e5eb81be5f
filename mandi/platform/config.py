"""Process configuration: every setting, its environment variable and its default, in one place.

Configuration comes only from `MANDI_*` environment variables (DESIGN.md). Defaults point at the
local simulator, PostgreSQL and Redis so a bare `make run` works. A malformed value stops the
process at start with a `ConfigError` naming the variable, the bad value and what was expected,
instead of failing later somewhere far from the cause. Unknown `MANDI_*` variables are only
warned about: a typo should be visible, but an operator adding a variable for a newer release
must not break an older one.
"""

from __future__ import annotations

import ipaddress
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime, time
from enum import StrEnum
from typing import Any, TypeVar

from mandi.core.errors import ConfigError

log = logging.getLogger(__name__)

PREFIX = "MANDI_"

# gRPC services that listen on an address of their own, and every service exporting metrics.
GRPC_SERVICES = ("history", "marketdata", "strategy", "execution", "gateway")
METRICS_SERVICES = ("marketdata", "history", "strategy", "execution", "gateway")


class ClockKind(StrEnum):
    WALL = "wall"
    SIM = "sim"


class TraceExporter(StrEnum):
    NONE = "none"
    CONSOLE = "console"
    OTLP = "otlp"


@dataclass(frozen=True, slots=True)
class HostPort:
    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def parse_host_port(value: str) -> HostPort:
    """Split `host:port` (IPv6 as `[::1]:50051`), checking the port is 0–65535.

    Raises ValueError with a human-readable reason; callers wrap it into ConfigError.
    """
    value = value.strip()
    if value.startswith("["):
        host, sep, rest = value[1:].partition("]")
        if not sep or not rest.startswith(":"):
            raise ValueError("expected [ipv6]:port")
        port_text = rest[1:]
    else:
        host, sep, port_text = value.rpartition(":")
        if not sep:
            raise ValueError("expected host:port")
        if ":" in host:
            raise ValueError("IPv6 hosts must be bracketed, e.g. [::1]:50051")
    if not host:
        raise ValueError("expected host:port with a non-empty host")
    if not port_text.isdigit():
        raise ValueError(f"port {port_text!r} is not a number")
    port = int(port_text)
    if not 0 <= port <= 65535:
        raise ValueError(f"port {port} is outside 0-65535")
    return HostPort(host, port)


@dataclass(frozen=True)
class Settings:
    """Everything a Mandi process reads from its environment. Build with `load_settings()`."""

    pg_dsn: str = "postgresql://postgres@127.0.0.1:5432/mandi"
    redis_url: str = "redis://127.0.0.1:6379/0"
    kite_api_key: str = "mandi_sim_key"
    # repr=False keeps the secret out of repr()/str() and so out of logs and tracebacks.
    kite_api_secret: str = field(default="mandi_sim_secret", repr=False)
    # Set for a real Kite account (obtained by the daily login); empty → log in to kitesim.
    kite_access_token: str = field(default="", repr=False)
    kite_root: str = "http://127.0.0.1:8765"
    kite_ws_root: str = "ws://127.0.0.1:8765/ws"
    clock: ClockKind = ClockKind.WALL
    kitesim_start: datetime | None = None
    kitesim_speed: float = 1.0
    kitesim_seed: int = 42
    # The host every server of this process listens on (gRPC, metrics, the gateway's REST),
    # e.g. 0.0.0.0 in a container. Empty: each service's MANDI_<SERVICE>_ADDR host, which is
    # loopback by default, so nothing is reachable from another machine unless configured.
    bind: str = ""
    history_addr: str = "127.0.0.1:50052"
    marketdata_addr: str = "127.0.0.1:50051"
    strategy_addr: str = "127.0.0.1:50053"
    execution_addr: str = "127.0.0.1:50054"
    # The gateway serves REST on gateway_port; this gRPC port carries only its health checks.
    gateway_addr: str = "127.0.0.1:50055"
    gateway_port: int = 5000
    # Browser origins (scheme://host[:port], comma-separated) allowed to call the REST API
    # cross-origin; empty: none. Request bodies above the limits get 413: JSON bodies, and
    # multipart uploads (candle imports take up to 256 MiB of CSV).
    gateway_cors_origins: tuple[str, ...] = ()
    gateway_max_body_bytes: int = 2 * 1024 * 1024
    gateway_max_upload_bytes: int = 257 * 1024 * 1024
    # REST rate limits (Redis sliding windows, across gateway replicas): "limit/seconds" pairs,
    # comma-separated; every window must hold. Per signed-in user, and per client IP (several
    # users behind one office address). Well above what the web UI sends; "off" disables.
    gateway_rate_user: tuple[tuple[int, float], ...] = ((50, 1.0), (2000, 60.0))
    gateway_rate_ip: tuple[tuple[int, float], ...] = ((100, 1.0), (5000, 60.0))
    # WebSocket channels (/ws/*): a ping message every ws_ping_s on an idle socket; at most
    # ws_queue messages waiting per socket (a client that falls further behind is closed with
    # 1013); ws_replay messages kept per channel for `?since=` resumes; a channel's upstream
    # stream outlives its last socket by ws_linger_s, so a quick reconnect resumes.
    gateway_ws_ping_s: float = 20.0
    gateway_ws_queue: int = 256
    gateway_ws_replay: int = 1000
    gateway_ws_linger_s: float = 60.0
    # how often an open socket's caller is checked again (revoked sign-in, grant withdrawn)
    gateway_ws_recheck_s: float = 30.0
    # /ws/account re-reads the account this often while the market is open (prices move P&L)
    gateway_ws_account_refresh_s: float = 5.0
    kitesim_port: int = 8765
    metrics_port_marketdata: int = 9101
    metrics_port_history: int = 9102
    metrics_port_strategy: int = 9103
    metrics_port_execution: int = 9104
    metrics_port_gateway: int = 9105
    trace_exporter: TraceExporter = TraceExporter.NONE
    otlp_endpoint: str = "http://127.0.0.1:4317"
    log_level: str = "INFO"
    shutdown_grace_s: float = 10.0
    rpc_timeout_s: float = 30.0
    kite_historical_rate: float = 3.0
    history_concurrency: int = 2
    # A job item's lease: a replica that dies holding one frees it this long after its last
    # renewal (renewed every third of it), so another replica resumes the item.
    history_lease_s: float = 30.0
    history_daily_update_at: time = time(16, 0)  # wall time in Asia/Kolkata
    # A CSV (underlying,kind,freeze_qty) replacing execution's shipped freeze-quantity table.
    execution_freeze_qty_file: str = ""
    # Execution's Redis keys start with this (its Kite rate-limit buckets, account throttles,
    # worker leases, order event channels), so tests and parallel stacks can share one Redis
    # without colliding. History keys its shared Kite bucket on its own (fetcher.bucket_key).
    redis_prefix: str = "mandi"
    # Test hook only: the named point in execution's order path exits the process abruptly
    # (os._exit(137)) to simulate a crash there; empty (the default) never fires.
    execution_test_fault: str = ""
    # Seconds between execution's worker passes (broker orders and fills into the ledger,
    # session renewal, pending orders). Wall time: a replay at 500× needs it shorter.
    execution_poll_s: float = 1.0
    # Bots: each running bot is leased to one strategy replica; a dead replica's bots resume on
    # another at most this long (plus one poll) after it stopped renewing. Empty id = host-pid.
    strategy_bot_lease_s: float = 10.0
    strategy_replica_id: str = ""
    # Test hook only: "after_bar_saved" exits the strategy process abruptly (os._exit(137)) the
    # first time a bar's orders are recorded, before any is sent; empty never fires.
    strategy_test_fault: str = ""
    # Custom-Python sandboxes one strategy process runs at once; more wait for a slot.
    strategy_sandbox_max: int = 4
    # how often the nightly parity run looks for finished days without a report (seconds)
    strategy_parity_poll_s: float = 60.0
    # How long a job item keeps retrying transient Kite errors (429, 5xx, timeouts) before it
    # fails; the daily update retries failed ones again.
    history_retry_window_s: float = 300.0
    # Marketdata. A minute bar built from ticks closes this many (simulated) seconds after its
    # end unless a later tick of the same instrument closed it first; ticks arrive up to ~3 s late.
    marketdata_candle_grace_s: float = 3.0
    # No tick and no heartbeat for this long on a ticker socket means it is dead: reconnect.
    marketdata_stall_s: float = 5.0
    # The ingest lease (one active ingester per API key): a standby takes over at most this long
    # (plus one poll) after the active replica stops renewing it.
    marketdata_lease_s: float = 5.0
    # Who this replica is in the lease and in GetStatus; empty = hostname-pid.
    marketdata_replica_id: str = ""
    # Notifications (sent by the gateway's notifier). The Telegram Bot API root (tests point it
    # at a local fake); retries of a failing channel: attempts, and the exponential backoff's
    # first step and cap in seconds.
    notify_telegram_api: str = "https://api.telegram.org"
    notify_retry_attempts: int = 5
    notify_retry_base_s: float = 1.0
    notify_retry_max_s: float = 30.0
    # Gateway auth. The first-run `admin` gets this password when no user exists (empty: one is
    # generated, printed once and written to admin_password_file, mode 0600).
    admin_password: str = field(default="", repr=False)
    admin_password_file: str = "~/.mandi/admin-password"
    # HS256 key of access tokens (>= 32 chars); empty: one generated and kept in the gateway's
    # database, shared by its replicas.
    jwt_secret: str = field(default="", repr=False)
    # HMAC key of the principal the gateway forwards to the services (>= 32 chars; required when
    # services run on different hosts); empty: a random key generated once into
    # service_token_key_file (mode 0600) and shared by every process on the host.
    service_token_key: str = field(default="", repr=False)
    service_token_key_file: str = "~/.mandi/service-token-key"
    # For local debugging only (grpcurl without the key): services answer unsigned calls as the
    # system (every account, never admin) instead of refusing them with UNAUTHENTICATED.
    grpc_allow_unsigned: bool = False
    # Key(s) sealing secrets at rest (broker credentials, Kite access tokens), comma-separated,
    # each >= 32 chars: the first encrypts, every one decrypts (rotate: put the new key first,
    # run `accounts_cli rotate-secrets`, then drop the old). Empty: a random key generated once
    # into secret_key_file (mode 0600). mandi/platform/secret_box.py.
    secret_key: str = field(default="", repr=False)
    secret_key_file: str = "~/.mandi/secret-key"
    # TLS for the gateway's REST port: PEM certificate (chain) and private key files; both or
    # neither (plain HTTP).
    tls_cert: str = ""
    tls_key: str = ""
    # Bounded work per request: a history fetch estimated at more Kite calls than this needs
    # `"confirm": true`; each user may queue this many estimated Kite calls per IST day.
    gateway_fetch_confirm_calls: int = 1000
    gateway_kite_calls_per_day: int = 20000
    access_token_ttl_s: int = 900
    refresh_token_ttl_s: int = 30 * 86400
    session_ttl_s: int = 12 * 3600  # the web UI's cookie session
    # Set the Secure flag on the session and CSRF cookies (on whenever the UI is served by TLS).
    cookie_secure: bool = False
    # Login throttling (Redis): this many failures of one username, or of one IP address, within
    # login_lockout_s lock further attempts out until the window has passed.
    login_max_failures: int = 5
    login_lockout_s: float = 300.0
    # argon2id cost of password hashes: passes and memory (KiB), argon2-cffi's defaults (RFC 9106
    # low-memory). Read process-wide by services/gateway/auth/passwords.py; lower only for tests
    # (tests/conftest.py), where hundreds of sign-ins would otherwise cost minutes of CPU.
    password_hash_time_cost: int = 3
    password_hash_memory_kib: int = 65536

    def secret_values(self) -> list[str]:
        """The configured secrets, for log redaction (empty ones left out): every field kept
        out of repr(), so a new secret setting is scrubbed as soon as it is marked one (each
        key of the comma-separated secret_key on its own too)."""
        values = [v for f in fields(self) if not f.repr and (v := getattr(self, f.name))]
        return values + [k for k in self.secret_keys() if k != self.secret_key]

    def secret_keys(self) -> list[str]:
        """MANDI_SECRET_KEY's keys, first (the encrypting one) first; [] when unset."""
        return [k.strip() for k in self.secret_key.split(",") if k.strip()]

    def addr_of(self, service: str) -> str:
        """The `host:port` a gRPC service listens on (servers bind its port, clients dial it)."""
        if service not in GRPC_SERVICES:
            raise ConfigError(
                f"no gRPC address for service {service!r}; known: {', '.join(GRPC_SERVICES)}",
                field="service",
            )
        return str(getattr(self, f"{service}_addr"))

    def listen_host_of(self, service: str) -> str:
        """The host `service`'s servers bind: MANDI_BIND, else the host of its gRPC address
        (loopback for a process that has none of its own, e.g. a test's)."""
        if self.bind:
            return self.bind
        if service not in GRPC_SERVICES:
            return "127.0.0.1"
        return parse_host_port(self.addr_of(service)).host

    def metrics_port_of(self, service: str) -> int:
        """The port a service serves Prometheus `/metrics` on."""
        if service not in METRICS_SERVICES:
            raise ConfigError(
                f"no metrics port for service {service!r}; known: {', '.join(METRICS_SERVICES)}",
                field="service",
            )
        return int(getattr(self, f"metrics_port_{service}"))


# --- parsing -------------------------------------------------------------------------------
T = TypeVar("T")


def _env_name(attr: str) -> str:
    return PREFIX + attr.upper()


def _parse_port(text: str) -> int:
    if not text.strip().isdigit():
        raise ValueError("expected a port number 0-65535")
    port = int(text)
    if not 0 <= port <= 65535:
        raise ValueError("expected a port number 0-65535")
    return port


def _parse_addr(text: str) -> str:
    try:
        return str(parse_host_port(text))
    except ValueError as exc:
        raise ValueError(f"expected host:port ({exc})") from None


def _parse_host(text: str) -> str:
    host = text.strip()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not host:
        return ""
    problem = any(c.isspace() for c in host) or "/" in host
    if ":" in host:  # only an IPv6 address may hold colons: a port does not belong here
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            problem = True
    if problem:
        raise ValueError("expected a host name or IP address without a port, e.g. 0.0.0.0")
    return host


def _parse_origins(text: str) -> tuple[str, ...]:
    origins = []
    for item in text.split(","):
        origin = item.strip().rstrip("/")
        if not origin:
            continue
        scheme, sep, rest = origin.partition("://")
        if scheme not in ("http", "https") or not sep or not rest or "/" in rest or "*" in rest:
            raise ValueError(f"{origin!r} is not an origin; expected comma-separated "
                             "http(s)://host[:port] without paths or wildcards")
        origins.append(origin)
    return tuple(origins)


def _parse_windows(text: str) -> tuple[tuple[int, float], ...]:
    if text.strip().lower() == "off":
        return ()
    windows = []
    for item in text.split(","):
        limit, sep, seconds = item.strip().partition("/")
        try:
            pair = (int(limit), float(seconds.removesuffix("s")))
        except ValueError:
            pair = (0, 0.0)
        if not sep or pair[0] < 1 or not 0 < pair[1] < float("inf"):
            raise ValueError(f"{item.strip()!r} is not a window; expected comma-separated "
                             "limit/seconds pairs like 50/1,2000/60 (integer limit >= 1, "
                             "seconds > 0), or off")
        windows.append(pair)
    return tuple(windows)


def _parse_float(*, minimum: float, positive: bool = False) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise ValueError("expected a number") from None
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError("expected a finite number")
        if positive and value <= 0:
            raise ValueError("expected a number > 0")
        if value < minimum:
            raise ValueError(f"expected a number >= {minimum:g}")
        return value

    return parse


def _parse_int(*, minimum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text.strip())
        except ValueError:
            raise ValueError("expected an integer") from None
        if value < minimum:
            raise ValueError(f"expected an integer >= {minimum}")
        return value

    return parse


def _parse_enum(enum: type[StrEnum]) -> Callable[[str], StrEnum]:
    def parse(text: str) -> StrEnum:
        try:
            return enum(text.strip().lower())
        except ValueError:
            raise ValueError(f"expected one of {'|'.join(m.value for m in enum)}") from None

    return parse


def _parse_optional_datetime(text: str) -> datetime | None:
    if not text.strip():
        return None
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError("expected an ISO-8601 datetime with offset, or empty") from None
    if value.tzinfo is None:
        raise ValueError("expected a timezone offset, e.g. 2024-01-02T09:15:00+05:30")
    return value


def _parse_hhmm(text: str) -> time:
    hh, sep, mm = text.strip().partition(":")
    if not (sep and hh.isdigit() and mm.isdigit() and len(mm) == 2):
        raise ValueError("expected HH:MM (IST)")
    try:
        return time(int(hh), int(mm))
    except ValueError:
        raise ValueError("expected HH:MM (IST) with 00<=HH<=23, 00<=MM<=59") from None


def _parse_log_level(text: str) -> str:
    level = text.strip().upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        raise ValueError("expected one of DEBUG|INFO|WARNING|ERROR|CRITICAL")
    return level


def _parse_bool(text: str) -> bool:
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise ValueError("expected true or false")


def _parse_secret(text: str) -> str:
    value = text.strip()
    if value and len(value) < 32:
        raise ValueError("expected at least 32 characters")
    return value


def _parse_key_list(text: str) -> str:
    keys = [k.strip() for k in text.split(",")]
    if text.strip() and (not all(keys) or any(len(k) < 32 for k in keys)):
        raise ValueError("expected comma-separated keys of at least 32 characters each")
    return ",".join(keys) if text.strip() else ""


def _parse_nonempty(text: str) -> str:
    if not text.strip():
        raise ValueError("expected a non-empty value")
    return text.strip()


_PARSERS: dict[str, Callable[[str], Any]] = {
    "pg_dsn": _parse_nonempty,
    "redis_url": _parse_nonempty,
    "kite_api_key": _parse_nonempty,
    "kite_api_secret": _parse_nonempty,
    "kite_access_token": str.strip,
    "kite_root": _parse_nonempty,
    "kite_ws_root": _parse_nonempty,
    "clock": _parse_enum(ClockKind),
    "kitesim_start": _parse_optional_datetime,
    "kitesim_speed": _parse_float(minimum=0, positive=True),
    "kitesim_seed": _parse_int(minimum=0),
    "bind": _parse_host,
    "history_addr": _parse_addr,
    "marketdata_addr": _parse_addr,
    "strategy_addr": _parse_addr,
    "execution_addr": _parse_addr,
    "gateway_addr": _parse_addr,
    "gateway_port": _parse_port,
    "gateway_cors_origins": _parse_origins,
    "gateway_max_body_bytes": _parse_int(minimum=1024),
    "gateway_max_upload_bytes": _parse_int(minimum=1024),
    "gateway_rate_user": _parse_windows,
    "gateway_rate_ip": _parse_windows,
    "gateway_ws_ping_s": _parse_float(minimum=0, positive=True),
    "gateway_ws_queue": _parse_int(minimum=1),
    "gateway_ws_replay": _parse_int(minimum=1),
    "gateway_ws_linger_s": _parse_float(minimum=0),
    "gateway_ws_recheck_s": _parse_float(minimum=0, positive=True),
    "gateway_ws_account_refresh_s": _parse_float(minimum=0, positive=True),
    "kitesim_port": _parse_port,
    "metrics_port_marketdata": _parse_port,
    "metrics_port_history": _parse_port,
    "metrics_port_strategy": _parse_port,
    "metrics_port_execution": _parse_port,
    "metrics_port_gateway": _parse_port,
    "trace_exporter": _parse_enum(TraceExporter),
    "otlp_endpoint": _parse_nonempty,
    "log_level": _parse_log_level,
    "shutdown_grace_s": _parse_float(minimum=0),
    "rpc_timeout_s": _parse_float(minimum=0, positive=True),
    "kite_historical_rate": _parse_float(minimum=0, positive=True),
    "history_concurrency": _parse_int(minimum=1),
    "history_lease_s": _parse_float(minimum=0, positive=True),
    "history_daily_update_at": _parse_hhmm,
    "execution_freeze_qty_file": str.strip,
    "redis_prefix": _parse_nonempty,
    "execution_test_fault": str.strip,
    "execution_poll_s": _parse_float(minimum=0, positive=True),
    "strategy_bot_lease_s": _parse_float(minimum=0, positive=True),
    "strategy_replica_id": str.strip,
    "strategy_test_fault": str.strip,
    "strategy_sandbox_max": _parse_int(minimum=1),
    "strategy_parity_poll_s": _parse_float(minimum=0, positive=True),
    "history_retry_window_s": _parse_float(minimum=0),
    "marketdata_candle_grace_s": _parse_float(minimum=0),
    "marketdata_stall_s": _parse_float(minimum=0, positive=True),
    "marketdata_lease_s": _parse_float(minimum=0, positive=True),
    "marketdata_replica_id": str.strip,
    "notify_telegram_api": _parse_nonempty,
    "notify_retry_attempts": _parse_int(minimum=1),
    "notify_retry_base_s": _parse_float(minimum=0, positive=True),
    "notify_retry_max_s": _parse_float(minimum=0, positive=True),
    "admin_password": str,
    "admin_password_file": _parse_nonempty,
    "jwt_secret": _parse_secret,
    "service_token_key": _parse_secret,
    "service_token_key_file": _parse_nonempty,
    "grpc_allow_unsigned": _parse_bool,
    "secret_key": _parse_key_list,
    "secret_key_file": _parse_nonempty,
    "tls_cert": str.strip,
    "tls_key": str.strip,
    "gateway_fetch_confirm_calls": _parse_int(minimum=1),
    "gateway_kite_calls_per_day": _parse_int(minimum=1),
    "access_token_ttl_s": _parse_int(minimum=1),
    "refresh_token_ttl_s": _parse_int(minimum=1),
    "session_ttl_s": _parse_int(minimum=1),
    "cookie_secure": _parse_bool,
    "login_max_failures": _parse_int(minimum=1),
    "login_lockout_s": _parse_float(minimum=0, positive=True),
    "password_hash_time_cost": _parse_int(minimum=1),
    "password_hash_memory_kib": _parse_int(minimum=32),  # argon2: >= 8 KiB per lane (4 lanes)
}

# Variables that belong to other tools or tests, not to Settings, and are not typos.
_KNOWN_EXTRA = frozenset({"MANDI_TEST_PG_DSN", "MANDI_TEST_REDIS_URL"})


def parse_setting(name: str, text: str) -> Any:
    """One setting's value parsed from text as its environment variable would be (the gateway's
    PUT /api/v1/config reuses it); ValueError says what was expected."""
    return _PARSERS[name](text)


def known_variables() -> list[str]:
    """All `MANDI_*` variable names Settings understands (for docs and `--help`)."""
    return [_env_name(f.name) for f in fields(Settings)]


def password_hash_cost(env: Mapping[str, str] | None = None) -> tuple[int, int]:
    """(time_cost, memory_kib) of argon2id password hashes from `env` (default: os.environ),
    Settings' defaults where unset; ConfigError names a malformed variable."""
    env = os.environ if env is None else env
    out = []
    for attr in ("password_hash_time_cost", "password_hash_memory_kib"):
        name, raw = _env_name(attr), env.get(_env_name(attr))
        try:
            out.append(getattr(Settings, attr) if raw is None else _PARSERS[attr](raw))
        except ValueError as exc:
            raise ConfigError(f"{name}={raw!r} is invalid: {exc}", field=name) from None
    return out[0], out[1]


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Build Settings from `env` (default: os.environ).

    Raises ConfigError on the first malformed variable; `field` is the variable name. The
    secret's value is never echoed back in an error.
    """
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    for f in fields(Settings):
        name = _env_name(f.name)
        raw = env.get(name)
        if raw is None:
            continue
        try:
            values[f.name] = _PARSERS[f.name](raw)
        except ValueError as exc:
            shown = repr(raw) if f.repr else "<redacted>"
            raise ConfigError(f"{name}={shown} is invalid: {exc}", field=name) from None
    known = set(known_variables()) | _KNOWN_EXTRA
    for name in sorted(env):
        if name.startswith(PREFIX) and name not in known:
            log.warning("ignoring unknown environment variable %s (typo?)", name)
    return Settings(**values)
