//! The POP bulk ingestion API (seed 000), the signed upload PUT and the signed downloads.

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bulk_ingest::{
    Error, Format, IngestRequest, JobOptions, ReportFormat, ReportKind, UploadRequest,
};
use serde_json::{json, Map, Value};
use tokio::sync::mpsc;

use crate::common::{
    blocking, mime_of, pump_body, ApiError, AppState, ChannelReader, CHANNEL_DEPTH,
};

/// The POP routes' prefix, as in the seed.
pub const PREFIX: &str = "/coatro/v1/pop/dynamic/bulk";
/// The dataset the POP API ingests into.
pub const DATASET: &str = "pop";
/// Largest JSON request body.
const MAX_JSON_BYTES: usize = 1 << 20;
/// How long a report link stays valid.
const REPORT_URL_SECONDS: i64 = 3600;

/// Reads (and drops) what the client is still sending before a refusal is answered, so that it
/// reads the answer instead of a broken pipe.
async fn refuse(body: Body, e: ApiError) -> ApiError {
    let _ = axum::body::to_bytes(body, crate::common::DRAIN_LIMIT).await;
    e
}

/// The tenant of the request's key and its JSON object body; a refusal reads the body off first.
async fn keyed_json(
    st: &AppState,
    headers: &HeaderMap,
    body: Body,
) -> Result<(String, Map<String, Value>), ApiError> {
    match api_key_tenant(st, headers) {
        Ok(t) => Ok((t, json_object(headers, body).await?)),
        Err(e) => Err(refuse(body, e).await),
    }
}

/// The tenant of the request's `X-API-Key`, or 401.
fn api_key_tenant(st: &AppState, headers: &HeaderMap) -> Result<String, ApiError> {
    let key = headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .unwrap_or("");
    if key.is_empty() {
        return Err(ApiError::unauthorized(
            "missing API key: send it in the X-API-Key header",
        ));
    }
    st.tenant_of_key(key)
        .ok_or_else(|| ApiError::unauthorized("invalid API key"))
}

/// The request's JSON object body: 415 unless `application/json`, 400 unless an object.
async fn json_object(headers: &HeaderMap, body: Body) -> Result<Map<String, Value>, ApiError> {
    if mime_of(headers).as_deref() != Some("application/json") {
        let e = ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
            "Content-Type must be application/json",
        );
        return Err(refuse(body, e).await);
    }
    let bytes = axum::body::to_bytes(body, MAX_JSON_BYTES)
        .await
        .map_err(|_| {
            ApiError::invalid(format!(
                "the request body could not be read (at most {MAX_JSON_BYTES} bytes)"
            ))
        })?;
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(ApiError::invalid("the request body must be a JSON object")),
        Err(e) => Err(ApiError::invalid(format!(
            "the request body is not valid JSON: {e}"
        ))),
    }
}

/// A required, non-empty string field.
fn required_str(obj: &Map<String, Value>, name: &str) -> Result<String, ApiError> {
    match obj.get(name) {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.clone()),
        None | Some(Value::Null) | Some(Value::String(_)) => {
            Err(ApiError::invalid(format!("{name} is required")))
        }
        Some(_) => Err(ApiError::invalid(format!("{name} must be a string"))),
    }
}

/// `POST /upload-url` `{fileName, format, expiresInSeconds?}` → the library's ticket.
pub async fn upload_url(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let (tenant, obj) = keyed_json(&st, &headers, body).await?;
    let file_name = required_str(&obj, "fileName")?;
    let format = match obj.get("format") {
        Some(Value::String(s)) => s.parse::<Format>().map_err(ApiError::from)?,
        None | Some(Value::Null) => {
            return Err(ApiError::invalid(
                "format is required: one of ndjson, json, csv",
            ))
        }
        Some(_) => {
            return Err(ApiError::invalid(
                "format must be a string: one of ndjson, json, csv",
            ))
        }
    };
    let expires_in_seconds = match obj.get("expiresInSeconds") {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_i64() {
            Some(n) if (1..=86_400).contains(&n) => Some(n),
            _ => {
                return Err(ApiError::invalid(format!(
                    "expiresInSeconds must be an integer between 1 and 86400 (one day); got {v}"
                )))
            }
        },
    };
    let ing = st.ingestor.clone();
    let req = UploadRequest {
        file_name,
        format: Some(format),
        expires_in_seconds,
        tenant: Some(tenant),
    };
    let ticket = blocking(move || ing.create_upload(&req)).await?;
    Ok((StatusCode::OK, Json(ticket)).into_response())
}

/// `PUT /uploads/{fileId}?expires=..&sig=..`: no key, the signature is the authority. The body
/// streams to the library.
pub async fn put_upload(
    State(st): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let url = uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| uri.path().to_string());
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let (tx, rx) = mpsc::channel(CHANNEL_DEPTH);
    let ing = st.ingestor.clone();
    let task = tokio::task::spawn_blocking(move || {
        let mut reader = ChannelReader::new(rx);
        ing.receive_upload(&url, &content_type, &mut reader)
    });
    let pumped = pump_body(body, tx).await;
    match task.await {
        Ok(Ok(file)) => Ok((StatusCode::OK, Json(file)).into_response()),
        // The body broke off: that, not the library's I/O error, is the answer.
        Ok(Err(Error::Storage(_))) if pumped.is_err() => {
            Err(ApiError::invalid(pumped.err().unwrap_or_else(|| {
                "the request body could not be read".into()
            })))
        }
        Ok(Err(e)) => Err(e.into()),
        Err(e) => Err(ApiError::internal(format!("a worker task failed: {e}"))),
    }
}

