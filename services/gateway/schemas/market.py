"""Response shapes of the market API (`/api/v1/market/...`), for the OpenAPI document.

Prices are float rupees (market data, not money); times are ISO 8601 in exchange time with an
explicit +05:30 offset.
"""

from __future__ import annotations

from pydantic import BaseModel, Field


class LastPrice(BaseModel):
    last_price: float
    ts: str | None = Field(None, description="time of the last tick, ISO 8601 +05:30")


class LtpResponse(BaseModel):
    ltp: dict[str, LastPrice | None] = Field(
        description="per requested EXCHANGE:SYMBOL; null while no price has arrived yet")
    note: str | None = Field(None, description="why some symbols have no price (only then)")


class CandleOut(BaseModel):
    ts: str = Field(description="candle start, ISO 8601 +05:30")
    open: float
    high: float
    low: float
    close: float
    volume: int
    oi: int


class CandlesResponse(BaseModel):
    candles: list[CandleOut]
