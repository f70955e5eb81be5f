"""Settings come from MANDI_* variables; a bad value stops the process with a clear message."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from dataclasses import FrozenInstanceError, fields
from datetime import UTC, datetime, time, timedelta, timezone
from pathlib import Path

import pytest

from mandi.core.errors import ConfigError
from mandi.platform import config
from mandi.platform.config import ClockKind, Settings, TraceExporter, load_settings

REPO = Path(__file__).resolve().parents[3]


def test_load_settings_when_env_empty_gives_documented_defaults() -> None:
    s = load_settings({})
    assert s == Settings()
    assert s.pg_dsn == "postgresql://postgres@127.0.0.1:5432/mandi"
    assert s.redis_url == "redis://127.0.0.1:6379/0"
    assert s.kite_root == "http://127.0.0.1:8765"
    assert s.kite_ws_root == "ws://127.0.0.1:8765/ws"
    assert s.clock is ClockKind.WALL
    assert s.kitesim_start is None and s.kitesim_speed == 1.0 and s.kitesim_seed == 42
    assert [s.addr_of(n) for n in ("marketdata", "history", "strategy", "execution")] == [
        "127.0.0.1:50051",
        "127.0.0.1:50052",
        "127.0.0.1:50053",
        "127.0.0.1:50054",
    ]
    assert [s.metrics_port_of(n) for n in config.METRICS_SERVICES] == [
        9101,
        9102,
        9103,
        9104,
        9105,
    ]
    assert s.gateway_port == 5000 and s.kitesim_port == 8765
    assert s.trace_exporter is TraceExporter.NONE
    assert s.shutdown_grace_s == 10.0 and s.rpc_timeout_s == 30.0
    assert s.kite_historical_rate == 3.0 and s.history_concurrency == 2
    assert s.history_daily_update_at == time(16, 0)
    assert s.redis_prefix == "mandi" and s.execution_test_fault == ""
    assert s.execution_poll_s == 1.0


def test_load_settings_parses_typed_values() -> None:
    s = load_settings(
        {
            "MANDI_CLOCK": "SIM",
            "MANDI_KITESIM_START": "2024-01-02T09:15:00+05:30",
            "MANDI_KITESIM_SPEED": "60",
            "MANDI_HISTORY_ADDR": "history:6000",
            "MANDI_EXECUTION_ADDR": "[::1]:7000",
            "MANDI_TRACE_EXPORTER": "otlp",
            "MANDI_HISTORY_DAILY_UPDATE_AT": "15:45",
            "MANDI_LOG_LEVEL": "debug",
            "MANDI_REDIS_PREFIX": "stack2",
            "MANDI_EXECUTION_TEST_FAULT": " after_broker_ack ",
            "MANDI_EXECUTION_POLL_S": "0.2",
        }
    )
    assert s.clock is ClockKind.SIM
    # 09:15 IST on 2 Jan 2024 is 03:45 UTC (09:15 - 05:30).
    assert s.kitesim_start == datetime(2024, 1, 2, 9, 15, tzinfo=timezone(timedelta(hours=5,
                                                                                      minutes=30)))
    assert s.kitesim_start == datetime(2024, 1, 2, 3, 45, tzinfo=UTC)
    assert s.kitesim_speed == 60.0
    assert s.addr_of("history") == "history:6000"
    assert s.addr_of("execution") == "[::1]:7000"
    assert s.trace_exporter is TraceExporter.OTLP
    assert s.history_daily_update_at == time(15, 45)
    assert s.log_level == "DEBUG"
    assert s.redis_prefix == "stack2"
    assert s.execution_test_fault == "after_broker_ack"
    assert s.execution_poll_s == 0.2


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("MANDI_GATEWAY_PORT", "abc", "port"),
        ("MANDI_GATEWAY_PORT", "70000", "0-65535"),
        ("MANDI_HISTORY_ADDR", "127.0.0.1:abc", "host:port"),
        ("MANDI_HISTORY_ADDR", "127.0.0.1:99999", "0-65535"),
        ("MANDI_HISTORY_ADDR", "nohost", "host:port"),
        ("MANDI_CLOCK", "lunar", "wall|sim"),
        ("MANDI_TRACE_EXPORTER", "jaeger", "none|console|otlp"),
        ("MANDI_KITESIM_SPEED", "fast", "number"),
        ("MANDI_KITESIM_SPEED", "0", "> 0"),
        ("MANDI_KITESIM_START", "2024-01-02T09:15:00", "offset"),
        ("MANDI_HISTORY_CONCURRENCY", "0", ">= 1"),
        ("MANDI_HISTORY_DAILY_UPDATE_AT", "25:00", "HH:MM"),
        ("MANDI_LOG_LEVEL", "LOUD", "INFO"),
    ],
)
def test_load_settings_when_value_malformed_raises_config_error_naming_it(
    name: str, value: str, expected: str
) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings({name: value})
    assert err.value.field == name
    assert name in err.value.message
    assert repr(value) in err.value.message
    assert expected in err.value.message


def test_secret_never_in_repr_str_or_error() -> None:
    s = load_settings({"MANDI_KITE_API_SECRET": "s3cr3t-value"})
    assert s.kite_api_secret == "s3cr3t-value"
    assert "s3cr3t-value" not in repr(s) and "s3cr3t-value" not in str(s)
    with pytest.raises(ConfigError) as err:
        load_settings({"MANDI_KITE_API_SECRET": "   "})
    assert "MANDI_KITE_API_SECRET" in err.value.message


def test_unknown_mandi_variable_is_warned_not_fatal(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        s = load_settings({"MANDI_GATEWY_PORT": "5001", "PATH": "/bin"})
    assert s.gateway_port == 5000
    assert "MANDI_GATEWY_PORT" in caplog.text
    assert "PATH" not in caplog.text


def test_settings_are_frozen_and_every_field_has_a_parser() -> None:
    with pytest.raises(FrozenInstanceError):
        Settings().pg_dsn = "x"  # type: ignore[misc]
    assert {f.name for f in fields(Settings)} == set(config._PARSERS)


def test_addr_of_unknown_service_is_config_error() -> None:
    with pytest.raises(ConfigError):
        Settings().addr_of("kitesim")
    with pytest.raises(ConfigError):
        Settings().metrics_port_of("nobody")


@pytest.mark.parametrize(
    ("text", "host", "port"),
    [("127.0.0.1:1", "127.0.0.1", 1), ("svc:65535", "svc", 65535), ("[::1]:0", "::1", 0)],
)
def test_parse_host_port_accepts_valid(text: str, host: str, port: int) -> None:
    hp = config.parse_host_port(text)
    assert (hp.host, hp.port) == (host, port)


@pytest.mark.parametrize("text", ["", ":80", "h:", "h:-1", "h:65536", "::1:80", "[::1]80"])
def test_parse_host_port_rejects_invalid(text: str) -> None:
    with pytest.raises(ValueError):
        config.parse_host_port(text)


def test_listen_host_is_the_addr_host_unless_mandi_bind_is_set() -> None:
    s = load_settings({"MANDI_HISTORY_ADDR": "history:6000"})
    assert s.listen_host_of("history") == "history"
    assert s.listen_host_of("strategy") == "127.0.0.1"  # the default: loopback only
    both = load_settings({"MANDI_BIND": " 0.0.0.0 ", "MANDI_HISTORY_ADDR": "history:6000"})
    assert {both.listen_host_of(name) for name in config.GRPC_SERVICES} == {"0.0.0.0"}
    assert load_settings({"MANDI_BIND": "[::]"}).listen_host_of("gateway") == "::"


@pytest.mark.parametrize("text", ["0.0.0.0:5000", "localhost:80", "a b", "10.0.0.0/8", "::1:x"])
def test_mandi_bind_when_not_a_bare_host_names_the_variable(text: str) -> None:
    with pytest.raises(ConfigError, match="MANDI_BIND") as err:
        load_settings({"MANDI_BIND": text})
    assert err.value.field == "MANDI_BIND"


def test_gateway_cors_origins_are_a_list_of_bare_origins() -> None:
    assert Settings().gateway_cors_origins == ()
    s = load_settings({"MANDI_GATEWAY_CORS_ORIGINS": " https://a.test, http://127.0.0.1:3000/ ,"})
    assert s.gateway_cors_origins == ("https://a.test", "http://127.0.0.1:3000")


@pytest.mark.parametrize("text", ["*", "https://*.a.test", "a.test", "https://a.test/app",
                                  "ftp://a.test"])
def test_gateway_cors_origins_refuse_wildcards_paths_and_non_http(text: str) -> None:
    with pytest.raises(ConfigError, match="MANDI_GATEWAY_CORS_ORIGINS"):
        load_settings({"MANDI_GATEWAY_CORS_ORIGINS": text})


def test_strategy_sandbox_max_must_allow_one() -> None:
    assert load_settings({"MANDI_STRATEGY_SANDBOX_MAX": "2"}).strategy_sandbox_max == 2
    with pytest.raises(ConfigError, match="MANDI_STRATEGY_SANDBOX_MAX"):
        load_settings({"MANDI_STRATEGY_SANDBOX_MAX": "0"})


RUN_SERVICE = """
from mandi.platform.grpc_server import ServiceSpec, run_service
run_service(lambda s: ServiceSpec(name="history", register=lambda server: None,
                                  service_names=[]))
"""


def test_run_service_when_env_malformed_exits_2_naming_the_variable() -> None:
    env = {**os.environ, "MANDI_HISTORY_ADDR": "127.0.0.1:abc"}
    result = subprocess.run(
        [sys.executable, "-c", RUN_SERVICE],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "MANDI_HISTORY_ADDR" in result.stderr
    assert "'127.0.0.1:abc'" in result.stderr
    assert "Traceback" not in result.stderr


def test_secret_values_are_the_settings_kept_out_of_repr() -> None:
    s = load_settings({"MANDI_KITE_ACCESS_TOKEN": "tok-abcdefgh",
                       "MANDI_JWT_SECRET": "j" * 40, "MANDI_SERVICE_TOKEN_KEY": "k" * 40})
    secrets = s.secret_values()
    assert {"tok-abcdefgh", "j" * 40, "k" * 40, s.kite_api_secret} <= set(secrets)
    assert "" not in secrets and s.redis_url not in secrets
    assert not any(v in repr(s) for v in secrets)
