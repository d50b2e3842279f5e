//! # bulk-ingest
//!
//! An embeddable engine for bulk uploads: signed upload URLs, streaming validation of NDJSON,
//! JSON-array and CSV files against versioned schemas, and crash-safe ingestion jobs.

mod error;
mod format;
mod schema;
mod types;

pub use error::{Error, Result, ERROR_CODES};
pub use types::{Cell, Format, RowError, RowErrorCode, ROW_ERROR_CODES};
