//! The npm package `bulk-ingest`: a thin napi-rs layer over the `bulk-ingest` core.
//!
//! Every call that touches disk or parses runs as an `AsyncTask` on the libuv thread pool and
//! returns a Promise. Errors reach JavaScript as `Error`s whose `code` is the core's stable code.
//! The only code here converts values: options and arguments in, plain objects (with `Date`s)
//! out, Node streams and JavaScript sink callbacks bridged to the core's `Read` and `Sink`.

// napi-derive expands to FFI glue, and the two bridges below cast JavaScript values.
#![allow(unsafe_code)]

mod bridge;

use std::io::Read;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bulk_ingest as core;
use chrono::{DateTime, TimeZone, Utc};
use napi::bindgen_prelude::*;
use napi::{Env, Task};
use napi_derive::napi;

use bridge::{JsSink, SinkFn, StreamReader};

// ---------------------------------------------------------------------------------------------
// Errors

/// A JavaScript `Error` with `code` set to the core's stable code. Built on the JS thread and
/// carried as a reference, so napi throws or rejects with this very object.
fn js_error(env: &Env, e: &core::Error) -> napi::Error {
    let err = napi::Error::new(e.code().to_string(), e.to_string());
    napi::Error::from(JsError::from(err).into_unknown(*env))
}

/// The core's "the request is wrong" error, for arguments that cannot be converted.
fn invalid(msg: impl Into<String>) -> core::Error {
    core::Error::invalid(msg)
}

// ---------------------------------------------------------------------------------------------
// Off-thread work

/// One core call run on the libuv pool; its core error becomes a coded JS error on resolve.
pub struct Work<T: Send + 'static> {
    f: Option<Box<dyn FnOnce() -> core::Result<T> + Send>>,
}

impl<T: ToNapiValue + TypeName + Send + 'static> Task for Work<T> {
    type Output = core::Result<T>;
    type JsValue = T;

    fn compute(&mut self) -> napi::Result<Self::Output> {
        match self.f.take() {
            Some(f) => Ok(f()),
            None => Err(napi::Error::from_reason("a task ran twice")),
        }
    }

    fn resolve(&mut self, env: Env, out: Self::Output) -> napi::Result<T> {
        out.map_err(|e| js_error(&env, &e))
    }
}

fn work<T: ToNapiValue + TypeName + Send + 'static>(
    f: impl FnOnce() -> core::Result<T> + Send + 'static,
) -> AsyncTask<Work<T>> {
    AsyncTask::new(Work {
        f: Some(Box::new(f)),
    })
}

// ---------------------------------------------------------------------------------------------
// Types seen from JavaScript

/// Every request- and file-level error code (`err.code`).
#[napi(string_enum)]
pub enum ErrorCode {
    #[napi(value = "INVALID_REQUEST")]
    InvalidRequest,
    #[napi(value = "UNAUTHORIZED")]
    Unauthorized,
    #[napi(value = "UNSUPPORTED_MEDIA_TYPE")]
    UnsupportedMediaType,
    #[napi(value = "FILE_NOT_FOUND")]
    FileNotFound,
    #[napi(value = "JOB_NOT_FOUND")]
    JobNotFound,
    #[napi(value = "SCHEMA_NOT_FOUND")]
    SchemaNotFound,
    #[napi(value = "INVALID_SCHEMA")]
    InvalidSchema,
    #[napi(value = "UPLOAD_URL_EXPIRED")]
    UploadUrlExpired,
    #[napi(value = "INVALID_SIGNATURE")]
    InvalidSignature,
    #[napi(value = "UPLOAD_ALREADY_RECEIVED")]
    UploadAlreadyReceived,
    #[napi(value = "UPLOAD_NOT_RECEIVED")]
    UploadNotReceived,
    #[napi(value = "FILE_TOO_LARGE")]
    FileTooLarge,
    #[napi(value = "INVALID_FILE_FORMAT")]
    InvalidFileFormat,
    #[napi(value = "CORRUPTED_FILE")]
    CorruptedFile,
    #[napi(value = "INVALID_FILE_TEMPLATE")]
    InvalidFileTemplate,
    #[napi(value = "MAX_ROW_COUNT_EXCEEDED")]
    MaxRowCountExceeded,
    #[napi(value = "ERROR_LIMIT_EXCEEDED")]
    ErrorLimitExceeded,
    #[napi(value = "INVALID_STATE_TRANSITION")]
    InvalidStateTransition,
    #[napi(value = "STORAGE_ERROR")]
    StorageError,
}

