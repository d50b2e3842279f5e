//! # bulk-ingest
//!
//! An embeddable engine for bulk uploads: signed upload URLs, streaming validation of NDJSON,
//! JSON-array and CSV files against versioned schemas, and crash-safe ingestion jobs.

mod batch;
mod error;
mod format;
mod model;
mod schema;
mod storage;
mod types;

pub use batch::{ColumnType, RowBatch, RowMeta, SinkTable};
pub use error::{Error, Result, ERROR_CODES};
pub use model::{JobError, JobOptions, JobState, JobStatus, Timestamp, UploadTicket, UploadedFile};
pub use schema::{Field, FieldType, Schema, SchemaDialect};
pub use storage::{BlobInfo, BlobStore, MemoryBlobStore, MemoryStateStore, StateStore};
pub use types::{Cell, Format, RowError, RowErrorCode, ROW_ERROR_CODES};
