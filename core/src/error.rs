//! The one error type of the library, with the stable codes of the design.
//!
//! Bad *rows* are not errors: they are [`RowError`](crate::RowError) data collected while a
//! file is read. This enum is for requests, files and storage.

use std::fmt;

/// Every request- and file-level failure, grouped by meaning. `code()` gives the stable string
/// that every binding exposes as `.code`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    // --- the request itself
    /// A request argument is missing or out of range; the message names it.
    #[error("{0}")]
    InvalidRequest(String),
    /// Missing or wrong credentials (used by hosts; the library has no keys of its own).
    #[error("{0}")]
    Unauthorized(String),
    /// The declared content type does not match the upload's format.
    #[error("{0}")]
    UnsupportedMediaType(String),

    // --- things that are not there
    /// No upload with this id for this tenant.
    #[error("file {0} not found")]
    FileNotFound(String),
    /// No job with this id for this tenant.
    #[error("job {0} not found")]
    JobNotFound(String),
    /// No schema registered for this dataset and version.
    #[error("no schema registered for dataset '{dataset}' version '{version}'")]
    SchemaNotFound { dataset: String, version: String },
    /// The schema document cannot be compiled; the message names the keyword or path.
    #[error("invalid schema: {0}")]
    InvalidSchema(String),

    // --- uploads
    /// The signed upload or download URL has expired.
    #[error("{0}")]
    UploadUrlExpired(String),
    /// The URL's signature does not verify.
    #[error("{0}")]
    InvalidSignature(String),
    /// The file id was uploaded already; a file id takes one upload.
    #[error("file {0} has already been uploaded; request a new upload URL to send another file")]
    UploadAlreadyReceived(String),
    /// `start_ingest` on a file whose upload has not arrived yet.
    #[error("file {0} has not been uploaded yet: PUT the file to its uploadUrl first")]
    UploadNotReceived(String),
    /// The body is over the size limit.
    #[error("file is larger than the limit of {limit} bytes")]
    FileTooLarge { limit: u64 },

    // --- the file's content
    /// The bytes are not in the declared format.
    #[error("{0}")]
    InvalidFileFormat(String),
    /// Invalid UTF-8, a truncated gzip stream, an unclosed JSON array.
    #[error("{0}")]
    CorruptedFile(String),
    /// The CSV header lacks required columns or has forbidden ones (named in the message).
    #[error("{0}")]
    InvalidFileTemplate(String),
    /// More data rows than allowed.
    #[error("file has {rows} data rows; max row count allowed is {limit}")]
    MaxRowCountExceeded { rows: u64, limit: u64 },
    /// More rejected rows than the job's `maxErrorRows`.
    #[error("more than {limit} rows failed validation (maxErrorRows); job stopped")]
    ErrorLimitExceeded { limit: u64 },

    // --- lifecycle and storage
    /// A job state change that the state machine does not allow.
    #[error("cannot move job {job_id} from {from} to {to}")]
    InvalidStateTransition {
        job_id: String,
        from: String,
        to: String,
    },
    /// The storage backend failed (disk, database, object store); the message says how.
    #[error("storage error: {0}")]
    Storage(String),
}

/// Every request/file-level code, in the order of the design.
pub const ERROR_CODES: &[&str] = &[
    "INVALID_REQUEST",
    "UNAUTHORIZED",
    "UNSUPPORTED_MEDIA_TYPE",
    "FILE_NOT_FOUND",
    "JOB_NOT_FOUND",
    "SCHEMA_NOT_FOUND",
    "INVALID_SCHEMA",
    "UPLOAD_URL_EXPIRED",
    "INVALID_SIGNATURE",
    "UPLOAD_ALREADY_RECEIVED",
    "UPLOAD_NOT_RECEIVED",
    "FILE_TOO_LARGE",
    "INVALID_FILE_FORMAT",
    "CORRUPTED_FILE",
    "INVALID_FILE_TEMPLATE",
    "MAX_ROW_COUNT_EXCEEDED",
    "ERROR_LIMIT_EXCEEDED",
    "INVALID_STATE_TRANSITION",
    "STORAGE_ERROR",
];

impl Error {
    /// The stable code of the design (`ERROR_CODES`).
    pub fn code(&self) -> &'static str {
        match self {
            Error::InvalidRequest(_) => "INVALID_REQUEST",
            Error::Unauthorized(_) => "UNAUTHORIZED",
            Error::UnsupportedMediaType(_) => "UNSUPPORTED_MEDIA_TYPE",
            Error::FileNotFound(_) => "FILE_NOT_FOUND",
            Error::JobNotFound(_) => "JOB_NOT_FOUND",
            Error::SchemaNotFound { .. } => "SCHEMA_NOT_FOUND",
            Error::InvalidSchema(_) => "INVALID_SCHEMA",
            Error::UploadUrlExpired(_) => "UPLOAD_URL_EXPIRED",
            Error::InvalidSignature(_) => "INVALID_SIGNATURE",
            Error::UploadAlreadyReceived(_) => "UPLOAD_ALREADY_RECEIVED",
            Error::UploadNotReceived(_) => "UPLOAD_NOT_RECEIVED",
            Error::FileTooLarge { .. } => "FILE_TOO_LARGE",
            Error::InvalidFileFormat(_) => "INVALID_FILE_FORMAT",
            Error::CorruptedFile(_) => "CORRUPTED_FILE",
            Error::InvalidFileTemplate(_) => "INVALID_FILE_TEMPLATE",
            Error::MaxRowCountExceeded { .. } => "MAX_ROW_COUNT_EXCEEDED",
            Error::ErrorLimitExceeded { .. } => "ERROR_LIMIT_EXCEEDED",
            Error::InvalidStateTransition { .. } => "INVALID_STATE_TRANSITION",
            Error::Storage(_) => "STORAGE_ERROR",
        }
    }

    /// Shorthand for an `INVALID_REQUEST` error.
    pub fn invalid(msg: impl Into<String>) -> Self {
        Error::InvalidRequest(msg.into())
    }

    /// Shorthand for a `STORAGE_ERROR`.
    pub fn storage(msg: impl fmt::Display) -> Self {
        Error::Storage(msg.to_string())
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Storage(format!("I/O: {e}"))
    }
}

/// The library's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_has_a_listed_code() {
        let samples = [
            Error::invalid("x"),
            Error::Unauthorized("x".into()),
            Error::UnsupportedMediaType("x".into()),
            Error::FileNotFound("x".into()),
            Error::JobNotFound("x".into()),
            Error::SchemaNotFound {
                dataset: "d".into(),
                version: "v".into(),
            },
            Error::InvalidSchema("x".into()),
            Error::UploadUrlExpired("x".into()),
            Error::InvalidSignature("x".into()),
            Error::UploadAlreadyReceived("x".into()),
            Error::UploadNotReceived("x".into()),
            Error::FileTooLarge { limit: 1 },
            Error::InvalidFileFormat("x".into()),
            Error::CorruptedFile("x".into()),
            Error::InvalidFileTemplate("x".into()),
            Error::MaxRowCountExceeded { rows: 2, limit: 1 },
            Error::ErrorLimitExceeded { limit: 1 },
            Error::InvalidStateTransition {
                job_id: "j".into(),
                from: "a".into(),
                to: "b".into(),
            },
            Error::storage("x"),
        ];
        let codes: Vec<&str> = samples.iter().map(Error::code).collect();
        assert_eq!(codes, ERROR_CODES);
    }
}