/// Every row-level error code (`RowError.code`).
#[napi(string_enum)]
pub enum RowErrorCode {
    #[napi(value = "REQUIRED")]
    Required,
    #[napi(value = "TYPE")]
    Type,
    #[napi(value = "PATTERN")]
    Pattern,
    #[napi(value = "ENUM")]
    Enum,
    #[napi(value = "MIN_LENGTH")]
    MinLength,
    #[napi(value = "MAX_LENGTH")]
    MaxLength,
    #[napi(value = "MINIMUM")]
    Minimum,
    #[napi(value = "MAXIMUM")]
    Maximum,
    #[napi(value = "FORMAT")]
    Format,
    #[napi(value = "UNIQUE")]
    Unique,
    #[napi(value = "UNKNOWN_FIELD")]
    UnknownField,
    #[napi(value = "MALFORMED_ROW")]
    MalformedRow,
}

/// The file formats.
#[napi(string_enum)]
pub enum Format {
    #[napi(value = "ndjson")]
    Ndjson,
    #[napi(value = "json")]
    Json,
    #[napi(value = "csv")]
    Csv,
}

/// The states of a job.
#[napi(string_enum)]
pub enum JobState {
    #[napi(value = "queued")]
    Queued,
    #[napi(value = "processing")]
    Processing,
    #[napi(value = "completed")]
    Completed,
    #[napi(value = "partially_completed")]
    PartiallyCompleted,
    #[napi(value = "failed")]
    Failed,
    #[napi(value = "cancelled")]
    Cancelled,
}

/// The reports a signed URL can serve.
#[napi(string_enum)]
pub enum ReportKind {
    #[napi(value = "errors.csv")]
    ErrorsCsv,
    #[napi(value = "errors.ndjson")]
    ErrorsNdjson,
    #[napi(value = "failed-rows")]
    FailedRows,
}

/// `new Ingestor(path, options)`. Every field is optional.
#[napi(object)]
pub struct IngestorOptions {
    /// Key for signing URLs (default: `secret.key` in the data directory, created once).
    pub secret: Option<Either<String, Buffer>>,
    /// Base of the signed URLs, e.g. `https://api.example.com` (default `http://127.0.0.1:8080`).
    pub base_url: Option<String>,
    /// Worker threads running jobs (default 1); 0: the host calls `runPending` / `runJob`.
    pub workers: Option<f64>,
    /// Largest upload accepted, in bytes (default 10 GiB).
    pub max_upload_bytes: Option<f64>,
    /// How long a claimed job stays with a silent worker, in seconds (default 30).
    pub lease_seconds: Option<f64>,
    /// Validation threads per running job (default: the machine's cores).
    pub threads: Option<f64>,
    /// Target bytes per chunk of the row engine (default 1 MiB).
    pub chunk_size: Option<f64>,
    /// Rows per commit (default 50000).
    pub commit_rows: Option<f64>,
    /// Row errors listed in a job's status (default 100).
    pub error_sample: Option<f64>,
    /// Scale-out state: a PostgreSQL URL (`postgres://user:password@host:port/db`) shared by
    /// every machine (default: SQLite in the data directory).
    pub state: Option<String>,
    /// Scale-out blobs: an object-store URL (`s3://bucket/prefix`); uploads then go straight to
    /// the store through its presigned PUT URLs (default: files in the data directory).
    pub blobs: Option<String>,
    /// Endpoint of an S3-compatible store, e.g. `http://127.0.0.1:9000` (default:
    /// `AWS_ENDPOINT_URL`, else AWS S3). Credentials and region come from the `AWS_*` variables.
    pub s3_endpoint: Option<String>,
    /// Region of the object store (default: `AWS_REGION`).
    pub s3_region: Option<String>,
}

