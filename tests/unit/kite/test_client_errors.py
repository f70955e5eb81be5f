"""kiteconnect exceptions become platform errors chosen by what the caller should do, and the
access token / API secret never appear in them."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
import requests
from kiteconnect import exceptions as kex

from mandi.core.errors import (
    AuthError,
    BrokerLoginNeeded,
    InvalidInput,
    PermissionDenied,
    RateLimited,
    TemporaryError,
)
from mandi.kite.client import (
    KiteClient,
    KiteSession,
    kite_time,
    map_kite_error,
    session_checksum,
    session_from_request_token,
)

TOKEN = "acc3ss-t0ken-value"
SECRET = "sup3r-secret-value"


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (kex.TokenException("Incorrect `api_key` or `access_token`.", code=403),
         BrokerLoginNeeded),
        (kex.PermissionException("Insufficient permission", code=403), PermissionDenied),
        (kex.InputException("interval exceeds max limit: 60 days", code=400), InvalidInput),
        (kex.NetworkException("Too many requests", code=429), RateLimited),
        (kex.NetworkException("OMS unreachable", code=503), TemporaryError),
        (kex.DataException("Couldn't parse the JSON response", code=502), TemporaryError),
        (kex.GeneralException("Something went wrong", code=500), TemporaryError),
        (requests.exceptions.ConnectionError("connection refused"), TemporaryError),
        (requests.exceptions.ReadTimeout("read timed out"), TemporaryError),
        (KeyError("content-type"), TemporaryError),
    ],
)
def test_map_kite_error_when_kite_raises_maps_to_caller_action(
    exc: BaseException, expected: type[Exception]
) -> None:
    mapped = map_kite_error(exc)
    assert type(mapped) is expected
    assert isinstance(mapped, AuthError) == (expected is BrokerLoginNeeded)  # never retried


def test_map_kite_error_when_rate_limited_is_retryable_temporary_error() -> None:
    mapped = map_kite_error(kex.NetworkException("Too many requests", code=429))
    assert isinstance(mapped, TemporaryError)
    assert "429" in mapped.message


def test_map_kite_error_when_general_exception_is_4xx_does_not_retry() -> None:
    mapped = map_kite_error(kex.GeneralException("Margin shortfall", code=400))
    assert type(mapped) is InvalidInput


def test_map_kite_error_when_message_quotes_secrets_redacts_them() -> None:
    exc = kex.DataException(f"Unknown Content-Type with response: token k:{TOKEN} {SECRET}")
    mapped = map_kite_error(exc, secrets=(TOKEN, SECRET))
    assert TOKEN not in mapped.message and SECRET not in mapped.message
    assert "<redacted>" in mapped.message


def test_kite_time_when_utc_datetime_sends_naive_ist() -> None:
    assert kite_time(datetime(2024, 1, 2, 3, 45, tzinfo=UTC)) == "2024-01-02 09:15:00"
    assert kite_time(date(2024, 1, 2)) == "2024-01-02"


def test_kite_time_when_naive_datetime_raises_invalid_input() -> None:
    with pytest.raises(InvalidInput):
        kite_time(datetime(2024, 1, 2, 9, 15))


def test_session_and_client_repr_when_printed_hide_tokens() -> None:
    session = KiteSession("AB1234", "A User", None, access_token=TOKEN, public_token="pub")
    client = KiteClient("key", access_token=TOKEN, root="http://127.0.0.1:9")
    assert TOKEN not in repr(session) and TOKEN not in repr(client)


def test_session_checksum_when_computed_matches_kite_formula() -> None:
    import hashlib

    assert session_checksum("k", "rt", "s") == hashlib.sha256(b"krts").hexdigest()


async def test_historical_data_when_server_unreachable_raises_temporary_error() -> None:
    client = KiteClient("key", access_token=TOKEN, root="http://127.0.0.1:9", timeout_s=1)
    try:
        with pytest.raises(TemporaryError) as err:
            await client.historical_data(256265, datetime(2024, 1, 1, tzinfo=UTC),
                                         datetime(2024, 1, 2, tzinfo=UTC), "day")
        assert TOKEN not in err.value.message
    finally:
        await client.close()


async def test_session_from_request_token_when_empty_token_raises_naming_field() -> None:
    with pytest.raises(InvalidInput) as err:
        await session_from_request_token("key", SECRET, "", root="http://127.0.0.1:9")
    assert err.value.field == "request_token"
