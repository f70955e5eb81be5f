"""Async wrapper over the real `kiteconnect.KiteConnect`.

Why a wrapper and not a rewrite: the unmodified client is what users run against Zerodha, and
kitesim is built to satisfy it, so every test exercises the same request encoding production
uses. The client is blocking (python-requests), so each call runs in a small thread pool.

Every exception leaving this module is a `mandi.core.errors` class chosen by what the caller
should do: AuthError / InvalidInput / PermissionDenied are never retried; RateLimited and
TemporaryError are. Messages are scrubbed of the access token and the API secret — kiteconnect
echoes raw response bodies into some exception texts, and a proxy error page could quote the
Authorization header.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, TypeVar

import numpy as np
import requests
from kiteconnect import KiteConnect
from kiteconnect import exceptions as kex
from opentelemetry import trace

from mandi.core.candles import CandleFrame
from mandi.core.clock import IST
from mandi.core.errors import (
    BrokerLoginNeeded,
    InvalidInput,
    MandiError,
    PermissionDenied,
    RateLimited,
    TemporaryError,
)

T = TypeVar("T")

_KITE_DATE_FORMAT = "%Y-%m-%d %H:%M:%S"
DEFAULT_TIMEOUT_S = 7.0


def _scrub(text: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "<redacted>")
    return text


def map_kite_error(exc: BaseException, *, secrets: tuple[str, ...] = ()) -> MandiError:
    """Translate a kiteconnect/requests exception into the platform error tree.

    `secrets` (access token, API secret) are replaced by `<redacted>` in the message.
    """
    if isinstance(exc, MandiError):
        return exc
    raw = str(exc) if str(exc) else type(exc).__name__
    msg = _scrub(raw, secrets)[:500]
    if isinstance(exc, kex.TokenException):
        return BrokerLoginNeeded(f"kite rejected the credentials: {msg}")
    if isinstance(exc, kex.PermissionException):
        return PermissionDenied(f"kite denied permission: {msg}")
    if isinstance(exc, kex.InputException):
        return InvalidInput(f"kite rejected the request: {msg}")
    if isinstance(exc, kex.NetworkException):
        code = getattr(exc, "code", 503)
        if code == 429 or "too many requests" in msg.lower():
            return RateLimited(f"kite rate limit hit (HTTP {code}): {msg}")
        return TemporaryError(f"kite network error (HTTP {code}): {msg}")
    if isinstance(exc, (kex.DataException, kex.GeneralException, kex.OrderException)):
        code = getattr(exc, "code", 500)
        if isinstance(exc, kex.DataException) or code >= 500:
            return TemporaryError(f"kite server error (HTTP {code}): {msg}")
        return InvalidInput(f"kite rejected the request (HTTP {code}): {msg}")
    if isinstance(exc, kex.KiteException):
        return TemporaryError(f"kite error: {msg}")
    if isinstance(exc, requests.exceptions.RequestException):
        return TemporaryError(f"kite unreachable: {type(exc).__name__}: {msg}")
    if isinstance(exc, (KeyError, ValueError, TypeError)):
        # kiteconnect raises these on malformed responses (missing Content-Type, bad CSV).
        return TemporaryError(f"kite sent a malformed response: {type(exc).__name__}: {msg}")
    return TemporaryError(f"kite call failed: {type(exc).__name__}: {msg}")


def kite_time(ts: datetime | date) -> str:
    """A Kite `from`/`to` parameter: naive IST `YYYY-MM-DD HH:MM:SS`.

    kiteconnect strftimes datetimes and drops tzinfo, so a UTC datetime would silently be read
    as IST 5h30m off; convert explicitly.
    """
    if isinstance(ts, datetime):
        if ts.tzinfo is None:
            raise InvalidInput("timestamps must be timezone-aware", field="from")
        return ts.astimezone(IST).strftime(_KITE_DATE_FORMAT)
    return ts.isoformat()


@dataclass(frozen=True)
class KiteSession:
    """The result of a login. `access_token` is kept out of repr so it never reaches logs."""

    user_id: str
    user_name: str
    login_time: datetime | None
    access_token: str = field(repr=False)
    public_token: str = field(default="", repr=False)
    refresh_token: str = field(default="", repr=False)


_tracer = trace.get_tracer("mandi.kite")


class KiteClient:
    """One API key (and, once logged in, one access token) against one Kite root.

    `root` defaults to Kite's production root when None; Mandi passes settings.kite_root, which
    points at kitesim unless configured otherwise.
    """

    def __init__(
        self,
        api_key: str,
        *,
        access_token: str | None = None,
        root: str | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        max_workers: int = 4,
    ) -> None:
        self.api_key = api_key
        self.max_workers = max_workers
        self._kite = KiteConnect(api_key=api_key, access_token=access_token, root=root,
                                 timeout=timeout_s)
        self._access_token = access_token or ""
        self._executor = ThreadPoolExecutor(max_workers=max_workers,
                                            thread_name_prefix="kite")

    def __repr__(self) -> str:
        return f"KiteClient(api_key={self.api_key!r}, root={self._kite.root!r})"

    def set_access_token(self, access_token: str) -> None:
        self._access_token = access_token
        self._kite.set_access_token(access_token)

    async def _call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        # A client span per Kite call (the broker leg of a trace: gateway → execution → Kite);
        # only the method's name goes on it, never its arguments or the answer.
        name = getattr(fn, "__name__", "call")
        loop = asyncio.get_running_loop()
        with _tracer.start_as_current_span(
                f"kite {name}", kind=trace.SpanKind.CLIENT,
                attributes={"peer.service": "kite", "rpc.system": "kiteconnect",
                            "rpc.method": name},
                record_exception=False, set_status_on_exception=False) as span:
            try:
                return await loop.run_in_executor(self._executor,
                                                  functools.partial(fn, *args, **kwargs))
            except Exception as exc:
                err = map_kite_error(exc, secrets=(self._access_token,))
                span.set_status(trace.StatusCode.ERROR, type(err).__name__)
                raise err from None

    async def historical_data(
        self,
        instrument_token: int,
        start: datetime | date,
        end: datetime | date,
        interval: str,
        *,
        continuous: bool = False,
        oi: bool = False,
    ) -> list[dict[str, Any]]:
        """Candles in [start, end] (Kite treats both ends inclusively), as kiteconnect returns
        them: dicts with tz-aware `date` (+05:30), open/high/low/close/volume and `oi`."""
        return await self._call(
            self._kite.historical_data, instrument_token, kite_time(start), kite_time(end),
            interval, continuous=continuous, oi=oi,
        )

    async def historical_candles(
        self,
        instrument_token: int,
        start: datetime | date,
        end: datetime | date,
        interval: str,
        *,
        continuous: bool = False,
        oi: bool = False,
    ) -> CandleFrame:
        """The same request as `historical_data`, through the same client transport (headers,
        auth, error envelope), but the rows are parsed column-wise: kiteconnect parses each
        row's date with dateutil (~0.2 ms a row, 2.5 s for a 60-day chunk of minute bars),
        which made the client, not Kite's 3 req/s, the limit of a fetch."""
        params = {"from": kite_time(start), "to": kite_time(end), "interval": interval,
                  "continuous": 1 if continuous else 0, "oi": 1 if oi else 0}
        data = await self._call(self._kite._get, "market.historical",
                                url_args={"instrument_token": instrument_token,
                                          "interval": interval}, params=params)
        return candles_from_rows(data["candles"])

    async def instruments(self, exchange: str | None = None) -> list[dict[str, Any]]:
        """The instrument dump (all exchanges, or one), parsed by kiteconnect."""
        return await self._call(self._kite.instruments, exchange)

    async def profile(self) -> dict[str, Any]:
        return await self._call(self._kite.profile)

    # --- trading: orders, portfolio, quotes, GTT (used by the execution service) -------------
    # Thin pass-throughs: the execution service converts to paise and its own types. Order
    # placement is never retried here — an ambiguous failure must go to reconciliation.

    @property
    def access_token(self) -> str:
        """The token in use (the order-postback WebSocket authenticates with it too)."""
        return self._access_token

    async def quote(self, instruments: list[str]) -> dict[str, Any]:
        return await self._call(self._kite.quote, instruments)

    async def place_order(self, variety: str, **params: Any) -> str:
        return str(await self._call(self._kite.place_order, variety, **params))

    async def modify_order(self, variety: str, order_id: str, **params: Any) -> str:
        return str(await self._call(self._kite.modify_order, variety, order_id, **params))

    async def cancel_order(self, variety: str, order_id: str) -> str:
        return str(await self._call(self._kite.cancel_order, variety, order_id))

    async def orders(self) -> list[dict[str, Any]]:
        return await self._call(self._kite.orders)

    async def order_history(self, order_id: str) -> list[dict[str, Any]]:
        return await self._call(self._kite.order_history, order_id)

    async def trades(self) -> list[dict[str, Any]]:
        return await self._call(self._kite.trades)

    async def order_trades(self, order_id: str) -> list[dict[str, Any]]:
        return await self._call(self._kite.order_trades, order_id)

    async def positions(self) -> dict[str, Any]:
        return await self._call(self._kite.positions)

    async def holdings(self) -> list[dict[str, Any]]:
        return await self._call(self._kite.holdings)

    async def margins(self) -> dict[str, Any]:
        return await self._call(self._kite.margins)

    async def place_gtt(self, **params: Any) -> dict[str, Any]:
        return await self._call(self._kite.place_gtt, **params)

    async def modify_gtt(self, trigger_id: int, **params: Any) -> dict[str, Any]:
        return await self._call(self._kite.modify_gtt, trigger_id, **params)

    async def delete_gtt(self, trigger_id: int) -> dict[str, Any]:
        return await self._call(self._kite.delete_gtt, trigger_id)

    async def get_gtts(self) -> list[dict[str, Any]]:
        return await self._call(self._kite.get_gtts)

    async def invalidate_access_token(self) -> bool:
        return bool(await self._call(self._kite.invalidate_access_token))

    async def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._kite.reqsession.close()


