"""Request bodies of the trading and dashboard API. Money is rupees (numbers) at the edge and
integer paise inside; unknown fields are rejected so a typo is an error, not a no-op."""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field


class OrderBody(BaseModel):
    """Mandi's order fields plus Kite's own (`variety`, `validity`, `validity_ttl`,
    `disclosed_quantity`, `market_protection`, `tag`). Without a client_order_id the Kite `tag`
    is the idempotency key; without either, the gateway makes one (no retry protection then)."""

    model_config = ConfigDict(extra="forbid")

    account_id: str = Field(min_length=1, max_length=32)
    client_order_id: str | None = Field(None, min_length=1, max_length=64)
    exchange: str
    symbol: str = Field(min_length=1, max_length=64)
    side: str
    quantity: int
    order_type: str = "LIMIT"
    price: Decimal | None = None
    trigger_price: Decimal | None = None
    product: str = "CNC"
    variety: str = "regular"
    validity: str = "DAY"
    allow_duplicate: bool = False
    stop_loss: Decimal | None = None
    target: Decimal | None = None
    trailing_stop_pct: float = 0.0
    strategy_id: str = ""
    market_protection: float = 0.0
    validity_ttl: int = Field(0, ge=0)
    disclosed_quantity: int = Field(0, ge=0)
    tag: str | None = Field(None, min_length=1, max_length=20)


class ModifyBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    account_id: str = Field(min_length=1, max_length=32)
    quantity: int | None = None
    price: Decimal | None = None
    trigger_price: Decimal | None = None
    order_type: str | None = None


class GttLegBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    trigger_price: Decimal
    side: str
    quantity: int
    price: Decimal


class GttBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    account_id: str = Field(min_length=1, max_length=32)
    exchange: str = "NSE"
    symbol: str = Field("", max_length=64)
    product: str = "CNC"
    last_price: Decimal | None = None
    legs: list[GttLegBody] = Field(min_length=1, max_length=2)


class RiskBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    account_id: str = Field(min_length=1, max_length=32)
    # bounded by their proto fields (int64, int32): a larger value was a 500 (the fuzz found it)
    max_order_quantity: int | None = Field(None, ge=0, le=2**63 - 1)
    max_order_value: Decimal | None = None
    max_open_positions: int | None = Field(None, ge=0, le=2**31 - 1)
    max_capital_per_position: Decimal | None = None
    daily_loss_limit: Decimal | None = None
    price_collar_pct: float | None = None
    max_orders_per_second: int | None = Field(None, ge=0, le=2**31 - 1)
    enforce_market_hours: bool | None = None
    algo_id: str | None = None
    max_total_exposure: Decimal | None = None
    square_off_on_loss_limit: bool | None = None


class AccountBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    account_id: str = Field(min_length=1, max_length=32)


class EmergencyBody(BaseModel):
    """Every field optional: the seed's body-less `POST /bot/emergency_stop` stops every
    account; a reset must name its account."""

    model_config = ConfigDict(extra="forbid")

    account_id: str | None = Field(None, min_length=1, max_length=32)
    reason: str = ""
    reset: bool = False