/// A non-negative whole number from a JavaScript number.
fn whole(name: &str, v: f64) -> core::Result<u64> {
    if v.is_finite() && v >= 0.0 && v.fract() == 0.0 && v <= 9_007_199_254_740_991.0 {
        Ok(v as u64)
    } else {
        Err(invalid(format!(
            "{name} must be a whole number of at least 0; got {v}"
        )))
    }
}

fn whole_usize(name: &str, v: f64) -> core::Result<usize> {
    usize::try_from(whole(name, v)?).map_err(|_| invalid(format!("{name} is too large")))
}

fn seconds(name: &str, v: f64) -> core::Result<Duration> {
    if v.is_finite() && (0.0..=1e12).contains(&v) {
        Ok(Duration::from_secs_f64(v))
    } else {
        Err(invalid(format!(
            "{name} must be a number of seconds of at least 0; got {v}"
        )))
    }
}

impl IngestorOptions {
    fn into_core(self) -> core::Result<core::IngestorOptions> {
        let mut o = core::IngestorOptions::default();
        if let Some(s) = self.secret {
            o.secret = Some(match s {
                Either::A(s) => s.into_bytes(),
                Either::B(b) => b.to_vec(),
            });
        }
        if let Some(u) = self.base_url {
            o.base_url = u;
        }
        if let Some(v) = self.workers {
            o.workers = whole_usize("workers", v)?;
        }
        if let Some(v) = self.max_upload_bytes {
            o.max_upload_bytes = whole("maxUploadBytes", v)?;
        }
        if let Some(v) = self.lease_seconds {
            o.lease = seconds("leaseSeconds", v)?;
        }
        if let Some(v) = self.threads {
            o.threads = whole_usize("threads", v)?;
        }
        if let Some(v) = self.chunk_size {
            o.chunk_size = whole_usize("chunkSize", v)?;
        }
        if let Some(v) = self.commit_rows {
            o.commit_rows = whole_usize("commitRows", v)?;
        }
        if let Some(v) = self.error_sample {
            o.error_sample = whole_usize("errorSample", v)?;
        }
        o.state = self.state;
        o.blobs = self.blobs;
        o.s3.endpoint = self.s3_endpoint;
        o.s3.region = self.s3_region;
        Ok(o)
    }
}

fn date(t: core::Timestamp) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(t.millis())
        .single()
        .unwrap_or_default()
}

/// What `createUpload` returns: where and how to send the file.
#[napi(object)]
pub struct UploadTicket {
    pub file_id: String,
    pub upload_url: String,
    pub content_type: String,
    pub expires_at: DateTime<Utc>,
    pub upload_instructions: String,
}

impl From<core::UploadTicket> for UploadTicket {
    fn from(t: core::UploadTicket) -> Self {
        UploadTicket {
            file_id: t.file_id,
            upload_url: t.upload_url,
            content_type: t.content_type,
            expires_at: date(t.expires_at),
            upload_instructions: t.upload_instructions,
        }
    }
}

/// A received upload.
#[napi(object, use_nullable = true)]
pub struct UploadedFile {
    pub file_id: String,
    pub file_name: String,
    #[napi(ts_type = "Format")]
    pub format: String,
    pub size: f64,
    /// Hex SHA-256 of the body as received.
    pub sha256: String,
    pub received_at: DateTime<Utc>,
}

impl From<core::UploadedFile> for UploadedFile {
    fn from(f: core::UploadedFile) -> Self {
        UploadedFile {
            file_id: f.file_id,
            file_name: f.file_name,
            format: f.format.as_str().to_string(),
            size: f.size as f64,
            sha256: f.sha256,
            received_at: date(f.received_at),
        }
    }
}

/// One rejected row: `row` is 1-based over data rows, `line` the physical line it starts on.
#[napi(object, use_nullable = true)]
pub struct RowError {
    pub row: f64,
    pub line: Option<f64>,
    pub field: Option<String>,
    #[napi(ts_type = "RowErrorCode")]
    pub code: String,
    pub message: String,
}

impl From<&core::RowError> for RowError {
    fn from(e: &core::RowError) -> Self {
        RowError {
            row: e.row as f64,
            line: e.line.map(|l| l as f64),
            field: e.field.clone(),
            code: e.code.as_str().to_string(),
            message: e.message.clone(),
        }
    }
}

