//! The JSON a job's status takes in the POP seed's API (`GET /jobs/{jobId}`), in one place so
//! that every server and binding answers with exactly the same fields.

use serde::Serialize;

use crate::model::JobStatus;

/// A job's status as the POP seed's API shows it: `jobId`, `status`, `totalRows`,
/// `processedRows`, `errorRows`, `errors` (each `{row, error, line, field, code}`: the seed names
/// a row error's message `error`), `startedAt`, `completedAt`, `createdAt`, `fileId`, `dataset`,
/// `schemaVersion`, `metadata` and `error` (`{code, message}` when the job failed as a whole).
/// Times are RFC 3339 UTC strings. Fields always appear, `null` when unknown.
///
/// ```
/// # use bulk_ingest::JobStatus;
/// fn body(status: &JobStatus) -> String {
///     serde_json::to_string(&status.seed_view()).unwrap()
/// }
/// ```
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JobView<'a> {
    job_id: &'a str,
    status: &'static str,
    total_rows: Option<u64>,
    processed_rows: u64,
    error_rows: u64,
    errors: Vec<RowErrorView<'a>>,
    started_at: Option<String>,
    completed_at: Option<String>,
    created_at: String,
    file_id: &'a str,
    dataset: &'a str,
    schema_version: &'a str,
    metadata: Option<&'a serde_json::Value>,
    error: Option<JobErrorView<'a>>,
}

/// One row error in the seed's shape: `row` and `error` (the message), then `line`, `field`,
/// `code`.
#[derive(Debug, Serialize)]
pub struct RowErrorView<'a> {
    row: u64,
    error: &'a str,
    line: Option<u64>,
    field: Option<&'a str>,
    code: &'static str,
}

/// Why a job failed as a whole.
#[derive(Debug, Serialize)]
pub struct JobErrorView<'a> {
    code: &'a str,
    message: &'a str,
}

impl JobStatus {
    /// This status in the POP seed's JSON shape (see [`JobView`]).
    pub fn seed_view(&self) -> JobView<'_> {
        JobView {
            job_id: &self.job_id,
            status: self.status.as_str(),
            total_rows: self.total_rows,
            processed_rows: self.processed_rows,
            error_rows: self.error_rows,
            errors: self
                .errors
                .iter()
                .map(|e| RowErrorView {
                    row: e.row,
                    error: &e.message,
                    line: e.line,
                    field: e.field.as_deref(),
                    code: e.code.as_str(),
                })
                .collect(),
            started_at: self.started_at.map(|t| t.to_rfc3339()),
            completed_at: self.completed_at.map(|t| t.to_rfc3339()),
            created_at: self.created_at.to_rfc3339(),
            file_id: &self.file_id,
            dataset: &self.dataset,
            schema_version: &self.schema_version,
            metadata: self.metadata.as_ref(),
            error: self.error.as_ref().map(|e| JobErrorView {
                code: &e.code,
                message: &e.message,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::model::{JobError, JobState, JobStatus, Timestamp};
    use crate::types::{RowError, RowErrorCode};

    #[test]
    fn seed_view_names_fields_as_the_seed_does() {
        let s = JobStatus {
            job_id: "job-1".into(),
            status: JobState::PartiallyCompleted,
            total_rows: Some(3),
            processed_rows: 2,
            error_rows: 1,
            errors: vec![RowError {
                row: 2,
                line: Some(3),
                field: Some("durationMs".into()),
                code: RowErrorCode::Minimum,
                message: "durationMs: 0 is less than the minimum 1".into(),
            }],
            started_at: Some(Timestamp(1_700_000_000_000)),
            completed_at: None,
            created_at: Timestamp(1_700_000_000_000),
            file_id: "file-1".into(),
            dataset: "pop".into(),
            schema_version: "1.0".into(),
            metadata: None,
            error: Some(JobError {
                code: "ERROR_LIMIT_EXCEEDED".into(),
                message: "too many".into(),
            }),
        };
        let text = serde_json::to_string(&s.seed_view()).unwrap();
        assert!(text.starts_with(r#"{"jobId":"job-1","status":"partially_completed","totalRows":3,"processedRows":2,"errorRows":1,"errors":[{"row":2,"error":"durationMs: 0 is less than the minimum 1","line":3,"field":"durationMs","code":"MINIMUM"}],"startedAt":"2023-11-14T22:13:20"#), "{text}");
        assert!(text.contains(r#""completedAt":null"#));
        assert!(text.ends_with(r#""fileId":"file-1","dataset":"pop","schemaVersion":"1.0","metadata":null,"error":{"code":"ERROR_LIMIT_EXCEEDED","message":"too many"}}"#), "{text}");
    }
}
