//! `validate`: check a whole file against a schema without storage, in one call.

use std::io::Read;
use std::path::Path;

use crate::error::{Error, Result};
use crate::pipeline::{self, enforce_unique, Flow, PassOptions, RowsKept, Start};
use crate::schema::Schema;
use crate::types::{Format, RowError};
use crate::unique::{KeyScope, UniqueTracker};

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
    validate_sized(reader, None, format, schema, opts, on_error)
}

/// [`validate`] of a stream of about `size` bytes when known (it sizes the key sets once).
fn validate_sized(
    reader: impl Read + Send,
    size: Option<u64>,
    format: Format,
    schema: &Schema,
    opts: &ValidateOptions,
    on_error: &mut dyn FnMut(&RowError) -> Result<()>,
) -> Result<Validation> {
    let mut tracker = UniqueTracker::new(KeyScope::PrimaryKeyAndUnique.constraints(schema));
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
            keys: KeyScope::PrimaryKeyAndUnique,
        },
        &mut |mut r| {
            if let (Some(size), 0) = (size, v.total_rows) {
                // The first chunk: expect the rest of the file to look like it.
                let bytes = r.data.len().max(1) as u64;
                let rest = (size.saturating_sub(bytes) as u128 * r.batch.len() as u128
                    / bytes as u128) as usize;
                tracker.expect(&r.keys, r.batch.len(), rest);
            }
            enforce_unique(&mut r, &mut tracker, schema);
            v.total_rows += r.rows;
            v.valid_rows += r.valid;
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
    // A gzip file holds more than its size: the key sets then grow as they go.
    let size = f.metadata().ok().map(|m| m.len());
    validate_sized(
        std::io::BufReader::with_capacity(1 << 20, f),
        size,
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
    validate_sized(
        bytes,
        Some(bytes.len() as u64),
        format,
        schema,
        opts,
        on_error,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unique_errors(schema: &str, data: &str, threads: usize) -> Vec<(u64, String)> {
        let schema = Schema::compile(schema).unwrap();
        let mut errors = Vec::new();
        let opts = ValidateOptions {
            threads,
            chunk_size: 64,
            ..Default::default()
        };
        validate_bytes(data.as_bytes(), Format::Ndjson, &schema, &opts, &mut |e| {
            errors.push((e.row, format!("{:?} {:?}: {}", e.code, e.field, e.message)));
            Ok(())
        })
        .unwrap();
        errors
    }

    #[test]
    fn duplicate_keys_are_named_in_their_messages() {
        // A composite key of an integer and a string, and a one-field unique UUID column (in
        // lower case it is kept as a number, in upper case as text: each compares as text).
        let schema = r#"{"type":"object","x-primaryKey":["n","s"],"properties":{
            "n":{"type":"integer"},"s":{"type":"string"},
            "u":{"type":["string","null"],"x-unique":true}}}"#;
        let data = concat!(
            "{\"n\":1,\"s\":\"a\",\"u\":\"3f1c1d9e-8a3b-4c1e-9d5e-2b7a6c4d8e9f\"}\n",
            "{\"n\":1,\"s\":\"b\",\"u\":\"3F1C1D9E-8A3B-4C1E-9D5E-2B7A6C4D8E9F\"}\n",
            "{\"n\":1,\"s\":\"a\",\"u\":null}\n",
            "{\"n\":2,\"s\":\"a\",\"u\":\"3f1c1d9e-8a3b-4c1e-9d5e-2b7a6c4d8e9f\"}\n",
            "{\"n\":3,\"s\":\"a\",\"u\":\"3F1C1D9E-8A3B-4C1E-9D5E-2B7A6C4D8E9F\"}\n",
            "{\"n\":4,\"s\":\"a\",\"u\":null}\n",
        );
        let want = vec![
            (
                3,
                "Unique Some(\"n,s\"): n,s: \"1, a\" duplicates an earlier row of the file (must be unique)".to_owned(),
            ),
            (
                4,
                "Unique Some(\"u\"): u: \"3f1c1d9e-8a3b-4c1e-9d5e-2b7a6c4d8e9f\" duplicates an earlier row of the file (must be unique)".to_owned(),
            ),
            (
                5,
                "Unique Some(\"u\"): u: \"3F1C1D9E-8A3B-4C1E-9D5E-2B7A6C4D8E9F\" duplicates an earlier row of the file (must be unique)".to_owned(),
            ),
        ];
        for threads in [0, 2] {
            assert_eq!(
                unique_errors(schema, data, threads),
                want,
                "threads {threads}"
            );
        }
    }
}
