//! `validate`: check a whole file against a schema without storage, in one call.

use std::io::Read;
use std::path::Path;

use crate::error::{Error, Result};
use crate::pipeline::{self, enforce_unique, Flow, PassOptions, RowsKept, Start};
use crate::schema::Schema;
use crate::types::{Format, RowError};
use crate::unique::UniqueTracker;

/// Options of [`validate`].
#[derive(Debug, Clone)]
pub struct ValidateOptions {
    /// Validation threads; 0 runs everything on the calling thread.
    pub threads: usize,
    /// Target bytes per chunk.
    pub chunk_size: usize,
    /// Refuse files with more data rows (`MAX_ROW_COUNT_EXCEEDED`); the schema's `x-maxRows`
    /// applies too.
    pub max_rows: Option<u64>,
    /// How many row errors the summary keeps (all of them go to the callback).
    pub error_sample: usize,
}

impl Default for ValidateOptions {
    fn default() -> Self {
        ValidateOptions {
            threads: pipeline::default_threads(),
            chunk_size: 1 << 20,
            max_rows: None,
            error_sample: 100,
        }
    }
}

/// What `validate` found.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Validation {
    pub total_rows: u64,
    pub valid_rows: u64,
    pub error_rows: u64,
    /// The first row errors, ordered by row.
    pub errors: Vec<RowError>,
}

/// Validates a stream (plain or gzip) of `format` against `schema`. Every row error, in row
/// order, goes to `on_error` as it is found; memory stays flat however large the file. The
/// primary key and `unique` fields are checked across the whole file (first occurrence wins).
pub fn validate(
    reader: impl Read + Send,
    format: Format,
    schema: &Schema,
    opts: &ValidateOptions,
    on_error: &mut dyn FnMut(&RowError) -> Result<()>,
) -> Result<Validation> {
    let mut constraints: Vec<Vec<usize>> = Vec::new();
    if let Some(pk) = schema.primary_key() {
        constraints.push(pk.to_vec());
    }
    for &s in schema.unique_slots() {
        constraints.push(vec![s]);
    }
    let mut tracker = UniqueTracker::new(constraints);
    let mut v = Validation {
        total_rows: 0,
        valid_rows: 0,
        error_rows: 0,
        errors: Vec::new(),
    };
    pipeline::run(
        reader,
        format,
        schema,
        Start::default(),
        PassOptions {
            threads: opts.threads,
            chunk_size: opts.chunk_size,
            // Nothing is stored: only the keys of valid rows are needed.
            rows: RowsKept::KeysOnly,
        },
        &mut |mut r| {
            enforce_unique(&mut r, &mut tracker, schema);
            v.total_rows += r.rows;
            v.valid_rows += r.batch.len() as u64;
            v.error_rows += r.failed.len() as u64;
            for e in &r.errors {
                if v.errors.len() < opts.error_sample {
                    v.errors.push(e.clone());
                }
                on_error(e)?;
            }
            Ok(Flow::Continue)
        },
    )?;
    let limit = match (opts.max_rows, schema.max_rows()) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    if let Some(limit) = limit {
        if v.total_rows > limit {
            return Err(Error::MaxRowCountExceeded {
                rows: v.total_rows,
                limit,
            });
        }
    }
    Ok(v)
}

/// [`validate`] on a file.
pub fn validate_file(
    path: impl AsRef<Path>,
    format: Format,
    schema: &Schema,
    opts: &ValidateOptions,
    on_error: &mut dyn FnMut(&RowError) -> Result<()>,
) -> Result<Validation> {
    let path = path.as_ref();
    let f = std::fs::File::open(path)
        .map_err(|e| Error::FileNotFound(format!("{} ({e})", path.display())))?;
    validate(
        std::io::BufReader::with_capacity(1 << 20, f),
        format,
        schema,
        opts,
        on_error,
    )
}

/// [`validate`] on bytes in memory.
pub fn validate_bytes(
    bytes: &[u8],
    format: Format,
    schema: &Schema,
    opts: &ValidateOptions,
    on_error: &mut dyn FnMut(&RowError) -> Result<()>,
) -> Result<Validation> {
    validate(bytes, format, schema, opts, on_error)
}
