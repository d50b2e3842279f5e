//! Per-job reports: every failed row with its errors (CSV or NDJSON), and the failed rows in
//! the file's own format, ready to be fixed and uploaded again.

use std::io::Write;
use std::str::FromStr;

use crate::error::{Error, Result};
use crate::storage::{JobRecord, StateStore};
use crate::types::{Format, RowError};

/// What to download for a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReportKind {
    /// Every row error: CSV (`row,line,field,code,message`) or NDJSON (a line per failed row).
    Errors(ReportFormat),
    /// The failed rows in the upload's own format (same CSV header).
    FailedRows,
}

/// The format of an error report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReportFormat {
    Csv,
    Ndjson,
}

impl ReportFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            ReportFormat::Csv => "csv",
            ReportFormat::Ndjson => "ndjson",
        }
    }
}

impl FromStr for ReportFormat {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "csv" => Ok(ReportFormat::Csv),
            "ndjson" => Ok(ReportFormat::Ndjson),
            other => Err(Error::invalid(format!(
                "report format '{other}' is not supported; use csv or ndjson"
            ))),
        }
    }
}

impl ReportKind {
    /// A short name used in download URLs: `errors.csv`, `errors.ndjson`, `failed-rows`.
    pub fn as_str(self) -> &'static str {
        match self {
            ReportKind::Errors(ReportFormat::Csv) => "errors.csv",
            ReportKind::Errors(ReportFormat::Ndjson) => "errors.ndjson",
            ReportKind::FailedRows => "failed-rows",
        }
    }

    /// The Content-Type of the download.
    pub fn content_type(self, file_format: Format) -> &'static str {
        match self {
            ReportKind::Errors(ReportFormat::Csv) => "text/csv",
            ReportKind::Errors(ReportFormat::Ndjson) => "application/x-ndjson",
            ReportKind::FailedRows => file_format.content_type(),
        }
    }

    /// A file name for the download.
    pub fn file_name(self, job_id: &str, file_format: Format) -> String {
        match self {
            ReportKind::Errors(f) => format!("{job_id}-errors.{}", f.as_str()),
            ReportKind::FailedRows => format!("{job_id}-failed-rows.{}", file_format.as_str()),
        }
    }
}

impl FromStr for ReportKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "errors.csv" | "report" | "csv" => Ok(ReportKind::Errors(ReportFormat::Csv)),
            "errors.ndjson" | "ndjson" => Ok(ReportKind::Errors(ReportFormat::Ndjson)),
            "failed-rows" => Ok(ReportKind::FailedRows),
            other => Err(Error::invalid(format!(
                "report '{other}' is not known; use errors.csv, errors.ndjson or failed-rows"
            ))),
        }
    }
}

/// Writes one CSV field, quoted when it needs to be (RFC 4180).
pub(crate) fn csv_field(out: &mut Vec<u8>, s: &str) {
    if s.bytes().any(|b| matches!(b, b',' | b'"' | b'\n' | b'\r')) {
        out.push(b'"');
        for b in s.bytes() {
            if b == b'"' {
                out.push(b'"');
            }
            out.push(b);
        }
        out.push(b'"');
    } else {
        out.extend_from_slice(s.as_bytes());
    }
}

/// Writes the header line of the CSV error report.
pub(crate) const ERRORS_CSV_HEADER: &str = "row,line,field,code,message\n";

/// Appends one error as a CSV line.
pub(crate) fn error_csv_line(out: &mut Vec<u8>, e: &RowError) {
    out.extend_from_slice(e.row.to_string().as_bytes());
    out.push(b',');
    if let Some(l) = e.line {
        out.extend_from_slice(l.to_string().as_bytes());
    }
    out.push(b',');
    csv_field(out, e.field.as_deref().unwrap_or(""));
    out.push(b',');
    out.extend_from_slice(e.code.as_str().as_bytes());
    out.push(b',');
    csv_field(out, &e.message);
    out.push(b'\n');
}

