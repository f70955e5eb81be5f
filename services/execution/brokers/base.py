"""The broker seam: one Protocol, a frozen capabilities record, and the plain values crossing it.

Every venue implements `Broker`. Required methods (the order path and reconciliation need them):

* `place_order`, `modify_order`, `cancel_order`
* `order_room`                             (the broker's own order window, asked before writing)
* `orders`, `order_history`, `order_trades`, `trades`
* `positions`, `holdings`, `margins`
* `quotes`, `instruments`                  (market data: pre-trade checks and paper fills)
* `order_updates`                          (async iterator of order snapshots; push or polled)
* `close`

Optional, guarded by `capabilities`:

* `create_gtt`, `modify_gtt`, `delete_gtt`, `gtts`   (`capabilities.gtt`)
* `logout`, `renew_session`, `check_session`         (`capabilities.session`)

All money crossing the seam is integer paise; statuses use Kite's vocabulary (`OPEN`,
`TRIGGER PENDING`, `COMPLETE`, `CANCELLED`, `REJECTED` and the transient ones), so the ledger's
state machine reads one dialect whichever broker is behind it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

TERMINAL_BROKER_STATUSES = frozenset({"COMPLETE", "CANCELLED", "REJECTED"})


@dataclass(frozen=True)
class Capabilities:
    name: str                      # "kite" | "paper"
    paper: bool                    # True: never touches a real exchange
    gtt: bool = True               # server-side GTT / OCO triggers
    push_updates: bool = False     # order updates are pushed (WebSocket) rather than polled
    session: bool = False          # has a broker session to log out / renew daily
    max_tag_len: int = 20


@dataclass(frozen=True)
class BrokerOrderRequest:
    tag: str
    exchange: str
    tradingsymbol: str
    side: str                      # BUY | SELL
    quantity: int
    order_type: str                # MARKET | LIMIT | SL | SL-M (Kite spelling)
    product: str                   # CNC | MIS | NRML
    price_paise: int = 0
    trigger_price_paise: int = 0
    variety: str = "regular"
    validity: str = "DAY"
    algo_id: str = ""
    market_protection: float = 0   # percent (-1: Kite's auto); MARKET/SL-M need it (Apr 2026)
    validity_ttl: int = 0          # minutes, with validity TTL
    disclosed_quantity: int = 0


@dataclass(frozen=True)
class BrokerOrder:
    broker_order_id: str
    status: str                    # Kite vocabulary
    exchange: str = ""
    tradingsymbol: str = ""
    side: str = ""
    quantity: int = 0
    order_type: str = ""
    product: str = ""
    price_paise: int = 0
    trigger_price_paise: int = 0
    filled_quantity: int = 0
    average_price_paise: int = 0
    status_message: str = ""
    tag: str = ""
    ts: datetime | None = None


@dataclass(frozen=True)
class BrokerTrade:
    broker_trade_id: str
    broker_order_id: str
    exchange: str
    tradingsymbol: str
    product: str
    side: str
    quantity: int
    price_paise: int
    ts: datetime | None = None


@dataclass(frozen=True)
class BrokerPosition:
    exchange: str
    tradingsymbol: str
    product: str
    quantity: int
    average_price_paise: int
    last_price_paise: int = 0
    pnl_paise: int = 0


@dataclass(frozen=True)
class GttLegSpec:
    side: str
    quantity: int
    price_paise: int
    trigger_price_paise: int


@dataclass(frozen=True)
class BrokerGtt:
    broker_gtt_id: str
    exchange: str
    tradingsymbol: str
    type: str                       # single | two-leg
    status: str                     # active | triggered | cancelled | deleted | ...
    legs: tuple[GttLegSpec, ...] = ()
    product: str = ""
    # order ids placed by the trigger, one per leg (empty string where the leg did not fire)
    triggered_order_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class Quote:
    last_paise: int
    bid_paise: int | None = None
    ask_paise: int | None = None
    lower_circuit_paise: int = 0
    upper_circuit_paise: int = 0
    ts: datetime | None = None
    depth: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class Broker(Protocol):
    capabilities: Capabilities

    async def place_order(self, req: BrokerOrderRequest) -> str: ...

    def order_room(self, within_s: float) -> Awaitable[None] | None:
        """A check to await before an order is written: RateLimited unless the broker's own
        order window (Kite's 400 a minute per API key) has a slot within `within_s`; it takes
        nothing. None: this broker has no such window."""

    async def modify_order(self, broker_order_id: str, *, quantity: int | None = None,
                           price_paise: int | None = None,
                           trigger_price_paise: int | None = None,
                           order_type: str | None = None,
                           market_protection: float | None = None) -> None: ...

    async def cancel_order(self, broker_order_id: str) -> None: ...

    async def orders(self) -> list[BrokerOrder]: ...

    async def order_history(self, broker_order_id: str) -> list[BrokerOrder]: ...

    async def order_trades(self, broker_order_id: str) -> list[BrokerTrade]: ...

    async def trades(self) -> list[BrokerTrade]: ...

    async def positions(self) -> list[BrokerPosition]: ...

    async def holdings(self) -> list[dict[str, Any]]: ...

    async def margins(self) -> dict[str, Any]: ...

    async def quotes(self, keys: list[str]) -> dict[str, Quote]: ...

    async def instruments(self, exchange: str) -> list[dict[str, Any]]: ...

    def order_updates(self) -> AsyncIterator[BrokerOrder]: ...

    async def create_gtt(self, *, exchange: str, tradingsymbol: str, product: str,
                         last_price_paise: int, legs: list[GttLegSpec]) -> str: ...

    async def modify_gtt(self, broker_gtt_id: str, *, exchange: str, tradingsymbol: str,
                         product: str, last_price_paise: int,
                         legs: list[GttLegSpec]) -> None: ...

    async def delete_gtt(self, broker_gtt_id: str) -> None: ...

    async def gtts(self) -> list[BrokerGtt]: ...

    async def close(self) -> None: ...


def gtt_type(legs: list[GttLegSpec]) -> str:
    return "two-leg" if len(legs) == 2 else "single"
