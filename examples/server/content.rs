//! The bulk content upload API (seed 004): a multipart CSV in, the seed's envelope out.

use axum::extract::multipart::MultipartError;
use axum::extract::FromRequest;
use axum::extract::{Multipart, Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bulk_ingest::{
    Error, Format, IngestRequest, JobOptions, JobState, JobStatus, ReportFormat, ReportKind,
    Timestamp, UploadRequest,
};
use serde::Serialize;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use crate::common::{
    blocking, mime_of, seed_ts, uuid4, ApiError, AppState, ChannelReader, Chunk, CHANNEL_DEPTH,
    DRAIN_LIMIT,
};

/// The dataset and schema version of the content template.
pub const DATASET: &str = "content";
pub const SCHEMA_VERSION: &str = "1.0";
const ID_UPLOAD: &str = "api.bulkupload.content";
const ID_STATUS: &str = "api.bulkupload.status";
/// How long the report link in a status answer stays valid.
const REPORT_URL_SECONDS: i64 = 86_400;
/// Content types a CSV part may be sent with (curl sends octet-stream for `.csv`).
const CSV_TYPES: [&str; 3] = ["text/csv", "application/csv", "application/octet-stream"];

/// The seed's envelope, fields in the seed's order.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Envelope<'a, R: Serialize> {
    id: &'a str,
    ver: &'static str,
    ts: String,
    params: Params<'a>,
    response_code: &'static str,
    result: R,
}

#[derive(Serialize)]
struct Params<'a> {
    resmsgid: Option<&'a str>,
    msgid: String,
    err: Option<&'a str>,
    status: &'a str,
    errmsg: Option<&'a str>,
}

/// The seed's envelope around `result`, or around an error.
fn envelope<R: Serialize>(
    id: &str,
    status: StatusCode,
    err: Option<&ApiError>,
    result: R,
) -> Response {
    let response_code = match status.as_u16() {
        200..=299 => "OK",
        404 => "RESOURCE_NOT_FOUND",
        400..=499 => "CLIENT_ERROR",
        _ => "SERVER_ERROR",
    };
    let params = Params {
        resmsgid: None,
        msgid: uuid4(),
        err: err.map(|e| e.code),
        status: err.map(|e| e.code).unwrap_or("success"),
        errmsg: err.map(|e| e.message.as_str()),
    };
    let body = Envelope {
        id,
        ver: "v1",
        ts: seed_ts(Timestamp::now()),
        params,
        response_code,
        result,
    };
    (status, Json(body)).into_response()
}

fn error_envelope(id: &str, e: &ApiError) -> Response {
    envelope(id, e.status, Some(e), json!({}))
}

/// The tenant of `Authorization: Bearer KEY`, or 401.
fn bearer_tenant(st: &AppState, headers: &HeaderMap) -> Result<String, ApiError> {
    let v = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .trim();
    let key = match v.split_once(' ') {
        Some((scheme, key)) if scheme.eq_ignore_ascii_case("bearer") => key.trim(),
        _ => {
            return Err(ApiError::unauthorized(
                "missing API key: send Authorization: Bearer KEY",
            ))
        }
    };
    st.tenant_of_key(key)
        .ok_or_else(|| ApiError::unauthorized("invalid API key"))
}

/// A file-level refusal in the seed's words.
fn seed_file_error(e: Error) -> ApiError {
    let status = StatusCode::BAD_REQUEST;
    match e {
        Error::CorruptedFile(_) => ApiError::new(
            status,
            "CORRUPTED_FILE",
            "Bulk content upload failed due to corrupt file",
        ),
        Error::InvalidFileFormat(_) => ApiError::new(
            status,
            "INVALID_FILE_FORMAT",
            "Bulk content upload failed due to invalid file format",
        ),
        Error::InvalidFileTemplate(m) => ApiError::new(
            status,
            "INVALID_FILE_TEMPLATE",
            format!("Bulk content upload failed due to invalid file template: {m}"),
        ),
        Error::MaxRowCountExceeded { limit, .. } => ApiError::new(
            status,
            "MAX_ROW_COUNT_EXCEEDED",
            format!("Max row count allowed is {limit}"),
        ),
        other => ApiError::from(other),
    }
}

