"""Request bodies of the data API. Field names are those of the original data-fetcher API, so
existing scripts keep working; unknown fields are rejected so a typo is an error, not a no-op."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class FetchBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    symbol: str = Field(min_length=1, max_length=64)
    exchange: str | None = None  # equity: auto-detected (NSE, then BSE) when absent
    from_date: str
    to_date: str
    interval: str = "day"
    validate_: bool = Field(True, alias="validate")
    overwrite: bool = False
    incremental: bool = True
    oi: bool = False
    continuous: bool = False
    async_: bool = Field(False, alias="async")  # True → queue a job, answer 202 with job_id
    confirm: bool = False  # needed above MANDI_GATEWAY_FETCH_CONFIRM_CALLS (fetch_budget.py)


class BatchItemBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    segment: str = "EQUITY"
    exchange: str | None = None
    symbol: str = Field(min_length=1, max_length=64)
    from_date: str
    to_date: str
    interval: str = "day"
    validate_: bool = Field(True, alias="validate")
    overwrite: bool = False
    incremental: bool = True


class BatchBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    requests: list[BatchItemBody] = Field(max_length=5000)  # the history job's own limit
    async_: bool = Field(False, alias="async")
    confirm: bool = False  # needed above MANDI_GATEWAY_FETCH_CONFIRM_CALLS (fetch_budget.py)
