//! # bulk-ingest
//!
//! An embeddable engine for bulk uploads: signed upload URLs, streaming validation of NDJSON,
//! JSON-array and CSV files against versioned schemas, and crash-safe ingestion jobs.
//!
//! Start at [`Ingestor`]: `create_upload` → `receive_upload` → `start_ingest` → `job` / `wait`
//! → `report` / `failed_rows`. [`validate`] checks a file against a schema without storage.

mod batch;
mod error;
mod format;
mod ingestor;
mod model;
mod pipeline;
mod report;
mod schema;
mod seed;
mod signing;
mod storage;
mod types;
mod unique;
mod validate;

#[cfg(test)]
mod test_rng;

pub use batch::{ColumnType, RowBatch, RowMeta, SinkTable};
pub use error::{Error, Result, ERROR_CODES};
pub use ingestor::{
    Download, IngestRequest, Ingestor, IngestorOptions, Sink, SinkContext, UploadRequest,
    DEFAULT_TENANT,
};
pub use model::{JobError, JobOptions, JobState, JobStatus, Timestamp, UploadTicket, UploadedFile};
pub use report::{ErrorCsvWriter, ReportFormat, ReportKind};
pub use schema::{Field, FieldType, Schema, SchemaDialect};
pub use seed::{JobErrorView, JobView, RowErrorView};
pub use storage::{
    BlobInfo, BlobStore, Checkpoint, ChunkCommit, CommitOutcome, FailedRow, JobRecord, Lease,
    LocalBlobStore, MemoryBlobStore, MemoryStateStore, NewJob, ReceivedInfo, S3Options,
    SchemaRecord, SinkCallback, SqliteStateStore, StateStore, UploadRecord,
};
pub use types::{Cell, Format, RowError, RowErrorCode, ROW_ERROR_CODES};
pub use validate::{validate, validate_bytes, validate_file, ValidateOptions, Validation};

#[cfg(feature = "postgres")]
pub use storage::PgStateStore;
#[cfg(feature = "s3")]
pub use storage::S3BlobStore;

#[cfg(any(test, feature = "conformance"))]
pub use storage::conformance;

/// The README's Rust examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;
