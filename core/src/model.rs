//! The records the engine keeps and returns: states, tickets, jobs, options, timestamps.

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize, Serializer};

use crate::error::Error;
use crate::types::{Format, RowError};

/// A point in time, in milliseconds since the Unix epoch (UTC). Serialises as RFC 3339.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// The current time.
    pub fn now() -> Self {
        let d = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO);
        Timestamp(d.as_millis() as i64)
    }
    /// Milliseconds since the epoch.
    pub fn millis(self) -> i64 {
        self.0
    }
    /// Seconds since the epoch (rounded down).
    pub fn unix_seconds(self) -> i64 {
        self.0.div_euclid(1000)
    }
    /// This time plus a duration.
    pub fn plus(self, d: Duration) -> Self {
        Timestamp(self.0.saturating_add(d.as_millis() as i64))
    }
    /// `(year, month, day, hour, minute, second, millisecond)` in UTC.
    pub fn civil(self) -> (i64, u32, u32, u32, u32, u32, u32) {
        let secs = self.0.div_euclid(1000);
        let ms = self.0.rem_euclid(1000) as u32;
        let days = secs.div_euclid(86_400);
        let sod = secs.rem_euclid(86_400) as u32;
        // Howard Hinnant's civil_from_days.
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let y = yoe + era * 400;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let y = if m <= 2 { y + 1 } else { y };
        (y, m, d, sod / 3600, sod / 60 % 60, sod % 60, ms)
    }
    /// `YYYYMMDD`, used in ids.
    pub fn yyyymmdd(self) -> String {
        let (y, m, d, ..) = self.civil();
        format!("{y:04}{m:02}{d:02}")
    }
    /// RFC 3339 in UTC with second precision, e.g. `2025-01-27T10:00:00Z`.
    pub fn to_rfc3339(self) -> String {
        let (y, mo, d, h, mi, s, _) = self.civil();
        format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_rfc3339())
    }
}

/// The states of a job (see the design's state diagram).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    Queued,
    Processing,
    Completed,
    PartiallyCompleted,
    Failed,
    Cancelled,
}

impl JobState {
    /// Every state.
    pub const ALL: [JobState; 6] = [
        JobState::Queued,
        JobState::Processing,
        JobState::Completed,
        JobState::PartiallyCompleted,
        JobState::Failed,
        JobState::Cancelled,
    ];

    /// The state's name as the API prints it (`"partially_completed"`).
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Processing => "processing",
            JobState::Completed => "completed",
            JobState::PartiallyCompleted => "partially_completed",
            JobState::Failed => "failed",
            JobState::Cancelled => "cancelled",
        }
    }

    /// Terminal states never change.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            JobState::Completed
                | JobState::PartiallyCompleted
                | JobState::Failed
                | JobState::Cancelled
        )
    }

    /// Whether the state machine allows `self -> to`.
    pub fn can_move_to(self, to: JobState) -> bool {
        use JobState::*;
        matches!(
            (self, to),
            (Queued, Processing)
                | (Queued, Cancelled)
                | (Processing, Completed)
                | (Processing, PartiallyCompleted)
                | (Processing, Failed)
                | (Processing, Cancelled)
                | (Processing, Queued)
        )
    }
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for JobState {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        JobState::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| Error::storage(format!("unknown job state '{s}'")))
    }
}

/// What `create_upload` returns: where and how to send the file.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UploadTicket {
    pub file_id: String,
    /// Signed URL to PUT the file to.
    pub upload_url: String,
    /// The Content-Type header to send with the PUT.
    pub content_type: String,
    pub expires_at: Timestamp,
    /// A sentence for people, as in the POP seed.
    pub upload_instructions: String,
}

/// A received upload.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UploadedFile {
    pub file_id: String,
    pub file_name: String,
    pub format: Format,
    pub size: u64,
    /// Hex SHA-256 of the body as received.
    pub sha256: String,
    pub received_at: Timestamp,
}

/// Per-job options (all optional).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct JobOptions {
    /// Fail the job with `ERROR_LIMIT_EXCEEDED` once more rows than this are rejected.
    pub max_error_rows: Option<u64>,
    /// Refuse files with more data rows than this (`MAX_ROW_COUNT_EXCEEDED`).
    pub max_rows: Option<u64>,
    /// How many row errors the job status lists (default 100).
    pub error_sample: Option<u32>,
}

/// The error that made a job fail, when it failed as a whole.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobError {
    pub code: String,
    pub message: String,
}

/// A job as `job()` returns it: the POP seed's fields, and more.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JobStatus {
    pub job_id: String,
    pub status: JobState,
    /// Data rows in the file (known before processing starts).
    pub total_rows: Option<u64>,
    /// Rows ingested successfully so far.
    pub processed_rows: u64,
    /// Rows rejected so far.
    pub error_rows: u64,
    /// The first row errors, ordered by row.
    pub errors: Vec<RowError>,
    pub started_at: Option<Timestamp>,
    pub completed_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub file_id: String,
    pub dataset: String,
    pub schema_version: String,
    pub metadata: Option<serde_json::Value>,
    /// Why the job failed, when it failed as a whole (file error, error limit, ...).
    pub error: Option<JobError>,
}