fn not_a_csv() -> ApiError {
    seed_file_error(Error::InvalidFileFormat(String::new()))
}

fn multipart_error(e: MultipartError) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "FILE_TOO_LARGE",
            "the request body is over the size limit",
        )
    } else {
        ApiError::invalid(format!(
            "the multipart body could not be read: {}",
            e.body_text()
        ))
    }
}

/// `POST /v1/bulkupload/content` with a multipart field `content` (a CSV file).
pub async fn upload(State(st): State<AppState>, req: axum::extract::Request) -> Response {
    let (parts, body) = req.into_parts();
    let early = bearer_tenant(&st, &parts.headers).and_then(|tenant| {
        if mime_of(&parts.headers).as_deref() == Some("multipart/form-data") {
            Ok(tenant)
        } else {
            Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "UNSUPPORTED_MEDIA_TYPE",
                "Content-Type must be multipart/form-data with the CSV file in the field 'content'",
            ))
        }
    });
    let tenant = match early {
        Ok(t) => t,
        Err(e) => {
            let _ = axum::body::to_bytes(body, DRAIN_LIMIT).await;
            return error_envelope(ID_UPLOAD, &e);
        }
    };
    let req = axum::extract::Request::from_parts(parts, body);
    let mut mp = match Multipart::from_request(req, &st).await {
        Ok(mp) => mp,
        Err(e) => {
            let e = ApiError::invalid(format!(
                "the multipart body is malformed: {}",
                e.body_text()
            ));
            return error_envelope(ID_UPLOAD, &e);
        }
    };
    match upload_inner(st, tenant, &mut mp).await {
        Ok(job_id) => envelope(
            ID_UPLOAD,
            StatusCode::OK,
            None,
            json!({"processId": job_id}),
        ),
        Err(e) => {
            drain(&mut mp).await;
            error_envelope(ID_UPLOAD, &e)
        }
    }
}

/// Reads what is left of a refused form, up to `DRAIN_LIMIT` bytes.
async fn drain(mp: &mut Multipart) {
    let mut budget = DRAIN_LIMIT;
    while let Ok(Some(mut f)) = mp.next_field().await {
        while let Ok(Some(b)) = f.chunk().await {
            if b.len() >= budget {
                return;
            }
            budget -= b.len();
        }
    }
}

async fn upload_inner(
    st: AppState,
    tenant: String,
    mp: &mut Multipart,
) -> Result<String, ApiError> {
    loop {
        let mut field = match mp.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => {
                return Err(ApiError::invalid(
                    "the form has no field 'content': send the CSV file as content=@file.csv",
                ))
            }
            Err(e) => return Err(multipart_error(e)),
        };
        if field.name() != Some("content") {
            continue;
        }
        // Not a CSV by its name or its declared type: refused before anything is stored.
        let file_name = field.file_name().map(str::to_string);
        if let Some(n) = &file_name {
            if !n.to_ascii_lowercase().ends_with(".csv") {
                return Err(not_a_csv());
            }
        }
        if let Some(ct) = field.content_type() {
            let mime = ct
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            if !CSV_TYPES.contains(&mime.as_str()) {
                return Err(not_a_csv());
            }
        }
        let file_name = file_name.unwrap_or_else(|| "content.csv".to_string());

        // Stream the field into the library as a body the host received itself (also when
        // upload URLs point at an object store).
        let (tx, rx) = mpsc::channel(CHANNEL_DEPTH);
        let ing = st.ingestor.clone();
        let upload_req = UploadRequest {
            file_name: file_name.clone(),
            format: Some(Format::Csv),
            expires_in_seconds: Some(3600),
            tenant: Some(tenant.clone()),
        };
        let task = tokio::task::spawn_blocking(move || {
            let mut reader = ChannelReader::new(rx);
            ing.upload_body(&upload_req, Format::Csv.content_type(), &mut reader)
        });
        let mut body_error = None;
        loop {
            match field.chunk().await {
                Ok(Some(b)) if b.is_empty() => {}
                Ok(Some(b)) => {
                    if tx.send(Chunk::Data(b)).await.is_err() {
                        break;
                    }
                }
                Ok(None) => {
                    let _ = tx.send(Chunk::End).await;
                    break;
                }
                Err(e) => {
                    let err = multipart_error(e);
                    let _ = tx.send(Chunk::Failed(err.message.clone())).await;
                    body_error = Some(err);
                    break;
                }
            }
        }
        drop(tx);
        let uploaded = match task.await {
            Ok(Ok(u)) => u,
            Ok(Err(Error::Storage(_))) if body_error.is_some() => {
                return Err(body_error
                    .unwrap_or_else(|| ApiError::invalid("the request body could not be read")))
            }
            Ok(Err(e)) => return Err(seed_file_error(e)),
            Err(e) => return Err(ApiError::internal(format!("a worker task failed: {e}"))),
        };

        let req = IngestRequest {
            file_id: uploaded.file_id,
            dataset: DATASET.into(),
            schema_version: SCHEMA_VERSION.into(),
            metadata: Some(json!({"api": "bulkupload.content", "fileName": file_name})),
            options: JobOptions {
                max_rows: st.max_rows,
                ..JobOptions::default()
            },
            tenant: Some(tenant),
        };
        let ing = st.ingestor.clone();
        return match tokio::task::spawn_blocking(move || ing.start_ingest(&req)).await {
            Ok(Ok(job)) => Ok(job.job_id),
            Ok(Err(e)) => Err(seed_file_error(e)),
            Err(e) => Err(ApiError::internal(format!("a worker task failed: {e}"))),
        };
    }
}