_IST_SUFFIX = "+0530"
_IST_OFFSET_S = np.timedelta64(19_800, "s")


def candles_from_rows(rows: list[list[Any]]) -> CandleFrame:
    """Kite's raw candle rows `[ts, o, h, l, c, v(, oi)]` as a CandleFrame, vectorised.

    Kite stamps candles `YYYY-MM-DDTHH:MM:SS+0530`; numpy parses the 19-character local part
    in C. Any other offset falls back to the row-wise parser, so nothing is misread."""
    if not rows:
        return CandleFrame.empty()
    stamps = np.array([r[0] for r in rows], dtype="U32")
    if not np.all(np.char.endswith(stamps, _IST_SUFFIX)) or np.any(np.char.str_len(stamps) != 24):
        return CandleFrame.from_kite(rows)
    local = stamps.astype("U19").astype("datetime64[s]")
    ts = (local - _IST_OFFSET_S).astype("datetime64[ms]").astype(np.int64)
    width = max(len(r) for r in rows)
    values = np.array([r[1:6] for r in rows], dtype=np.float64)
    oi = (np.array([r[6] if len(r) > 6 and r[6] is not None else 0 for r in rows],
                   dtype=np.int64) if width > 6 else np.zeros(len(rows), dtype=np.int64))
    return CandleFrame(ts=ts, open=values[:, 0], high=values[:, 1], low=values[:, 2],
                       close=values[:, 3], volume=values[:, 4].astype(np.int64), oi=oi)


