"""bulk-ingest for Python: signed uploads, streaming validation and crash-safe ingest jobs.

Everything here is the Rust core (``bulk_ingest._native``); this package only re-exports it.
Start at :class:`Ingestor`, or call :func:`validate` to check one file against a schema.
"""

from ._native import (
    ERROR_CODES,
    ERROR_FAMILIES,
    ROW_ERROR_CODES,
    Download,
    FileContentError,
    IngestError,
    Ingestor,
    InvalidRequestError,
    JobError,
    JobStateError,
    JobStatus,
    NotFoundError,
    RowError,
    Schema,
    SchemaError,
    SinkBatch,
    StorageError,
    UploadedFile,
    UploadError,
    UploadTicket,
    Validation,
    validate,
)

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
