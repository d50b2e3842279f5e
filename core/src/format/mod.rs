//! Readers: framing of NDJSON, JSON arrays and CSV into chunks and rows; gzip; pre-checks.
//!
//! An upload is read from any [`std::io::Read`] (gzip is detected by its magic and decoded on
//! the fly) and cut by a [`Framer`] into bounded [`Chunk`]s of whole rows, which other threads
//! can process independently and merge in `seq` order. Inside a chunk, [`ndjson_rows`],
//! [`json_array_rows`] and [`CsvRows`] give each row with its identity: the 1-based physical
//! line where it starts and the byte offset of its first byte, both in the decoded stream
//! (counting the CSV header, the JSON `'['` and a BOM).
//!
//! Resuming: [`FramerOptions::resume`] starts after an earlier chunk's `end`. [`Framer::new`]
//! reads the stream up to there; [`Framer::with_seek`] reads only the file's start (what the
//! framer learns there: gzip magic, BOM, CSV header, JSON `'['`) and then, for a plain file,
//! a second reader opened at the resume offset (gzip is read through: its offsets are decoded
//! ones). Both give the same chunks.
//!
//! Chunk seams: NDJSON and CSV chunks end after a record's `'\n'`; JSON-array chunks end just
//! after a top-level `','` (so every chunk but the last ends with the separator, and the last
//! ends before the closing `']'`, which is where its `end` points). Every stream gives at least
//! one chunk, and the last one has `is_last` (it may hold no rows: an empty file, or a stream
//! that ends right at a cut).
//!
//! Decisions where the rules leave room:
//! - CSV: blank lines, and before the header also lines of only spaces and tabs, are not
//!   records; a whitespace-only file has no header (`csv_header() == Some(&[])`) and no rows.
//!   A lone `'\r'` ends a record (csv-core's rule; chunks may be cut there too), but lines are
//!   counted by `'\n'` only. `csv_header_raw` excludes the BOM.
//! - JSON arrays: an empty element (`[1,,2]`, `[,1]`) or a trailing comma (`[1,]`) is
//!   `INVALID_FILE_FORMAT`; any other non-JSON element is a row for the caller to reject.
//! - Offsets count the BOM (the first byte after it is offset 3).
//!
//! File-level errors: invalid UTF-8, a damaged or truncated gzip stream, an unclosed JSON array
//! or CSV quoted field are `CORRUPTED_FILE`; content that is not the declared format (binary
//! data, `{` where a JSON array must start, `[` starting an NDJSON file, data after a JSON
//! array's `']'`, empty array elements) is `INVALID_FILE_FORMAT`; a failing source reader is
//! `STORAGE_ERROR`, also under gzip.

#![allow(dead_code)]

mod flat;
mod framer;
mod rows;
mod scan;
mod simd;
#[cfg(test)]
mod tests;

use std::io::Read;

pub(crate) use flat::object as flat_object;
pub(crate) use framer::chunk_utf8;
pub use framer::Framer;
pub(crate) use rows::CsvBuffers;
#[allow(unused_imports)] // the public API; users are being written
pub use rows::{json_array_rows, ndjson_rows, CsvRecord, CsvRows, RawRow};

use crate::error::{Error, Result};
use crate::types::Format;

/// How a [`Framer`] cuts and where it starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FramerOptions {
    /// Target bytes per chunk (a row longer than this makes a bigger chunk). Default 4 MiB.
    pub chunk_size: usize,
    /// Start after this point (an earlier chunk's `end`) instead of at the first row.
    pub resume: Option<ResumePoint>,
}

impl FramerOptions {
    pub const DEFAULT_CHUNK_SIZE: usize = 4 << 20;
}

impl Default for FramerOptions {
    fn default() -> Self {
        FramerOptions {
            chunk_size: Self::DEFAULT_CHUNK_SIZE,
            resume: None,
        }
    }
}

/// A position between rows in the decoded stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct ResumePoint {
    /// Byte offset of the first byte not yet consumed.
    pub offset: u64,
    /// Its 1-based line number.
    pub line: u64,
}

/// A run of whole rows, cut at row boundaries; self-contained.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chunk {
    /// 0, 1, 2, ... in file order.
    pub seq: u64,
    /// Whole rows only (for JSON arrays: elements and the separators between them, never the
    /// `'['` or `']'`). Valid UTF-8.
    pub data: Vec<u8>,
    /// Decoded-stream byte offset of `data[0]`.
    pub start_offset: u64,
    /// 1-based line number of `data[0]`.
    pub first_line: u64,
    /// The resume point just after this chunk (for the last chunk of a JSON array: the `']'`).
    pub end: ResumePoint,
    /// No chunk follows. The last chunk may hold no rows.
    pub is_last: bool,
}

/// What [`precheck`] learned about a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileCheck {
    pub format: Format,
    pub gzip: bool,
    /// Data rows, exactly as the row iterators yield them.
    pub total_rows: u64,
    /// Size of the decoded (un-gzipped) stream.
    pub decoded_bytes: u64,
    /// CSV: the header's column names.
    pub csv_header: Option<Vec<String>>,
}

/// Reads the whole stream with the framer and row iterators: file-level errors (the first one
/// found) and the number of data rows; `MAX_ROW_COUNT_EXCEEDED` when there are more than
/// `max_rows` (all rows are counted first, so the error says how many).
pub fn precheck<R: Read>(reader: R, declared: Format, max_rows: Option<u64>) -> Result<FileCheck> {
    let mut framer = Framer::new(reader, declared, FramerOptions::default())?;
    let mut total_rows = 0u64;
    let mut csv = framer.take_csv_reader().map(CsvBuffers::from_reader);
    while let Some(chunk) = framer.next_chunk()? {
        total_rows += match declared {
            // One csv-core reader for the whole file rather than one per chunk.
            Format::Csv => {
                let text = std::str::from_utf8(&chunk.data).ok();
                let mut rows = CsvRows::with_buffers(&chunk, text, csv.take().unwrap_or_default());
                let n = rows.count_remaining();
                csv = Some(rows.into_buffers());
                n
            }
            _ => count_rows(&chunk, declared),
        };
    }
    if let Some(limit) = max_rows {
        if total_rows > limit {
            return Err(Error::MaxRowCountExceeded {
                rows: total_rows,
                limit,
            });
        }
    }
    Ok(FileCheck {
        format: declared,
        gzip: framer.is_gzip(),
        total_rows,
        decoded_bytes: framer.decoded_bytes(),
        csv_header: framer.csv_header().map(<[String]>::to_vec),
    })
}

/// Data rows in a chunk of `format`, as the row iterators yield them.
pub fn count_rows(chunk: &Chunk, format: Format) -> u64 {
    match format {
        Format::Ndjson => ndjson_rows(chunk).count() as u64,
        Format::Json => json_array_rows(chunk).count() as u64,
        Format::Csv => CsvRows::new(chunk).count_remaining(),
    }
}