/// Why a job failed as a whole.
#[napi(object, use_nullable = true)]
pub struct JobError {
    #[napi(ts_type = "ErrorCode")]
    pub code: String,
    pub message: String,
}

/// Per-job options of `startIngest`.
#[napi(object)]
pub struct JobOptions {
    /// Fail the job with `ERROR_LIMIT_EXCEEDED` once more rows than this are rejected.
    pub max_error_rows: Option<f64>,
    /// Refuse files with more data rows than this (`MAX_ROW_COUNT_EXCEEDED`).
    pub max_rows: Option<f64>,
    /// How many row errors the job status lists (default 100).
    pub error_sample: Option<f64>,
}

impl JobOptions {
    fn into_core(self) -> core::Result<core::JobOptions> {
        Ok(core::JobOptions {
            max_error_rows: self
                .max_error_rows
                .map(|v| whole("maxErrorRows", v))
                .transpose()?,
            max_rows: self.max_rows.map(|v| whole("maxRows", v)).transpose()?,
            error_sample: self
                .error_sample
                .map(|v| {
                    whole("errorSample", v).and_then(|n| {
                        u32::try_from(n).map_err(|_| invalid("errorSample is too large"))
                    })
                })
                .transpose()?,
        })
    }
}

/// A job as `job()` returns it: the POP seed's fields, and more.
#[napi(object, use_nullable = true)]
pub struct JobStatus {
    pub job_id: String,
    #[napi(ts_type = "JobState")]
    pub status: String,
    /// Data rows in the file (known before processing starts).
    pub total_rows: Option<f64>,
    /// Rows ingested successfully so far.
    pub processed_rows: f64,
    /// Rows rejected so far.
    pub error_rows: f64,
    /// The first row errors, ordered by row.
    pub errors: Vec<RowError>,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub file_id: String,
    pub dataset: String,
    pub schema_version: String,
    #[napi(ts_type = "Record<string, unknown> | null")]
    pub metadata: Option<serde_json::Value>,
    /// Why the job failed, when it failed as a whole.
    pub error: Option<JobError>,
}

impl From<core::JobStatus> for JobStatus {
    fn from(s: core::JobStatus) -> Self {
        JobStatus {
            job_id: s.job_id,
            status: s.status.as_str().to_string(),
            total_rows: s.total_rows.map(|n| n as f64),
            processed_rows: s.processed_rows as f64,
            error_rows: s.error_rows as f64,
            errors: s.errors.iter().map(RowError::from).collect(),
            started_at: s.started_at.map(date),
            completed_at: s.completed_at.map(date),
            created_at: date(s.created_at),
            file_id: s.file_id,
            dataset: s.dataset,
            schema_version: s.schema_version,
            metadata: s.metadata,
            error: s.error.map(|e| JobError {
                code: e.code,
                message: e.message,
            }),
        }
    }
}

/// One field of a registered schema.
#[napi(object)]
pub struct SchemaField {
    pub name: String,
    #[napi(js_name = "type")]
    pub ty: String,
    pub required: bool,
    pub nullable: bool,
    pub unique: bool,
}

/// What `registerSchema` returns.
#[napi(object)]
pub struct SchemaInfo {
    pub dataset: String,
    pub version: String,
    /// `json-schema` or `table-schema`.
    pub dialect: String,
    pub fields: Vec<SchemaField>,
}

/// A report served through a signed URL.
#[napi(object)]
pub struct Download {
    pub content_type: String,
    pub file_name: String,
    pub body: Buffer,
}

/// What `validate` found.
#[napi(object)]
pub struct Validation {
    pub total_rows: f64,
    pub valid_rows: f64,
    pub error_rows: f64,
    /// The first row errors, ordered by row.
    pub errors: Vec<RowError>,
}

/// Options of `validate`.
#[napi(object)]
pub struct ValidateOptions {
    /// Refuse files with more data rows (`MAX_ROW_COUNT_EXCEEDED`).
    pub max_rows: Option<f64>,
    /// How many row errors the summary keeps (default 100).
    pub error_sample: Option<f64>,
    /// Validation threads (default: the machine's cores).
    pub threads: Option<f64>,
}

