import os
from collections.abc import Callable, Mapping
from datetime import datetime
from types import TracebackType
from typing import IO, Any, Literal, Optional, Union, final

__all__ = [
    "ERROR_CODES",
    "ERROR_FAMILIES",
    "ROW_ERROR_CODES",
    "Download",
    "FileContentError",
    "IngestError",
    "Ingestor",
    "InvalidRequestError",
    "JobError",
    "JobStateError",
    "JobStatus",
    "NotFoundError",
    "RowError",
    "Schema",
    "SchemaError",
    "SinkBatch",
    "StorageError",
    "UploadedFile",
    "UploadError",
    "UploadTicket",
    "Validation",
    "validate",
]

_ErrorCode = Literal[
    "INVALID_REQUEST",
    "UNAUTHORIZED",
    "UNSUPPORTED_MEDIA_TYPE",
    "FILE_NOT_FOUND",
    "JOB_NOT_FOUND",
    "SCHEMA_NOT_FOUND",
    "INVALID_SCHEMA",
    "UPLOAD_URL_EXPIRED",
    "INVALID_SIGNATURE",
    "UPLOAD_ALREADY_RECEIVED",
    "UPLOAD_NOT_RECEIVED",
    "FILE_TOO_LARGE",
    "INVALID_FILE_FORMAT",
    "CORRUPTED_FILE",
    "INVALID_FILE_TEMPLATE",
    "MAX_ROW_COUNT_EXCEEDED",
    "ERROR_LIMIT_EXCEEDED",
    "INVALID_STATE_TRANSITION",
    "STORAGE_ERROR",
]
_RowErrorCode = Literal[
    "REQUIRED",
    "TYPE",
    "PATTERN",
    "ENUM",
    "MIN_LENGTH",
    "MAX_LENGTH",
    "MINIMUM",
    "MAXIMUM",
    "FORMAT",
    "UNIQUE",
    "UNKNOWN_FIELD",
    "MALFORMED_ROW",
]
_JobState = Literal[
    "queued", "processing", "completed", "partially_completed", "failed", "cancelled"
]
_FileFormat = Literal["ndjson", "json", "csv"]
_ReportFormat = Literal["csv", "ndjson"]
_ReportKind = Literal["errors.csv", "errors.ndjson", "failed-rows"]
_StrPath = Union[str, "os.PathLike[str]"]
_Cell = Union[None, bool, int, float, str]

ERROR_CODES: tuple[_ErrorCode, ...]
ROW_ERROR_CODES: tuple[_RowErrorCode, ...]
ERROR_FAMILIES: dict[str, type[IngestError]]

class IngestError(Exception):
    """Base of every error the library raises; ``.code`` is the design's stable code."""

    code: _ErrorCode

class InvalidRequestError(IngestError):
    """INVALID_REQUEST, UNAUTHORIZED, UNSUPPORTED_MEDIA_TYPE."""

class NotFoundError(IngestError):
    """FILE_NOT_FOUND, JOB_NOT_FOUND, SCHEMA_NOT_FOUND."""

class SchemaError(IngestError):
    """INVALID_SCHEMA."""

class UploadError(IngestError):
    """UPLOAD_URL_EXPIRED, INVALID_SIGNATURE, UPLOAD_ALREADY_RECEIVED, UPLOAD_NOT_RECEIVED,
    FILE_TOO_LARGE."""

class FileContentError(IngestError):
    """INVALID_FILE_FORMAT, CORRUPTED_FILE, INVALID_FILE_TEMPLATE, MAX_ROW_COUNT_EXCEEDED,
    ERROR_LIMIT_EXCEEDED."""

class JobStateError(IngestError):
    """INVALID_STATE_TRANSITION."""

class StorageError(IngestError):
    """STORAGE_ERROR (the storage backend, or a host sink, failed)."""

@final
class RowError:
    """One problem with one row: ``{row, line?, field?, code, message}``."""

    @property
    def row(self) -> int: ...
    @property
    def line(self) -> Optional[int]: ...
    @property
    def field(self) -> Optional[str]: ...
    @property
    def code(self) -> _RowErrorCode: ...
    @property
    def message(self) -> str: ...
    def to_dict(self) -> dict[str, Any]: ...

@final
class JobError:
    """Why a job failed as a whole (a file error, the error limit, a failing sink)."""

    @property
    def code(self) -> str: ...
    @property
    def message(self) -> str: ...
    def to_dict(self) -> dict[str, Any]: ...

@final
class JobStatus:
    """A job: the POP seed's fields (``to_dict()`` gives its JSON names), and more."""

    @property
    def job_id(self) -> str: ...
    @property
    def status(self) -> _JobState: ...
    @property
    def is_terminal(self) -> bool: ...
    @property
    def total_rows(self) -> Optional[int]: ...
    @property
    def processed_rows(self) -> int: ...
    @property
    def error_rows(self) -> int: ...
    @property
    def errors(self) -> list[RowError]: ...
    @property
    def started_at(self) -> Optional[datetime]: ...
    @property
    def completed_at(self) -> Optional[datetime]: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def file_id(self) -> str: ...
    @property
    def dataset(self) -> str: ...
    @property
    def schema_version(self) -> str: ...
    @property
    def metadata(self) -> Optional[dict[str, Any]]: ...
    @property
    def error(self) -> Optional[JobError]: ...
    def to_dict(self) -> dict[str, Any]: ...

