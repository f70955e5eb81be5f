"""Body of `POST /api/v1/bots/{id}/signals`: a signal for an external bot. Unknown fields are
refused; the strategy service checks the rest (symbol, exactly one of quantity and
target_weight, staleness) and names the field."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

EPOCH_MAX = 4_102_444_800  # 2100-01-01 UTC


class SignalBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=64)
    symbol: str = Field(min_length=1, max_length=64)  # "NSE:INFY"
    side: Literal["BUY", "SELL", "buy", "sell"]
    quantity: int | None = Field(None, gt=0, le=2**31 - 1)
    target_weight: Decimal | None = Field(None, ge=0, le=1)
    # ISO 8601 (an offset, or IST when none), or epoch seconds
    ts: str | Annotated[float, Field(ge=0, le=EPOCH_MAX)]