/// One valid row handed to a sink: its 1-based row number, its line, its typed values.
#[napi(object, use_nullable = true)]
pub struct SinkRow {
    pub row: f64,
    pub line: Option<f64>,
    #[napi(ts_type = "Record<string, string | number | boolean | null>")]
    pub values: serde_json::Value,
}

/// A batch of valid rows, committed with the job's checkpoint once the sink returns.
#[napi(object)]
pub struct SinkBatch {
    pub job_id: String,
    pub dataset: String,
    pub schema_version: String,
    pub rows: Vec<SinkRow>,
}

/// A schema given as JSON text or as an object.
fn schema_text(schema: serde_json::Value) -> String {
    match schema {
        serde_json::Value::String(s) => s,
        other => other.to_string(),
    }
}

fn tenant_ref(t: &Option<String>) -> Option<&str> {
    t.as_deref()
}

// ---------------------------------------------------------------------------------------------
// The facade

/// The library's facade over a data directory (SQLite state and local blobs).
#[napi]
pub struct Ingestor {
    inner: Arc<Mutex<Option<core::Ingestor>>>,
}

impl Drop for Ingestor {
    fn drop(&mut self) {
        // Dropping the core joins its workers, which may be waiting on a JavaScript sink:
        // never do that on the JavaScript thread.
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(i) = inner {
            let _ = std::thread::Builder::new()
                .name("bulk-ingest-close".into())
                .spawn(move || drop(i));
        }
    }
}

#[napi]
impl Ingestor {
    /// Opens (or creates) the data directory `path` (`bulk-ingest.db` and `blobs/`); several
    /// processes may open the same directory.
    #[napi(constructor)]
    pub fn new(env: Env, path: String, options: Option<IngestorOptions>) -> napi::Result<Self> {
        let opened = options
            .map(IngestorOptions::into_core)
            .unwrap_or_else(|| Ok(core::IngestorOptions::default()))
            .and_then(|o| core::Ingestor::open(&path, o));
        match opened {
            Ok(i) => Ok(Ingestor {
                inner: Arc::new(Mutex::new(Some(i))),
            }),
            Err(e) => Err(js_error(&env, &e)),
        }
    }

    /// `new Ingestor(path, options)` off the event loop: opening runs the database's
    /// migrations, so a host that must never block can await this instead.
    #[napi(ts_return_type = "Promise<Ingestor>")]
    pub fn open(path: String, options: Option<IngestorOptions>) -> AsyncTask<Work<Ingestor>> {
        work(move || {
            let opts = match options {
                Some(o) => o.into_core()?,
                None => core::IngestorOptions::default(),
            };
            Ok(Ingestor {
                inner: Arc::new(Mutex::new(Some(core::Ingestor::open(&path, opts)?))),
            })
        })
    }

    fn core(&self) -> core::Result<core::Ingestor> {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .ok_or_else(|| invalid("this Ingestor is closed"))
    }

