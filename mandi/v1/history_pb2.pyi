import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from mandi.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class FileFormat(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FILE_FORMAT_UNSPECIFIED: _ClassVar[FileFormat]
    FILE_FORMAT_CSV: _ClassVar[FileFormat]
    FILE_FORMAT_EXCEL: _ClassVar[FileFormat]
    FILE_FORMAT_JSON: _ClassVar[FileFormat]
    FILE_FORMAT_PARQUET: _ClassVar[FileFormat]
    FILE_FORMAT_HDF5: _ClassVar[FileFormat]
FILE_FORMAT_UNSPECIFIED: FileFormat
FILE_FORMAT_CSV: FileFormat
FILE_FORMAT_EXCEL: FileFormat
FILE_FORMAT_JSON: FileFormat
FILE_FORMAT_PARQUET: FileFormat
FILE_FORMAT_HDF5: FileFormat

class FetchOptions(_message.Message):
    __slots__ = ("validate", "overwrite", "incremental", "oi", "continuous")
    VALIDATE_FIELD_NUMBER: _ClassVar[int]
    OVERWRITE_FIELD_NUMBER: _ClassVar[int]
    INCREMENTAL_FIELD_NUMBER: _ClassVar[int]
    OI_FIELD_NUMBER: _ClassVar[int]
    CONTINUOUS_FIELD_NUMBER: _ClassVar[int]
    validate: bool
    overwrite: bool
    incremental: bool
    oi: bool
    continuous: bool
    def __init__(self, validate: _Optional[bool] = ..., overwrite: _Optional[bool] = ..., incremental: _Optional[bool] = ..., oi: _Optional[bool] = ..., continuous: _Optional[bool] = ...) -> None: ...

class FetchRequest(_message.Message):
    __slots__ = ("instrument", "interval", "to", "options", "account_id")
    INSTRUMENT_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_FIELD_NUMBER: _ClassVar[int]
    FROM_FIELD_NUMBER: _ClassVar[int]
    TO_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    instrument: _common_pb2.InstrumentRef
    interval: str
    to: _timestamp_pb2.Timestamp
    options: FetchOptions
    account_id: str
    def __init__(self, instrument: _Optional[_Union[_common_pb2.InstrumentRef, _Mapping]] = ..., interval: _Optional[str] = ..., to: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., options: _Optional[_Union[FetchOptions, _Mapping]] = ..., account_id: _Optional[str] = ..., **kwargs) -> None: ...

class ValidationIssue(_message.Message):
    __slots__ = ("reason", "count")
    REASON_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    reason: str
    count: int
    def __init__(self, reason: _Optional[str] = ..., count: _Optional[int] = ...) -> None: ...

class FetchSummary(_message.Message):
    __slots__ = ("records", "rows_fetched", "rows_invalid", "issues", "requests", "first_ts", "last_ts", "instrument")
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    ROWS_FETCHED_FIELD_NUMBER: _ClassVar[int]
    ROWS_INVALID_FIELD_NUMBER: _ClassVar[int]
    ISSUES_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    FIRST_TS_FIELD_NUMBER: _ClassVar[int]
    LAST_TS_FIELD_NUMBER: _ClassVar[int]
    INSTRUMENT_FIELD_NUMBER: _ClassVar[int]
    records: int
    rows_fetched: int
    rows_invalid: int
    issues: _containers.RepeatedCompositeFieldContainer[ValidationIssue]
    requests: int
    first_ts: _timestamp_pb2.Timestamp
    last_ts: _timestamp_pb2.Timestamp
    instrument: _common_pb2.Instrument
    def __init__(self, records: _Optional[int] = ..., rows_fetched: _Optional[int] = ..., rows_invalid: _Optional[int] = ..., issues: _Optional[_Iterable[_Union[ValidationIssue, _Mapping]]] = ..., requests: _Optional[int] = ..., first_ts: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_ts: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., instrument: _Optional[_Union[_common_pb2.Instrument, _Mapping]] = ...) -> None: ...

class FetchProgress(_message.Message):
    __slots__ = ("requests_done", "requests_total", "rows_stored", "eta_seconds", "done", "summary")
    REQUESTS_DONE_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_TOTAL_FIELD_NUMBER: _ClassVar[int]
    ROWS_STORED_FIELD_NUMBER: _ClassVar[int]
    ETA_SECONDS_FIELD_NUMBER: _ClassVar[int]
    DONE_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    requests_done: int
    requests_total: int
    rows_stored: int
    eta_seconds: float
    done: bool
    summary: FetchSummary
    def __init__(self, requests_done: _Optional[int] = ..., requests_total: _Optional[int] = ..., rows_stored: _Optional[int] = ..., eta_seconds: _Optional[float] = ..., done: _Optional[bool] = ..., summary: _Optional[_Union[FetchSummary, _Mapping]] = ...) -> None: ...

class BatchItem(_message.Message):
    __slots__ = ("instrument", "interval", "to", "options")
    INSTRUMENT_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_FIELD_NUMBER: _ClassVar[int]
    FROM_FIELD_NUMBER: _ClassVar[int]
    TO_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    instrument: _common_pb2.InstrumentRef
    interval: str
    to: _timestamp_pb2.Timestamp
    options: FetchOptions
    def __init__(self, instrument: _Optional[_Union[_common_pb2.InstrumentRef, _Mapping]] = ..., interval: _Optional[str] = ..., to: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., options: _Optional[_Union[FetchOptions, _Mapping]] = ..., **kwargs) -> None: ...

class FetchBatchRequest(_message.Message):
    __slots__ = ("items", "to", "options", "account_id")
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    FROM_FIELD_NUMBER: _ClassVar[int]
    TO_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[BatchItem]
    to: _timestamp_pb2.Timestamp
    options: FetchOptions
    account_id: str
    def __init__(self, items: _Optional[_Iterable[_Union[BatchItem, _Mapping]]] = ..., to: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., options: _Optional[_Union[FetchOptions, _Mapping]] = ..., account_id: _Optional[str] = ..., **kwargs) -> None: ...

class JobItemStatus(_message.Message):
    __slots__ = ("exchange", "tradingsymbol", "interval", "state", "requests_done", "requests_total", "rows_stored", "rows_invalid", "error", "to", "started_at", "finished_at")
    EXCHANGE_FIELD_NUMBER: _ClassVar[int]
    TRADINGSYMBOL_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_DONE_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_TOTAL_FIELD_NUMBER: _ClassVar[int]
    ROWS_STORED_FIELD_NUMBER: _ClassVar[int]
    ROWS_INVALID_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    FROM_FIELD_NUMBER: _ClassVar[int]
    TO_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    FINISHED_AT_FIELD_NUMBER: _ClassVar[int]
    exchange: str
    tradingsymbol: str
    interval: str
    state: _common_pb2.JobState
    requests_done: int
    requests_total: int
    rows_stored: int
    rows_invalid: int
    error: str
    to: _timestamp_pb2.Timestamp
    started_at: _timestamp_pb2.Timestamp
    finished_at: _timestamp_pb2.Timestamp
    def __init__(self, exchange: _Optional[str] = ..., tradingsymbol: _Optional[str] = ..., interval: _Optional[str] = ..., state: _Optional[_Union[_common_pb2.JobState, str]] = ..., requests_done: _Optional[int] = ..., requests_total: _Optional[int] = ..., rows_stored: _Optional[int] = ..., rows_invalid: _Optional[int] = ..., error: _Optional[str] = ..., to: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., started_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., finished_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., **kwargs) -> None: ...

class Job(_message.Message):
    __slots__ = ("id", "kind", "state", "created_at", "started_at", "finished_at", "requests_done", "requests_total", "rows_stored", "errors", "eta_seconds", "items", "error", "account_id")
    ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    FINISHED_AT_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_DONE_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_TOTAL_FIELD_NUMBER: _ClassVar[int]
    ROWS_STORED_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    ETA_SECONDS_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    kind: str
    state: _common_pb2.JobState
    created_at: _timestamp_pb2.Timestamp
    started_at: _timestamp_pb2.Timestamp
    finished_at: _timestamp_pb2.Timestamp
    requests_done: int
    requests_total: int
    rows_stored: int
    errors: int
    eta_seconds: float
    items: _containers.RepeatedCompositeFieldContainer[JobItemStatus]
    error: str
    account_id: str
    def __init__(self, id: _Optional[str] = ..., kind: _Optional[str] = ..., state: _Optional[_Union[_common_pb2.JobState, str]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., started_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., finished_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., requests_done: _Optional[int] = ..., requests_total: _Optional[int] = ..., rows_stored: _Optional[int] = ..., errors: _Optional[int] = ..., eta_seconds: _Optional[float] = ..., items: _Optional[_Iterable[_Union[JobItemStatus, _Mapping]]] = ..., error: _Optional[str] = ..., account_id: _Optional[str] = ...) -> None: ...

class FetchBatchResponse(_message.Message):
    __slots__ = ("job",)
    JOB_FIELD_NUMBER: _ClassVar[int]
    job: Job
    def __init__(self, job: _Optional[_Union[Job, _Mapping]] = ...) -> None: ...

class GetJobRequest(_message.Message):
    __slots__ = ("job_id", "account_id")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    account_id: str
    def __init__(self, job_id: _Optional[str] = ..., account_id: _Optional[str] = ...) -> None: ...

class GetJobResponse(_message.Message):
    __slots__ = ("job",)
    JOB_FIELD_NUMBER: _ClassVar[int]
    job: Job
    def __init__(self, job: _Optional[_Union[Job, _Mapping]] = ...) -> None: ...

class ListJobsRequest(_message.Message):
    __slots__ = ("account_id", "page", "state")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    page: _common_pb2.PageRequest
    state: _common_pb2.JobState
    def __init__(self, account_id: _Optional[str] = ..., page: _Optional[_Union[_common_pb2.PageRequest, _Mapping]] = ..., state: _Optional[_Union[_common_pb2.JobState, str]] = ...) -> None: ...

class ListJobsResponse(_message.Message):
    __slots__ = ("jobs", "page")
    JOBS_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    jobs: _containers.RepeatedCompositeFieldContainer[Job]
    page: _common_pb2.PageResponse
    def __init__(self, jobs: _Optional[_Iterable[_Union[Job, _Mapping]]] = ..., page: _Optional[_Union[_common_pb2.PageResponse, _Mapping]] = ...) -> None: ...

class CancelJobRequest(_message.Message):
    __slots__ = ("job_id", "account_id")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    account_id: str
    def __init__(self, job_id: _Optional[str] = ..., account_id: _Optional[str] = ...) -> None: ...

class CancelJobResponse(_message.Message):
    __slots__ = ("job",)
    JOB_FIELD_NUMBER: _ClassVar[int]
    job: Job
    def __init__(self, job: _Optional[_Union[Job, _Mapping]] = ...) -> None: ...

class GetCandlesRequest(_message.Message):
    __slots__ = ("instrument", "interval", "to", "resample_to", "batch_size")
    INSTRUMENT_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_FIELD_NUMBER: _ClassVar[int]
    FROM_FIELD_NUMBER: _ClassVar[int]
    TO_FIELD_NUMBER: _ClassVar[int]
    RESAMPLE_TO_FIELD_NUMBER: _ClassVar[int]
    BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    instrument: _common_pb2.InstrumentRef
    interval: str
    to: _timestamp_pb2.Timestamp
    resample_to: str
    batch_size: int
    def __init__(self, instrument: _Optional[_Union[_common_pb2.InstrumentRef, _Mapping]] = ..., interval: _Optional[str] = ..., to: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., resample_to: _Optional[str] = ..., batch_size: _Optional[int] = ..., **kwargs) -> None: ...

class GetCandlesResponse(_message.Message):
    __slots__ = ("batch", "instrument")
    BATCH_FIELD_NUMBER: _ClassVar[int]
    INSTRUMENT_FIELD_NUMBER: _ClassVar[int]
    batch: _common_pb2.CandleBatch
    instrument: _common_pb2.Instrument
    def __init__(self, batch: _Optional[_Union[_common_pb2.CandleBatch, _Mapping]] = ..., instrument: _Optional[_Union[_common_pb2.Instrument, _Mapping]] = ...) -> None: ...

class MissingRange(_message.Message):
    __slots__ = ("to", "missing_bars")
    FROM_FIELD_NUMBER: _ClassVar[int]
    TO_FIELD_NUMBER: _ClassVar[int]
    MISSING_BARS_FIELD_NUMBER: _ClassVar[int]
    to: _timestamp_pb2.Timestamp
    missing_bars: int
    def __init__(self, to: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., missing_bars: _Optional[int] = ..., **kwargs) -> None: ...

class GetCoverageRequest(_message.Message):
    __slots__ = ("instrument", "interval", "to")
    INSTRUMENT_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_FIELD_NUMBER: _ClassVar[int]
    FROM_FIELD_NUMBER: _ClassVar[int]
    TO_FIELD_NUMBER: _ClassVar[int]
    instrument: _common_pb2.InstrumentRef
    interval: str
    to: _timestamp_pb2.Timestamp
    def __init__(self, instrument: _Optional[_Union[_common_pb2.InstrumentRef, _Mapping]] = ..., interval: _Optional[str] = ..., to: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., **kwargs) -> None: ...

class GetCoverageResponse(_message.Message):
    __slots__ = ("instrument", "interval", "first_ts", "last_ts", "bars", "expected_bars", "sessions", "missing_sessions", "missing_dates", "missing", "completeness")
    INSTRUMENT_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_FIELD_NUMBER: _ClassVar[int]
    FIRST_TS_FIELD_NUMBER: _ClassVar[int]
    LAST_TS_FIELD_NUMBER: _ClassVar[int]
    BARS_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_BARS_FIELD_NUMBER: _ClassVar[int]
    SESSIONS_FIELD_NUMBER: _ClassVar[int]
    MISSING_SESSIONS_FIELD_NUMBER: _ClassVar[int]
    MISSING_DATES_FIELD_NUMBER: _ClassVar[int]
    MISSING_FIELD_NUMBER: _ClassVar[int]
    COMPLETENESS_FIELD_NUMBER: _ClassVar[int]
    instrument: _common_pb2.Instrument
    interval: str
    first_ts: _timestamp_pb2.Timestamp
    last_ts: _timestamp_pb2.Timestamp
    bars: int
    expected_bars: int
    sessions: int
    missing_sessions: int
    missing_dates: _containers.RepeatedScalarFieldContainer[str]
    missing: _containers.RepeatedCompositeFieldContainer[MissingRange]
    completeness: float
    def __init__(self, instrument: _Optional[_Union[_common_pb2.Instrument, _Mapping]] = ..., interval: _Optional[str] = ..., first_ts: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_ts: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., bars: _Optional[int] = ..., expected_bars: _Optional[int] = ..., sessions: _Optional[int] = ..., missing_sessions: _Optional[int] = ..., missing_dates: _Optional[_Iterable[str]] = ..., missing: _Optional[_Iterable[_Union[MissingRange, _Mapping]]] = ..., completeness: _Optional[float] = ...) -> None: ...

class ListInstrumentsRequest(_message.Message):
    __slots__ = ("exchange", "limit", "force_refresh", "underlying", "expiry", "strike_paise", "instrument_type", "include_expired", "page")
    EXCHANGE_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    FORCE_REFRESH_FIELD_NUMBER: _ClassVar[int]
    UNDERLYING_FIELD_NUMBER: _ClassVar[int]
    EXPIRY_FIELD_NUMBER: _ClassVar[int]
    STRIKE_PAISE_FIELD_NUMBER: _ClassVar[int]
    INSTRUMENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_EXPIRED_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    exchange: _common_pb2.Exchange
    limit: int
    force_refresh: bool
    underlying: str
    expiry: str
    strike_paise: int
    instrument_type: _common_pb2.InstrumentType
    include_expired: bool
    page: _common_pb2.PageRequest
    def __init__(self, exchange: _Optional[_Union[_common_pb2.Exchange, str]] = ..., limit: _Optional[int] = ..., force_refresh: _Optional[bool] = ..., underlying: _Optional[str] = ..., expiry: _Optional[str] = ..., strike_paise: _Optional[int] = ..., instrument_type: _Optional[_Union[_common_pb2.InstrumentType, str]] = ..., include_expired: _Optional[bool] = ..., page: _Optional[_Union[_common_pb2.PageRequest, _Mapping]] = ...) -> None: ...

class ListInstrumentsResponse(_message.Message):
    __slots__ = ("instruments", "page", "refreshed_at")
    INSTRUMENTS_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    REFRESHED_AT_FIELD_NUMBER: _ClassVar[int]
    instruments: _containers.RepeatedCompositeFieldContainer[_common_pb2.Instrument]
    page: _common_pb2.PageResponse
    refreshed_at: _timestamp_pb2.Timestamp
    def __init__(self, instruments: _Optional[_Iterable[_Union[_common_pb2.Instrument, _Mapping]]] = ..., page: _Optional[_Union[_common_pb2.PageResponse, _Mapping]] = ..., refreshed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class LookupInstrumentRequest(_message.Message):
    __slots__ = ("symbol",)
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    symbol: _common_pb2.SymbolRef
    def __init__(self, symbol: _Optional[_Union[_common_pb2.SymbolRef, _Mapping]] = ...) -> None: ...

class LookupInstrumentResponse(_message.Message):
    __slots__ = ("instrument",)
    INSTRUMENT_FIELD_NUMBER: _ClassVar[int]
    instrument: _common_pb2.Instrument
    def __init__(self, instrument: _Optional[_Union[_common_pb2.Instrument, _Mapping]] = ...) -> None: ...

class SearchInstrumentsRequest(_message.Message):
    __slots__ = ("query", "exchange", "limit")
    QUERY_FIELD_NUMBER: _ClassVar[int]
    EXCHANGE_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    query: str
    exchange: _common_pb2.Exchange
    limit: int
    def __init__(self, query: _Optional[str] = ..., exchange: _Optional[_Union[_common_pb2.Exchange, str]] = ..., limit: _Optional[int] = ...) -> None: ...

class SearchInstrumentsResponse(_message.Message):
    __slots__ = ("instruments",)
    INSTRUMENTS_FIELD_NUMBER: _ClassVar[int]
    instruments: _containers.RepeatedCompositeFieldContainer[_common_pb2.Instrument]
    def __init__(self, instruments: _Optional[_Iterable[_Union[_common_pb2.Instrument, _Mapping]]] = ...) -> None: ...

class ImportSymbolsRequest(_message.Message):
    __slots__ = ("csv", "default_exchange", "interval", "to", "options", "account_id")
    CSV_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_EXCHANGE_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_FIELD_NUMBER: _ClassVar[int]
    FROM_FIELD_NUMBER: _ClassVar[int]
    TO_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    csv: bytes
    default_exchange: _common_pb2.Exchange
    interval: str
    to: _timestamp_pb2.Timestamp
    options: FetchOptions
    account_id: str
    def __init__(self, csv: _Optional[bytes] = ..., default_exchange: _Optional[_Union[_common_pb2.Exchange, str]] = ..., interval: _Optional[str] = ..., to: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., options: _Optional[_Union[FetchOptions, _Mapping]] = ..., account_id: _Optional[str] = ..., **kwargs) -> None: ...

class RejectedLine(_message.Message):
    __slots__ = ("line", "text", "reason")
    LINE_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    line: int
    text: str
    reason: str
    def __init__(self, line: _Optional[int] = ..., text: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class ImportSymbolsResponse(_message.Message):
    __slots__ = ("job", "accepted", "rejected")
    JOB_FIELD_NUMBER: _ClassVar[int]
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    REJECTED_FIELD_NUMBER: _ClassVar[int]
    job: Job
    accepted: int
    rejected: _containers.RepeatedCompositeFieldContainer[RejectedLine]
    def __init__(self, job: _Optional[_Union[Job, _Mapping]] = ..., accepted: _Optional[int] = ..., rejected: _Optional[_Iterable[_Union[RejectedLine, _Mapping]]] = ...) -> None: ...

class ImportCandlesRequest(_message.Message):
    __slots__ = ("instrument", "interval", "format", "data", "options")
    INSTRUMENT_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    instrument: _common_pb2.InstrumentRef
    interval: str
    format: FileFormat
    data: bytes
    options: FetchOptions
    def __init__(self, instrument: _Optional[_Union[_common_pb2.InstrumentRef, _Mapping]] = ..., interval: _Optional[str] = ..., format: _Optional[_Union[FileFormat, str]] = ..., data: _Optional[bytes] = ..., options: _Optional[_Union[FetchOptions, _Mapping]] = ...) -> None: ...

class ImportCandlesResponse(_message.Message):
    __slots__ = ("records", "rows_invalid", "issues")
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    ROWS_INVALID_FIELD_NUMBER: _ClassVar[int]
    ISSUES_FIELD_NUMBER: _ClassVar[int]
    records: int
    rows_invalid: int
    issues: _containers.RepeatedCompositeFieldContainer[ValidationIssue]
    def __init__(self, records: _Optional[int] = ..., rows_invalid: _Optional[int] = ..., issues: _Optional[_Iterable[_Union[ValidationIssue, _Mapping]]] = ...) -> None: ...

class Hdf5Override(_message.Message):
    __slots__ = ("key", "exchange", "tradingsymbol", "interval", "skip")
    KEY_FIELD_NUMBER: _ClassVar[int]
    EXCHANGE_FIELD_NUMBER: _ClassVar[int]
    TRADINGSYMBOL_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_FIELD_NUMBER: _ClassVar[int]
    SKIP_FIELD_NUMBER: _ClassVar[int]
    key: str
    exchange: str
    tradingsymbol: str
    interval: str
    skip: bool
    def __init__(self, key: _Optional[str] = ..., exchange: _Optional[str] = ..., tradingsymbol: _Optional[str] = ..., interval: _Optional[str] = ..., skip: _Optional[bool] = ...) -> None: ...

class ImportHdf5Chunk(_message.Message):
    __slots__ = ("data", "segment", "overrides", "dry_run", "overwrite", "filename")
    DATA_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_FIELD_NUMBER: _ClassVar[int]
    OVERRIDES_FIELD_NUMBER: _ClassVar[int]
    DRY_RUN_FIELD_NUMBER: _ClassVar[int]
    OVERWRITE_FIELD_NUMBER: _ClassVar[int]
    FILENAME_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    segment: str
    overrides: _containers.RepeatedCompositeFieldContainer[Hdf5Override]
    dry_run: bool
    overwrite: bool
    filename: str
    def __init__(self, data: _Optional[bytes] = ..., segment: _Optional[str] = ..., overrides: _Optional[_Iterable[_Union[Hdf5Override, _Mapping]]] = ..., dry_run: _Optional[bool] = ..., overwrite: _Optional[bool] = ..., filename: _Optional[str] = ...) -> None: ...

class Hdf5Dataset(_message.Message):
    __slots__ = ("key", "layout", "exchange", "tradingsymbol", "interval", "rows", "imported", "skipped", "skipped_reasons", "error", "notes")
    KEY_FIELD_NUMBER: _ClassVar[int]
    LAYOUT_FIELD_NUMBER: _ClassVar[int]
    EXCHANGE_FIELD_NUMBER: _ClassVar[int]
    TRADINGSYMBOL_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    IMPORTED_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_REASONS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    NOTES_FIELD_NUMBER: _ClassVar[int]
    key: str
    layout: str
    exchange: str
    tradingsymbol: str
    interval: str
    rows: int
    imported: int
    skipped: int
    skipped_reasons: _containers.RepeatedCompositeFieldContainer[ValidationIssue]
    error: str
    notes: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, key: _Optional[str] = ..., layout: _Optional[str] = ..., exchange: _Optional[str] = ..., tradingsymbol: _Optional[str] = ..., interval: _Optional[str] = ..., rows: _Optional[int] = ..., imported: _Optional[int] = ..., skipped: _Optional[int] = ..., skipped_reasons: _Optional[_Iterable[_Union[ValidationIssue, _Mapping]]] = ..., error: _Optional[str] = ..., notes: _Optional[_Iterable[str]] = ...) -> None: ...

class ImportHdf5Response(_message.Message):
    __slots__ = ("filename", "segment", "dry_run", "datasets", "rows_imported")
    FILENAME_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_FIELD_NUMBER: _ClassVar[int]
    DRY_RUN_FIELD_NUMBER: _ClassVar[int]
    DATASETS_FIELD_NUMBER: _ClassVar[int]
    ROWS_IMPORTED_FIELD_NUMBER: _ClassVar[int]
    filename: str
    segment: str
    dry_run: bool
    datasets: _containers.RepeatedCompositeFieldContainer[Hdf5Dataset]
    rows_imported: int
    def __init__(self, filename: _Optional[str] = ..., segment: _Optional[str] = ..., dry_run: _Optional[bool] = ..., datasets: _Optional[_Iterable[_Union[Hdf5Dataset, _Mapping]]] = ..., rows_imported: _Optional[int] = ...) -> None: ...

class ExportRequest(_message.Message):
    __slots__ = ("instrument", "interval", "to", "format")
    INSTRUMENT_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_FIELD_NUMBER: _ClassVar[int]
    FROM_FIELD_NUMBER: _ClassVar[int]
    TO_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    instrument: _common_pb2.InstrumentRef
    interval: str
    to: _timestamp_pb2.Timestamp
    format: FileFormat
    def __init__(self, instrument: _Optional[_Union[_common_pb2.InstrumentRef, _Mapping]] = ..., interval: _Optional[str] = ..., to: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., format: _Optional[_Union[FileFormat, str]] = ..., **kwargs) -> None: ...

class ExportChunk(_message.Message):
    __slots__ = ("data", "filename", "content_type", "rows")
    DATA_FIELD_NUMBER: _ClassVar[int]
    FILENAME_FIELD_NUMBER: _ClassVar[int]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    filename: str
    content_type: str
    rows: int
    def __init__(self, data: _Optional[bytes] = ..., filename: _Optional[str] = ..., content_type: _Optional[str] = ..., rows: _Optional[int] = ...) -> None: ...

class DeleteDataRequest(_message.Message):
    __slots__ = ("instrument", "interval", "to")
    INSTRUMENT_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_FIELD_NUMBER: _ClassVar[int]
    FROM_FIELD_NUMBER: _ClassVar[int]
    TO_FIELD_NUMBER: _ClassVar[int]
    instrument: _common_pb2.InstrumentRef
    interval: str
    to: _timestamp_pb2.Timestamp
    def __init__(self, instrument: _Optional[_Union[_common_pb2.InstrumentRef, _Mapping]] = ..., interval: _Optional[str] = ..., to: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., **kwargs) -> None: ...

class DeleteDataResponse(_message.Message):
    __slots__ = ("deleted",)
    DELETED_FIELD_NUMBER: _ClassVar[int]
    deleted: int
    def __init__(self, deleted: _Optional[int] = ...) -> None: ...

class DatasetInfo(_message.Message):
    __slots__ = ("exchange", "tradingsymbol", "interval", "rows", "first_ts", "last_ts")
    EXCHANGE_FIELD_NUMBER: _ClassVar[int]
    TRADINGSYMBOL_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    FIRST_TS_FIELD_NUMBER: _ClassVar[int]
    LAST_TS_FIELD_NUMBER: _ClassVar[int]
    exchange: str
    tradingsymbol: str
    interval: str
    rows: int
    first_ts: _timestamp_pb2.Timestamp
    last_ts: _timestamp_pb2.Timestamp
    def __init__(self, exchange: _Optional[str] = ..., tradingsymbol: _Optional[str] = ..., interval: _Optional[str] = ..., rows: _Optional[int] = ..., first_ts: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_ts: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class DatabaseInfoRequest(_message.Message):
    __slots__ = ("segment",)
    SEGMENT_FIELD_NUMBER: _ClassVar[int]
    segment: _common_pb2.Segment
    def __init__(self, segment: _Optional[_Union[_common_pb2.Segment, str]] = ...) -> None: ...

class DatabaseInfoResponse(_message.Message):
    __slots__ = ("segment", "size_bytes", "exchanges", "datasets", "rows", "dataset_list", "storage_engine")
    SEGMENT_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    EXCHANGES_FIELD_NUMBER: _ClassVar[int]
    DATASETS_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    DATASET_LIST_FIELD_NUMBER: _ClassVar[int]
    STORAGE_ENGINE_FIELD_NUMBER: _ClassVar[int]
    segment: _common_pb2.Segment
    size_bytes: int
    exchanges: _containers.RepeatedScalarFieldContainer[str]
    datasets: int
    rows: int
    dataset_list: _containers.RepeatedCompositeFieldContainer[DatasetInfo]
    storage_engine: str
    def __init__(self, segment: _Optional[_Union[_common_pb2.Segment, str]] = ..., size_bytes: _Optional[int] = ..., exchanges: _Optional[_Iterable[str]] = ..., datasets: _Optional[int] = ..., rows: _Optional[int] = ..., dataset_list: _Optional[_Iterable[_Union[DatasetInfo, _Mapping]]] = ..., storage_engine: _Optional[str] = ...) -> None: ...

class WriteCandlesRequest(_message.Message):
    __slots__ = ("instrument_token", "interval", "candles", "overwrite", "source")
    INSTRUMENT_TOKEN_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_FIELD_NUMBER: _ClassVar[int]
    CANDLES_FIELD_NUMBER: _ClassVar[int]
    OVERWRITE_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    instrument_token: int
    interval: str
    candles: _containers.RepeatedCompositeFieldContainer[_common_pb2.Candle]
    overwrite: bool
    source: str
    def __init__(self, instrument_token: _Optional[int] = ..., interval: _Optional[str] = ..., candles: _Optional[_Iterable[_Union[_common_pb2.Candle, _Mapping]]] = ..., overwrite: _Optional[bool] = ..., source: _Optional[str] = ...) -> None: ...

class WriteCandlesResponse(_message.Message):
    __slots__ = ("written", "rows_invalid")
    WRITTEN_FIELD_NUMBER: _ClassVar[int]
    ROWS_INVALID_FIELD_NUMBER: _ClassVar[int]
    written: int
    rows_invalid: int
    def __init__(self, written: _Optional[int] = ..., rows_invalid: _Optional[int] = ...) -> None: ...