@final
class UploadTicket:
    """Where and how to send a file."""

    @property
    def file_id(self) -> str: ...
    @property
    def upload_url(self) -> str: ...
    @property
    def content_type(self) -> str: ...
    @property
    def expires_at(self) -> datetime: ...
    @property
    def upload_instructions(self) -> str: ...
    def to_dict(self) -> dict[str, Any]: ...

@final
class UploadedFile:
    """A received upload."""

    @property
    def file_id(self) -> str: ...
    @property
    def file_name(self) -> str: ...
    @property
    def format(self) -> _FileFormat: ...
    @property
    def size(self) -> int: ...
    @property
    def sha256(self) -> str: ...
    @property
    def received_at(self) -> datetime: ...
    def to_dict(self) -> dict[str, Any]: ...

@final
class Validation:
    """What :func:`validate` found."""

    @property
    def total_rows(self) -> int: ...
    @property
    def valid_rows(self) -> int: ...
    @property
    def error_rows(self) -> int: ...
    @property
    def errors(self) -> list[RowError]: ...
    def to_dict(self) -> dict[str, Any]: ...

@final
class Schema:
    """A registered, compiled schema."""

    @property
    def dataset(self) -> str: ...
    @property
    def version(self) -> str: ...
    @property
    def dialect(self) -> Literal["jsonschema", "tableschema"]: ...
    @property
    def fields(self) -> list[str]: ...
    @property
    def primary_key(self) -> Optional[list[str]]: ...

@final
class Download:
    """A report served through a signed URL."""

    @property
    def content_type(self) -> str: ...
    @property
    def file_name(self) -> str: ...
    @property
    def body(self) -> bytes: ...

@final
class SinkBatch:
    """Valid rows handed to a sink: ``rows[i]`` is data row ``row_numbers[i]`` of the file."""

    @property
    def job_id(self) -> str: ...
    @property
    def dataset(self) -> str: ...
    @property
    def schema_version(self) -> str: ...
    @property
    def rows(self) -> list[dict[str, _Cell]]: ...
    @property
    def row_numbers(self) -> list[int]: ...
    def __len__(self) -> int: ...

_SinkCallable = Callable[[SinkBatch], object]

@final
class Ingestor:
    """The library's facade over one storage directory (``None``: everything in memory)."""

    def __new__(
        cls,
        path: Optional[_StrPath] = None,
        *,
        secret: Union[str, bytes, None] = None,
        base_url: Optional[str] = None,
        workers: int = 1,
        max_upload_bytes: Optional[int] = None,
        lease_seconds: Optional[float] = None,
        poll_interval_seconds: Optional[float] = None,
        threads: Optional[int] = None,
        chunk_size: Optional[int] = None,
        commit_rows: Optional[int] = None,
        error_sample: Optional[int] = None,
        state: Optional[str] = None,
        blobs: Optional[str] = None,
        s3_endpoint: Optional[str] = None,
        s3_region: Optional[str] = None,
    ) -> Ingestor: ...
    def close(self) -> None: ...
    def __enter__(self) -> Ingestor: ...
    def __exit__(
        self,
        *_args: Union[type[BaseException], BaseException, TracebackType, None],
    ) -> bool: ...
    def register_schema(
        self, dataset: str, version: str, schema: Union[str, Mapping[str, Any]]
    ) -> Schema: ...
    def set_sink(self, dataset: str, sink: _SinkCallable) -> None: ...
    def create_upload(
        self,
        file_name: str,
        format: _FileFormat,
        *,
        expires_in_seconds: Optional[int] = None,
        tenant: Optional[str] = None,
    ) -> UploadTicket: ...
    def receive_upload(
        self,
        upload_url: str,
        content_type: str,
        body: Union[bytes, bytearray, memoryview, _StrPath, IO[bytes]],
    ) -> UploadedFile: ...
    def upload(self, file_id: str, *, tenant: Optional[str] = None) -> UploadedFile: ...
    def start_ingest(
        self,
        file_id: str,
        dataset: str,
        schema_version: str,
        *,
        metadata: Optional[Mapping[str, Any]] = None,
        max_error_rows: Optional[int] = None,
        max_rows: Optional[int] = None,
        error_sample: Optional[int] = None,
        tenant: Optional[str] = None,
    ) -> JobStatus: ...
    def job(self, job_id: str, *, tenant: Optional[str] = None) -> JobStatus: ...
    def wait(
        self, job_id: str, timeout: Optional[float] = None, *, tenant: Optional[str] = None
    ) -> JobStatus: ...
    def cancel(self, job_id: str, *, tenant: Optional[str] = None) -> JobStatus: ...
    def report(
        self, job_id: str, format: _ReportFormat = "csv", *, tenant: Optional[str] = None
    ) -> bytes: ...
    def failed_rows(self, job_id: str, *, tenant: Optional[str] = None) -> bytes: ...
    def signed_report_url(
        self,
        job_id: str,
        expires_in_seconds: int = 3600,
        *,
        kind: _ReportKind = "errors.csv",
        tenant: Optional[str] = None,
    ) -> str: ...
    def download(self, url: str) -> Download: ...
    def run_pending(self) -> int: ...
    def run_job(
        self,
        job_id: str,
        *,
        sink: Optional[_SinkCallable] = None,
        tenant: Optional[str] = None,
    ) -> JobStatus: ...
    def stored_rows(self, dataset: str, version: str) -> int: ...

def validate(
    path_or_bytes: Union[bytes, bytearray, memoryview, _StrPath, IO[bytes]],
    format: _FileFormat,
    schema: Union[str, Mapping[str, Any]],
    *,
    max_rows: Optional[int] = None,
    threads: Optional[int] = None,
    error_sample: Optional[int] = None,
) -> Validation: ...
