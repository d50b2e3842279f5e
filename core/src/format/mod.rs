//! Readers: framing of NDJSON, JSON arrays and CSV into chunks and rows; gzip; pre-checks.