/// Streams a report of `job` to `w`.
pub(crate) fn write(
    state: &dyn StateStore,
    job: &JobRecord,
    kind: ReportKind,
    w: &mut dyn Write,
) -> Result<()> {
    let mut buf = Vec::with_capacity(64 * 1024);
    let mut first = true;
    match kind {
        ReportKind::Errors(ReportFormat::Csv) => {
            buf.extend_from_slice(ERRORS_CSV_HEADER.as_bytes())
        }
        ReportKind::FailedRows => match job.format {
            Format::Csv => buf.extend_from_slice(job.csv_header.as_deref().unwrap_or(b"")),
            Format::Json => buf.extend_from_slice(b"[\n"),
            Format::Ndjson => {}
        },
        ReportKind::Errors(ReportFormat::Ndjson) => {}
    }
    let eol: &[u8] = match job.csv_header.as_deref() {
        Some(h) if h.ends_with(b"\r\n") => b"\r\n",
        _ => b"\n",
    };
    state.for_each_failed_row(&job.job_id, &mut |row, line, raw, errors| {
        match kind {
            ReportKind::Errors(ReportFormat::Csv) => {
                for e in errors {
                    error_csv_line(&mut buf, e);
                }
            }
            ReportKind::Errors(ReportFormat::Ndjson) => {
                let errs: Vec<serde_json::Value> = errors
                    .iter()
                    .map(|e| serde_json::json!({"field": e.field, "code": e.code.as_str(), "message": e.message}))
                    .collect();
                let v = serde_json::json!({"row": row, "line": line, "errors": errs});
                serde_json::to_writer(&mut buf, &v).map_err(Error::storage)?;
                buf.push(b'\n');
            }
            ReportKind::FailedRows => match job.format {
                Format::Csv => {
                    buf.extend_from_slice(raw);
                    buf.extend_from_slice(eol);
                }
                Format::Ndjson => {
                    buf.extend_from_slice(raw);
                    buf.push(b'\n');
                }
                Format::Json => {
                    if !first {
                        buf.extend_from_slice(b",\n");
                    }
                    buf.extend_from_slice(raw);
                }
            },
        }
        first = false;
        if buf.len() >= 60 * 1024 {
            w.write_all(&buf)?;
            buf.clear();
        }
        Ok(())
    })?;
    if kind == ReportKind::FailedRows && job.format == Format::Json {
        if !first {
            buf.push(b'\n');
        }
        buf.extend_from_slice(b"]\n");
    }
    w.write_all(&buf)?;
    w.flush()?;
    Ok(())
}

/// Writes row errors as a CSV report (`row,line,field,code,message`), one line per error.
pub struct ErrorCsvWriter<W: Write> {
    w: W,
    buf: Vec<u8>,
}

impl<W: Write> ErrorCsvWriter<W> {
    /// Starts the report with its header line.
    pub fn new(w: W) -> Self {
        ErrorCsvWriter {
            w,
            buf: ERRORS_CSV_HEADER.as_bytes().to_vec(),
        }
    }

    /// Adds one error.
    pub fn write(&mut self, e: &RowError) -> Result<()> {
        error_csv_line(&mut self.buf, e);
        if self.buf.len() >= 64 * 1024 {
            self.w.write_all(&self.buf)?;
            self.buf.clear();
        }
        Ok(())
    }

    /// Writes what is buffered and returns the writer.
    pub fn finish(mut self) -> Result<W> {
        self.w.write_all(&self.buf)?;
        self.w.flush()?;
        Ok(self.w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::RowErrorCode;

    #[test]
    fn csv_lines_quote_what_needs_it() {
        let mut out = Vec::new();
        error_csv_line(
            &mut out,
            &RowError {
                row: 3,
                line: Some(4),
                field: Some("name".into()),
                code: RowErrorCode::Pattern,
                message: "name: \"a,b\" does not match".into(),
            },
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "3,4,name,PATTERN,\"name: \"\"a,b\"\" does not match\"\n"
        );
    }

    #[test]
    fn kinds_parse() {
        for k in [
            ReportKind::Errors(ReportFormat::Csv),
            ReportKind::Errors(ReportFormat::Ndjson),
            ReportKind::FailedRows,
        ] {
            assert_eq!(k.as_str().parse::<ReportKind>().unwrap(), k);
        }
        assert_eq!(
            "pdf".parse::<ReportKind>().unwrap_err().code(),
            "INVALID_REQUEST"
        );
    }
}