/// `POST /ingest` `{fileId, schemaVersion, metadata?, options?}` → 202 `{jobId, message}`.
pub async fn ingest(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let (tenant, obj) = keyed_json(&st, &headers, body).await?;
    let file_id = required_str(&obj, "fileId")?;
    let schema_version = required_str(&obj, "schemaVersion")?;
    let metadata = match obj.get("metadata") {
        None | Some(Value::Null) => None,
        Some(m @ Value::Object(_)) => Some(m.clone()),
        Some(_) => return Err(ApiError::invalid("metadata must be a JSON object")),
    };
    let mut options = match obj.get("options") {
        None | Some(Value::Null) => JobOptions::default(),
        Some(o @ Value::Object(_)) => serde_json::from_value::<JobOptions>(o.clone())
            .map_err(|e| ApiError::invalid(format!("options: {e}")))?,
        Some(_) => return Err(ApiError::invalid("options must be a JSON object")),
    };
    options.max_rows = match (options.max_rows, st.max_rows) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    let req = IngestRequest {
        file_id,
        dataset: DATASET.into(),
        schema_version,
        metadata,
        options,
        tenant: Some(tenant),
    };
    let ing = st.ingestor.clone();
    let job = blocking(move || ing.start_ingest(&req)).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"jobId": job.job_id, "message": "Job queued"})),
    )
        .into_response())
}

/// A job as the API shows it: the seed's fields in its order, then the library's extras.
/// `GET /jobs/{jobId}`.
pub async fn job(
    State(st): State<AppState>,
    headers: HeaderMap,
    Path(job_id): Path<String>,
) -> Result<Response, ApiError> {
    let tenant = api_key_tenant(&st, &headers)?;
    let ing = st.ingestor.clone();
    let status = blocking(move || ing.job(&job_id, Some(&tenant))).await?;
    Ok(Json(status.seed_view()).into_response())
}

/// `POST /jobs/{jobId}/cancel` → the job, now cancelled (409 from a terminal state).
pub async fn cancel(
    State(st): State<AppState>,
    headers: HeaderMap,
    Path(job_id): Path<String>,
) -> Result<Response, ApiError> {
    let tenant = api_key_tenant(&st, &headers)?;
    let ing = st.ingestor.clone();
    let status = blocking(move || ing.cancel(&job_id, Some(&tenant))).await?;
    Ok(Json(status.seed_view()).into_response())
}

/// 302 to a signed download URL of one of the job's reports.
async fn redirect_to_report(
    st: AppState,
    tenant: String,
    job_id: String,
    kind: ReportKind,
) -> Result<Response, ApiError> {
    let ing = st.ingestor.clone();
    let url =
        blocking(move || ing.signed_report_url(&job_id, kind, REPORT_URL_SECONDS, Some(&tenant)))
            .await?;
    let location = HeaderValue::from_str(&url)
        .map_err(|_| ApiError::internal("the signed URL is not a valid header value"))?;
    Ok((
        StatusCode::FOUND,
        [(header::LOCATION, location)],
        Json(json!({"url": url})),
    )
        .into_response())
}

/// `GET /jobs/{jobId}/report?format=csv|ndjson` → 302 to the signed error report.
pub async fn report(
    State(st): State<AppState>,
    headers: HeaderMap,
    Path(job_id): Path<String>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Response, ApiError> {
    let tenant = api_key_tenant(&st, &headers)?;
    let Query(q) = query.map_err(|e| ApiError::invalid(format!("query: {e}")))?;
    let format = match q.get("format").map(String::as_str) {
        None | Some("") => ReportFormat::Csv,
        Some(f) => f.parse::<ReportFormat>().map_err(ApiError::from)?,
    };
    redirect_to_report(st, tenant, job_id, ReportKind::Errors(format)).await
}

/// `GET /jobs/{jobId}/failed-rows` → 302 to the signed file of failed rows (original format).
pub async fn failed_rows(
    State(st): State<AppState>,
    headers: HeaderMap,
    Path(job_id): Path<String>,
) -> Result<Response, ApiError> {
    let tenant = api_key_tenant(&st, &headers)?;
    redirect_to_report(st, tenant, job_id, ReportKind::FailedRows).await
}

/// `GET /downloads/{jobId}/{kind}?expires=..&sig=..`: no key, the signature is the authority.
pub async fn download(State(st): State<AppState>, uri: Uri) -> Result<Response, ApiError> {
    let url = uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| uri.path().to_string());
    let ing = st.ingestor.clone();
    let d = blocking(move || ing.download(&url)).await?;
    let safe_name: String = d
        .file_name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let content_type = HeaderValue::from_str(d.content_type)
        .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"));
    let disposition = HeaderValue::from_str(&format!("attachment; filename=\"{safe_name}\""))
        .map_err(|_| ApiError::internal("bad file name"))?;
    Ok((
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        d.body,
    )
        .into_response())
}