    /// Runs `f` with the core facade on the libuv pool.
    fn run<T: ToNapiValue + TypeName + Send + 'static>(
        &self,
        f: impl FnOnce(core::Ingestor) -> core::Result<T> + Send + 'static,
    ) -> AsyncTask<Work<T>> {
        let ing = self.core();
        work(move || f(ing?))
    }

    /// Registers a schema (JSON Schema subset or Table Schema, as JSON text or an object) for
    /// `dataset` under `version`. Versions are immutable.
    #[napi(ts_return_type = "Promise<SchemaInfo>")]
    pub fn register_schema(
        &self,
        dataset: String,
        version: String,
        #[napi(ts_arg_type = "string | Record<string, unknown>")] schema: serde_json::Value,
    ) -> AsyncTask<Work<SchemaInfo>> {
        let text = schema_text(schema);
        self.run(move |ing| {
            let s = ing.register_schema(&dataset, &version, &text)?;
            Ok(SchemaInfo {
                dataset,
                version,
                dialect: s.dialect().as_str().to_string(),
                fields: s
                    .fields()
                    .iter()
                    .map(|f| SchemaField {
                        name: f.name.clone(),
                        ty: f.ty.as_str().to_string(),
                        required: f.required,
                        nullable: f.nullable,
                        unique: f.unique,
                    })
                    .collect(),
            })
        })
    }

    /// Issues an upload ticket: a signed URL to PUT the file to.
    #[napi(ts_return_type = "Promise<UploadTicket>")]
    pub fn create_upload(
        &self,
        file_name: String,
        #[napi(ts_arg_type = "Format")] format: String,
        expires_in_seconds: Option<f64>,
        tenant: Option<String>,
    ) -> AsyncTask<Work<UploadTicket>> {
        self.run(move |ing| {
            let expires = match expires_in_seconds {
                Some(v) if v.is_finite() && v.fract() == 0.0 && v.abs() < 1e15 => Some(v as i64),
                Some(v) => {
                    return Err(invalid(format!(
                        "expiresInSeconds must be a whole number between 1 and 86400; got {v}"
                    )))
                }
                None => None,
            };
            let req = core::UploadRequest {
                file_name,
                format: Some(core::Format::from_str(&format)?),
                expires_in_seconds: expires,
                tenant,
            };
            ing.create_upload(&req).map(UploadTicket::from)
        })
    }

    /// Receives an upload sent to its signed URL (the full URL or its path and query). The body
    /// is a Buffer, a file path, or a Readable stream, which is consumed as it arrives (with
    /// backpressure), never buffered whole.
    #[napi(ts_return_type = "Promise<UploadedFile>")]
    pub fn receive_upload(
        &self,
        env: Env,
        url: String,
        content_type: String,
        #[napi(ts_arg_type = "Buffer | string | NodeJS.ReadableStream")] body: Unknown,
    ) -> napi::Result<AsyncTask<Work<UploadedFile>>> {
        enum Body {
            Path(String),
            Reader(Box<dyn Read + Send>),
        }
        let body = match body.get_type()? {
            // SAFETY: each cast follows the check of the value's type.
            ValueType::String => Body::Path(unsafe { body.cast::<String>() }?),
            ValueType::Object if body.is_buffer()? => {
                Body::Reader(Box::new(std::io::Cursor::new(unsafe {
                    body.cast::<Buffer>()
                }?)))
            }
            ValueType::Object => {
                let stream = unsafe { body.cast::<Object>() }?;
                let reader = StreamReader::attach(&env, stream).map_err(|e| {
                    js_error(
                        &env,
                        &invalid(format!(
                            "body must be a Buffer, a file path or a Readable stream ({})",
                            e.reason
                        )),
                    )
                })?;
                Body::Reader(Box::new(reader))
            }
            _ => {
                return Err(js_error(
                    &env,
                    &invalid("body must be a Buffer, a file path or a Readable stream"),
                ))
            }
        };
        Ok(self.run(move |ing| {
            let mut reader: Box<dyn Read + Send> = match body {
                Body::Path(p) => Box::new(
                    std::fs::File::open(&p)
                        .map_err(|e| core::Error::FileNotFound(format!("{p} ({e})")))?,
                ),
                Body::Reader(r) => r,
            };
            ing.receive_upload(&url, &content_type, &mut reader)
                .map(UploadedFile::from)
        }))
    }

    /// The received upload `fileId` (`UPLOAD_NOT_RECEIVED` before its PUT).
    #[napi(ts_return_type = "Promise<UploadedFile>")]
    pub fn upload(&self, file_id: String, tenant: Option<String>) -> AsyncTask<Work<UploadedFile>> {
        self.run(move |ing| {
            ing.upload(&file_id, tenant_ref(&tenant))
                .map(UploadedFile::from)
        })
    }

    /// Checks the uploaded file (format, corruption, CSV template, row limits) and queues a job.
    #[napi(ts_return_type = "Promise<JobStatus>")]
    pub fn start_ingest(
        &self,
        file_id: String,
        dataset: String,
        schema_version: String,
        #[napi(ts_arg_type = "Record<string, unknown> | null")] metadata: Option<serde_json::Value>,
        options: Option<JobOptions>,
        tenant: Option<String>,
    ) -> AsyncTask<Work<JobStatus>> {
        self.run(move |ing| {
            let req = core::IngestRequest {
                file_id,
                dataset,
                schema_version,
                metadata: metadata.filter(|m| !m.is_null()),
                options: match options {
                    Some(o) => o.into_core()?,
                    None => core::JobOptions::default(),
                },
                tenant,
            };
            ing.start_ingest(&req).map(JobStatus::from)
        })
    }

    /// The job's status (`JOB_NOT_FOUND` for an unknown id or another tenant's).
    #[napi(ts_return_type = "Promise<JobStatus>")]
    pub fn job(&self, job_id: String, tenant: Option<String>) -> AsyncTask<Work<JobStatus>> {
        self.run(move |ing| ing.job(&job_id, tenant_ref(&tenant)).map(JobStatus::from))
    }

    /// Waits until the job is terminal or `timeoutSeconds` (default 60) pass; its status then.
    #[napi(ts_return_type = "Promise<JobStatus>")]
    pub fn wait(
        &self,
        job_id: String,
        timeout_seconds: Option<f64>,
        tenant: Option<String>,
    ) -> AsyncTask<Work<JobStatus>> {
        self.run(move |ing| {
            let timeout = seconds("timeoutSeconds", timeout_seconds.unwrap_or(60.0))?;
            ing.wait(&job_id, timeout, tenant_ref(&tenant))
                .map(JobStatus::from)
        })
    }

    /// Cancels a queued or processing job (`INVALID_STATE_TRANSITION` from a terminal state).
    #[napi(ts_return_type = "Promise<JobStatus>")]
    pub fn cancel(&self, job_id: String, tenant: Option<String>) -> AsyncTask<Work<JobStatus>> {
        self.run(move |ing| {
            ing.cancel(&job_id, tenant_ref(&tenant))
                .map(JobStatus::from)
        })
    }

    /// Every row error of the job, as CSV (default) or NDJSON.
    #[napi(ts_return_type = "Promise<Buffer>")]
    pub fn report(
        &self,
        job_id: String,
        #[napi(ts_arg_type = "'csv' | 'ndjson'")] format: Option<String>,
        tenant: Option<String>,
    ) -> AsyncTask<Work<Buffer>> {
        self.run(move |ing| {
            let f = core::ReportFormat::from_str(format.as_deref().unwrap_or("csv"))?;
            ing.report(&job_id, f, tenant_ref(&tenant))
                .map(Buffer::from)
        })
    }

    /// The job's failed rows in the upload's own format, ready to fix and upload again.
    #[napi(ts_return_type = "Promise<Buffer>")]
    pub fn failed_rows(&self, job_id: String, tenant: Option<String>) -> AsyncTask<Work<Buffer>> {
        self.run(move |ing| {
            ing.failed_rows(&job_id, tenant_ref(&tenant))
                .map(Buffer::from)
        })
    }

    /// A signed, expiring URL (default one hour) for a report of the job, served by `download`.
    #[napi(ts_return_type = "Promise<string>")]
    pub fn signed_report_url(
        &self,
        job_id: String,
        expires_in_seconds: Option<f64>,
        #[napi(ts_arg_type = "ReportKind")] kind: Option<String>,
        tenant: Option<String>,
    ) -> AsyncTask<Work<String>> {
        self.run(move |ing| {
            let kind = core::ReportKind::from_str(kind.as_deref().unwrap_or("errors.csv"))?;
            let secs = match expires_in_seconds {
                None => 3600,
                Some(v) if v.is_finite() && v.fract() == 0.0 && v.abs() < 1e15 => v as i64,
                Some(v) => {
                    return Err(invalid(format!(
                        "expiresInSeconds must be a whole number between 1 and 604800; got {v}"
                    )))
                }
            };
            ing.signed_report_url(&job_id, kind, secs, tenant_ref(&tenant))
        })
    }

    /// Serves a signed download URL (full URL or path and query).
    #[napi(ts_return_type = "Promise<Download>")]
    pub fn download(&self, url: String) -> AsyncTask<Work<Download>> {
        self.run(move |ing| {
            let d = ing.download(&url)?;
            Ok(Download {
                content_type: d.content_type.to_string(),
                file_name: d.file_name,
                body: d.body.into(),
            })
        })
    }

    /// Runs queued jobs on a pool thread until none is left; resolves to how many ran.
    #[napi(ts_return_type = "Promise<number>")]
    pub fn run_pending(&self) -> AsyncTask<Work<u32>> {
        self.run(move |ing| ing.run_pending().map(|n| n as u32))
    }

    /// Runs one job now (if it is queued, or its lease expired) and resolves to its status.
    /// With `sink`, its valid rows go to the callback instead of the default table.
    #[napi(ts_return_type = "Promise<JobStatus>")]
    pub fn run_job(
        &self,
        job_id: String,
        #[napi(ts_arg_type = "((batch: SinkBatch) => void | Promise<void>) | null")] sink: Option<
            SinkFn,
        >,
        tenant: Option<String>,
    ) -> napi::Result<AsyncTask<Work<JobStatus>>> {
        let sink = match sink {
            Some(f) => Some(Arc::new(JsSink::new(f)?) as Arc<dyn core::Sink>),
            None => None,
        };
        Ok(self.run(move |ing| {
            ing.run_job_with_sink(&job_id, tenant_ref(&tenant), sink)
                .map(JobStatus::from)
        }))
    }

    /// Routes the valid rows of `dataset` to `sink` instead of the default table. The callback
    /// gets each batch before its commit; a throw or a rejected promise fails the job with that
    /// message, and no row committed before is lost.
    #[napi]
    pub fn set_sink(
        &self,
        env: Env,
        dataset: String,
        #[napi(ts_arg_type = "(batch: SinkBatch) => void | Promise<void>")] sink: SinkFn,
    ) -> napi::Result<()> {
        let ing = self.core().map_err(|e| js_error(&env, &e))?;
        ing.set_sink(&dataset, Arc::new(JsSink::new(sink)?));
        Ok(())
    }

    /// Stops the workers after their current commit (a job in progress resumes later from its
    /// checkpoint). Later calls fail with `INVALID_REQUEST`.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn close(&self) -> AsyncTask<Work<()>> {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner()).take();
        work(move || {
            drop(inner);
            Ok(())
        })
    }
}