/// The seed's status names.
fn seed_status(s: JobState) -> &'static str {
    match s {
        JobState::Queued => "Queued",
        JobState::Processing => "Processing",
        JobState::Completed | JobState::PartiallyCompleted => "Completed",
        JobState::Failed | JobState::Cancelled => "Failed",
    }
}

/// A status `result`: the seed's fields in its order, each once the job has it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct StatusResult {
    process_id: String,
    status: &'static str,
    total_count: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    success_count: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    failed_count: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    start_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    end_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    report: Option<String>,
    /// Why the job failed as a whole, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<Value>,
}

fn status_result(s: &JobStatus, report: Option<String>) -> StatusResult {
    let started = s.status != JobState::Queued;
    let terminal = s.status.is_terminal();
    StatusResult {
        process_id: s.job_id.clone(),
        status: seed_status(s.status),
        total_count: s.total_rows,
        success_count: started.then_some(s.processed_rows),
        failed_count: started.then_some(s.error_rows),
        start_time: s.started_at.filter(|_| started).map(seed_ts),
        end_time: s.completed_at.filter(|_| terminal).map(seed_ts),
        report: report.filter(|_| terminal),
        error: s
            .error
            .as_ref()
            .map(|e| json!({"code": e.code, "message": e.message})),
    }
}

/// `GET /v1/bulkupload/status/{processId}`.
pub async fn status(
    State(st): State<AppState>,
    headers: HeaderMap,
    Path(process_id): Path<String>,
) -> Response {
    let tenant = match bearer_tenant(&st, &headers) {
        Ok(t) => t,
        Err(e) => return error_envelope(ID_STATUS, &e),
    };
    let ing = st.ingestor.clone();
    let id = process_id.clone();
    let found = blocking(move || {
        let s = ing.job(&id, Some(&tenant))?;
        let report = if s.status.is_terminal() {
            Some(ing.signed_report_url(
                &id,
                ReportKind::Errors(ReportFormat::Csv),
                REPORT_URL_SECONDS,
                Some(&tenant),
            )?)
        } else {
            None
        };
        Ok((s, report))
    })
    .await;
    match found {
        Ok((s, report)) => envelope(ID_STATUS, StatusCode::OK, None, status_result(&s, report)),
        Err(e) if e.code == "JOB_NOT_FOUND" => error_envelope(
            ID_STATUS,
            &ApiError::new(
                StatusCode::NOT_FOUND,
                "PROCESS_NOT_FOUND",
                format!("Process Id {process_id} is not found in the system"),
            ),
        ),
        Err(e) => error_envelope(ID_STATUS, &e),
    }
}
