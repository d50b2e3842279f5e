//! Small shared types: formats, row errors and typed cell values.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::Error;

/// The file formats an upload may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// One JSON object per line.
    Ndjson,
    /// One top-level JSON array of objects.
    Json,
    /// RFC 4180 CSV with a header row.
    Csv,
}

impl Format {
    /// All formats, in the order of the design.
    pub const ALL: [Format; 3] = [Format::Ndjson, Format::Json, Format::Csv];

    /// `"ndjson"`, `"json"` or `"csv"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Ndjson => "ndjson",
            Format::Json => "json",
            Format::Csv => "csv",
        }
    }

    /// The Content-Type a client sends this format with.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Ndjson => "application/x-ndjson",
            Format::Json => "application/json",
            Format::Csv => "text/csv",
        }
    }

    /// Whether a Content-Type header value (parameters such as `; charset=utf-8` ignored, case
    /// insensitive) names this format. `application/jsonl` and `application/ndjson` are accepted
    /// for NDJSON, `application/csv` for CSV.
    pub fn accepts_content_type(self, header: &str) -> bool {
        let mime = header
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        match self {
            Format::Ndjson => matches!(
                mime.as_str(),
                "application/x-ndjson"
                    | "application/ndjson"
                    | "application/jsonl"
                    | "application/x-jsonlines"
            ),
            Format::Json => mime == "application/json",
            Format::Csv => matches!(mime.as_str(), "text/csv" | "application/csv"),
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Format {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        match s.trim().to_ascii_lowercase().as_str() {
            "ndjson" | "jsonl" => Ok(Format::Ndjson),
            "json" => Ok(Format::Json),
            "csv" => Ok(Format::Csv),
            other => Err(Error::invalid(format!(
                "format: '{other}' is not supported; must be one of: ndjson, json, csv"
            ))),
        }
    }
}

/// The row-level codes of the design.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RowErrorCode {
    Required,
    Type,
    Pattern,
    Enum,
    MinLength,
    MaxLength,
    Minimum,
    Maximum,
    Format,
    Unique,
    UnknownField,
    MalformedRow,
}

/// Every row-level code, in the order of the design.
pub const ROW_ERROR_CODES: &[&str] = &[
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
];

impl RowErrorCode {
    /// All codes, in the order of [`ROW_ERROR_CODES`].
    pub const ALL: [RowErrorCode; 12] = [
        RowErrorCode::Required,
        RowErrorCode::Type,
        RowErrorCode::Pattern,
        RowErrorCode::Enum,
        RowErrorCode::MinLength,
        RowErrorCode::MaxLength,
        RowErrorCode::Minimum,
        RowErrorCode::Maximum,
        RowErrorCode::Format,
        RowErrorCode::Unique,
        RowErrorCode::UnknownField,
        RowErrorCode::MalformedRow,
    ];

    /// The stable string, e.g. `"MIN_LENGTH"`.
    pub fn as_str(self) -> &'static str {
        ROW_ERROR_CODES[self as usize]
    }
}

impl fmt::Display for RowErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RowErrorCode {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        RowErrorCode::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| Error::invalid(format!("unknown row error code '{s}'")))
    }
}

/// One problem with one row: bad rows are data, not errors.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowError {
    /// 1-based over data rows (a CSV header is not a row).
    pub row: u64,
    /// The physical line (1-based) where the row starts, for NDJSON and CSV (and JSON arrays).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    /// The field the error is about, when it is about one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The stable row error code.
    pub code: RowErrorCode,
    /// A message a person can act on, e.g. `durationMs: 0 is less than the minimum 1`.
    pub message: String,
}

/// A typed value of one field of one row, borrowed from the parser's output.
///
/// Dates, times and date-times are kept as the text that was checked; integers that fit `i64`
/// are `Int`, other numbers `Num`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cell<'a> {
    /// Absent or null.
    Null,
    Bool(bool),
    Int(i64),
    Num(f64),
    Str(&'a str),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_codes_round_trip() {
        for (i, c) in RowErrorCode::ALL.into_iter().enumerate() {
            assert_eq!(c.as_str(), ROW_ERROR_CODES[i]);
            assert_eq!(c.as_str().parse::<RowErrorCode>().unwrap(), c);
            assert_eq!(
                serde_json::to_string(&c).unwrap(),
                format!("\"{}\"", c.as_str())
            );
        }
    }

    #[test]
    fn formats_parse_and_match_content_types() {
        for f in Format::ALL {
            assert_eq!(f.as_str().parse::<Format>().unwrap(), f);
            assert!(f.accepts_content_type(f.content_type()));
        }
        assert!(Format::Csv.accepts_content_type("text/csv; charset=utf-8"));
        assert!(!Format::Csv.accepts_content_type("application/json"));
        assert_eq!(
            "xml".parse::<Format>().unwrap_err().code(),
            "INVALID_REQUEST"
        );
    }
}