/// Validates a file (path or Buffer; plain or gzip) against a schema without storage.
#[napi(ts_return_type = "Promise<Validation>")]
pub fn validate(
    #[napi(ts_arg_type = "string | Buffer")] path_or_buffer: Either<String, Buffer>,
    #[napi(ts_arg_type = "Format")] format: String,
    #[napi(ts_arg_type = "string | Record<string, unknown>")] schema: serde_json::Value,
    options: Option<ValidateOptions>,
) -> AsyncTask<Work<Validation>> {
    let text = schema_text(schema);
    work(move || {
        let format = core::Format::from_str(&format)?;
        let schema = core::Schema::compile(&text)?;
        let mut opts = core::ValidateOptions::default();
        if let Some(o) = options {
            opts.max_rows = o.max_rows.map(|v| whole("maxRows", v)).transpose()?;
            if let Some(v) = o.error_sample {
                opts.error_sample = whole_usize("errorSample", v)?;
            }
            if let Some(v) = o.threads {
                opts.threads = whole_usize("threads", v)?;
            }
        }
        let mut ignore = |_: &core::RowError| Ok(());
        let v = match path_or_buffer {
            Either::A(path) => core::validate_file(&path, format, &schema, &opts, &mut ignore)?,
            Either::B(buf) => core::validate_bytes(&buf, format, &schema, &opts, &mut ignore)?,
        };
        Ok(Validation {
            total_rows: v.total_rows as f64,
            valid_rows: v.valid_rows as f64,
            error_rows: v.error_rows as f64,
            errors: v.errors.iter().map(RowError::from).collect(),
        })
    })
}

/// The core's request- and file-level error codes, in the design's order.
#[napi(ts_return_type = "Array<ErrorCode>")]
pub fn error_codes() -> Vec<String> {
    core::ERROR_CODES.iter().map(|c| c.to_string()).collect()
}

/// The core's row-level error codes, in the design's order.
#[napi(ts_return_type = "Array<RowErrorCode>")]
pub fn row_error_codes() -> Vec<String> {
    core::ROW_ERROR_CODES
        .iter()
        .map(|c| c.to_string())
        .collect()
}