def session_checksum(api_key: str, request_token: str, api_secret: str) -> str:
    """Kite's login checksum: hex sha256(api_key + request_token + api_secret)."""
    return hashlib.sha256(f"{api_key}{request_token}{api_secret}".encode()).hexdigest()


async def session_from_request_token(
    api_key: str, api_secret: str, request_token: str, *, root: str | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> KiteSession:
    """Exchange a login `request_token` for an access token (POST /session/token).

    Raises BrokerLoginNeeded (an AuthError) for a used/expired request token or a wrong
    secret; the secret and the request token never appear in the error.
    """
    if not request_token:
        raise InvalidInput("request_token is required", field="request_token")
    kite = KiteConnect(api_key=api_key, root=root, timeout=timeout_s)
    try:
        data = await asyncio.to_thread(kite.generate_session, request_token, api_secret)
    except Exception as exc:
        raise map_kite_error(exc, secrets=(api_secret, request_token)) from None
    finally:
        kite.reqsession.close()
    login_time = data.get("login_time")
    if isinstance(login_time, datetime) and login_time.tzinfo is None:
        login_time = login_time.replace(tzinfo=IST)
    return KiteSession(
        user_id=str(data.get("user_id", "")),
        user_name=str(data.get("user_name", "")),
        login_time=login_time if isinstance(login_time, datetime) else None,
        access_token=str(data["access_token"]),
        public_token=str(data.get("public_token") or ""),
        refresh_token=str(data.get("refresh_token") or ""),
    )
