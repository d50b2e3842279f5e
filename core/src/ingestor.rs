//! The facade: [`Ingestor`] ties storage, signing, the row engine and the workers together.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::batch::{RowBatch, SinkTable};
use crate::error::{Error, Result};
use crate::format::{self, ResumePoint};
use crate::model::{
    JobError, JobOptions, JobState, JobStatus, Timestamp, UploadTicket, UploadedFile,
};
use crate::pipeline::{self, enforce_unique, ChunkResult, Flow, PassOptions, RowsKept, Start};
use crate::report::{self, ReportKind};
use crate::schema::Schema;
use crate::signing::{new_id, pct_encode, ParsedUrl, SignedRequest, Signer};
use crate::storage::{
    BlobStore, Checkpoint, ChunkCommit, FailedRow, JobRecord, Lease, LocalBlobStore,
    MemoryBlobStore, MemoryStateStore, NewJob, ReceivedInfo, S3Options, SchemaRecord,
    SqliteStateStore, StateStore, UploadRecord,
};
use crate::types::{Format, RowError};
use crate::unique::{KeyScope, UniqueTracker};

/// The tenant of calls that name none.
pub const DEFAULT_TENANT: &str = "default";

/// Options of an [`Ingestor`]. Every field has a default.
#[derive(Clone)]
pub struct IngestorOptions {
    /// Key for signing upload and download URLs. Default: read from (or created in)
    /// `secret.key` under the data directory, so URLs survive restarts; random in memory.
    pub secret: Option<Vec<u8>>,
    /// Base of the URLs the library signs, e.g. `https://api.example.com/bulk`. The upload URL
    /// is `{base_url}/uploads/{fileId}?...`, the download URL `{base_url}/downloads/...`.
    pub base_url: String,
    /// Worker threads running jobs (default 1); 0: the host calls `run_pending` / `run_job`.
    pub workers: usize,
    /// Largest upload accepted, in bytes (default 10 GiB).
    pub max_upload_bytes: u64,
    /// How long a claimed job stays with a silent worker before another may take it over.
    pub lease: Duration,
    /// How often idle workers look for jobs queued by other processes.
    pub poll_interval: Duration,
    /// Validation threads per running job (default: the machine's cores).
    pub threads: usize,
    /// Target bytes per chunk of the row engine.
    pub chunk_size: usize,
    /// Rows per commit (one transaction with their checkpoint).
    pub commit_rows: usize,
    /// Row errors listed in a job's status (default 100).
    pub error_sample: usize,
    /// Scale-out state: a PostgreSQL URL (`postgres://user:password@host:port/db`, optionally
    /// `?schema=NAME`; cargo feature `postgres`) shared by every machine. `None`: SQLite under
    /// the directory given to [`Ingestor::open`].
    pub state: Option<String>,
    /// Scale-out blobs: an object-store URL (`s3://bucket/prefix`; cargo feature `s3`). Uploads
    /// then go from the client straight to the store through its presigned PUT URLs. `None`:
    /// files under the directory given to [`Ingestor::open`].
    pub blobs: Option<String>,
    /// Endpoint, region and credentials of the object store of `blobs` (unset: `AWS_*`).
    pub s3: S3Options,
}

impl Default for IngestorOptions {
    fn default() -> Self {
        IngestorOptions {
            secret: None,
            base_url: "http://127.0.0.1:8080".into(),
            workers: 1,
            max_upload_bytes: 10 << 30,
            lease: Duration::from_secs(30),
            poll_interval: Duration::from_millis(250),
            threads: pipeline::default_threads(),
            chunk_size: 1 << 20,
            commit_rows: 50_000,
            error_sample: 100,
            state: None,
            blobs: None,
            s3: S3Options::default(),
        }
    }
}

/// `create_upload`'s arguments.
#[derive(Debug, Clone, Default)]
pub struct UploadRequest {
    pub file_name: String,
    pub format: Option<Format>,
    /// 1..=86400, default 3600.
    pub expires_in_seconds: Option<i64>,
    pub tenant: Option<String>,
}

/// `start_ingest`'s arguments.
#[derive(Debug, Clone, Default)]
pub struct IngestRequest {
    pub file_id: String,
    pub dataset: String,
    pub schema_version: String,
    /// Free-form JSON object, stored and returned.
    pub metadata: Option<serde_json::Value>,
    pub options: JobOptions,
    pub tenant: Option<String>,
}

/// A download served through a signed URL.
#[derive(Debug, Clone)]
pub struct Download {
    pub content_type: &'static str,
    pub file_name: String,
    pub body: Vec<u8>,
}

/// Facts handed to a sink with each batch.
#[derive(Debug, Clone)]
pub struct SinkContext {
    pub job_id: String,
    pub dataset: String,
    pub schema_version: String,
    pub table: SinkTable,
}

/// A host's own destination for valid rows.
///
/// `write` is called with each batch's accepted rows (positions into `batch`, in row order)
/// inside the commit of their checkpoint: an error rolls the commit back and fails the job
/// with the error's message. A crash between `write` and the commit re-delivers those rows
/// on resume (at-least-once); `RowBatch::row_number` with the job id identifies them.
pub trait Sink: Send + Sync {
    fn write(&self, ctx: &SinkContext, batch: &RowBatch, rows: &[usize]) -> Result<()>;
}

struct Shared {
    state: Arc<dyn StateStore>,
    blobs: Arc<dyn BlobStore>,
    signer: Signer,
    opts: IngestorOptions,
    shutdown: AtomicBool,
    wake: (Mutex<u64>, Condvar),
    schemas: Mutex<HashMap<(String, String), Schema>>,
    sinks: Mutex<HashMap<String, Arc<dyn Sink>>>,
    worker_seq: AtomicU64,
    instance: String,
}

struct Inner {
    shared: Arc<Shared>,
    workers: Mutex<Vec<JoinHandle<()>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.shared.shutdown.store(true, Ordering::SeqCst);
        self.shared.notify();
        let handles = std::mem::take(&mut *self.workers.lock().unwrap_or_else(|e| e.into_inner()));
        for h in handles {
            let _ = h.join();
        }
    }
}

/// The library's facade: cheap to clone, `Send + Sync`. Dropping the last clone stops its
/// workers after their current commit (a job in progress resumes later from its checkpoint).
#[derive(Clone)]
pub struct Ingestor {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Ingestor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ingestor")
            .field("instance", &self.inner.shared.instance)
            .finish()
    }
}

impl Ingestor {
    /// Opens (or creates) the embedded default under `dir`: `bulk-ingest.db` (SQLite, WAL) and
    /// `blobs/`. Several processes may open the same directory.
    ///
    /// With `opts.state` and/or `opts.blobs` set, state goes to that PostgreSQL database and
    /// blobs to that object store instead (scale-out: many machines share them); `dir` then
    /// holds nothing else. Without `opts.secret`, a PostgreSQL state store keeps the signing
    /// secret for every process on it (any node serves the URLs another signed). A URL the
    /// library cannot use is a `STORAGE_ERROR` naming what is wrong.
    pub fn open(dir: impl AsRef<Path>, mut opts: IngestorOptions) -> Result<Self> {
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir).map_err(|e| {
            Error::storage(format!(
                "cannot create data directory {}: {e}",
                dir.display()
            ))
        })?;
        let state: Arc<dyn StateStore> = match opts.state.as_deref() {
            None => Arc::new(SqliteStateStore::open(dir.join("bulk-ingest.db"))?),
            Some(url) => open_state_url(url)?,
        };
        if opts.secret.is_none() {
            // A shared store keeps one secret for every process on it, so any node serves the
            // URLs another signed; otherwise the data directory keeps it.
            opts.secret = match state.shared_secret(&random_bytes(32)?)? {
                Some(s) => Some(s),
                None => Some(load_or_create_secret(&dir.join("secret.key"))?),
            };
        }
        let blobs: Arc<dyn BlobStore> = match opts.blobs.as_deref() {
            None => Arc::new(LocalBlobStore::open(dir.join("blobs"))?),
            Some(url) => open_blob_url(url, &opts.s3)?,
        };
        Self::with_storage(state, blobs, opts)
    }

    /// Everything in memory (tests, one-shot hosts).
    pub fn in_memory(opts: IngestorOptions) -> Result<Self> {
        Self::with_storage(
            Arc::new(MemoryStateStore::new()),
            Arc::new(MemoryBlobStore::new()),
            opts,
        )
    }

    /// Any storage backend.
    pub fn with_storage(
        state: Arc<dyn StateStore>,
        blobs: Arc<dyn BlobStore>,
        opts: IngestorOptions,
    ) -> Result<Self> {
        if opts.lease < Duration::from_millis(100) {
            return Err(Error::invalid("lease must be at least 100 ms"));
        }
        let secret = match &opts.secret {
            Some(s) if s.is_empty() => return Err(Error::invalid("secret must not be empty")),
            Some(s) => s.clone(),
            None => random_bytes(32)?,
        };
        let instance = new_id("worker", Timestamp::now())?;
        let shared = Arc::new(Shared {
            state,
            blobs,
            signer: Signer::new(&secret),
            opts,
            shutdown: AtomicBool::new(false),
            wake: (Mutex::new(0), Condvar::new()),
            schemas: Mutex::new(HashMap::new()),
            sinks: Mutex::new(HashMap::new()),
            worker_seq: AtomicU64::new(0),
            instance,
        });
        let mut handles = Vec::new();
        for n in 0..shared.opts.workers {
            let s = Arc::clone(&shared);
            let h = std::thread::Builder::new()
                .name(format!("bulk-ingest-worker-{n}"))
                .spawn(move || worker_loop(&s))
                .map_err(|e| Error::storage(format!("cannot start a worker thread: {e}")))?;
            handles.push(h);
        }
        Ok(Ingestor {
            inner: Arc::new(Inner {
                shared,
                workers: Mutex::new(handles),
            }),
        })
    }

    fn shared(&self) -> &Shared {
        &self.inner.shared
    }

    /// Registers a schema for `dataset` under `version` (JSON Schema subset or Table Schema,
    /// detected). Versions are immutable: the same document again is fine, another is not.
    pub fn register_schema(
        &self,
        dataset: &str,
        version: &str,
        schema_json: &str,
    ) -> Result<Schema> {
        check_name("dataset", dataset)?;
        check_name("version", version)?;
        let schema = Schema::compile(schema_json)?;
        self.shared().state.put_schema(&SchemaRecord {
            dataset: dataset.to_string(),
            version: version.to_string(),
            dialect: schema.dialect().as_str().to_string(),
            source: schema_json.to_string(),
        })?;
        self.shared()
            .schemas
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert((dataset.to_string(), version.to_string()), schema.clone());
        Ok(schema)
    }

    /// The compiled schema of `dataset` `version` (`SCHEMA_NOT_FOUND` when not registered).
    pub fn schema(&self, dataset: &str, version: &str) -> Result<Schema> {
        self.shared().schema(dataset, version)
    }

    /// Routes valid rows of `dataset` to a host sink instead of the default table.
    pub fn set_sink(&self, dataset: &str, sink: Arc<dyn Sink>) {
        self.shared()
            .sinks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(dataset.to_string(), sink);
    }

    /// Issues an upload ticket.
    pub fn create_upload(&self, req: &UploadRequest) -> Result<UploadTicket> {
        let s = self.shared();
        let (rec, secs) = s.new_upload(req)?;
        let UploadRecord {
            file_id,
            format,
            blob_key,
            expires_at,
            ..
        } = rec;
        let content_type = format.content_type();
        let upload_url =
            match s
                .blobs
                .presign_put(&blob_key, content_type, Duration::from_secs(secs as u64))?
            {
                Some(url) => url,
                None => {
                    let req = SignedRequest {
                        action: "upload".into(),
                        resource: file_id.clone(),
                        expires: expires_at.unix_seconds(),
                        content_type: content_type.into(),
                    };
                    format!(
                        "{}/uploads/{}?expires={}&sig={}",
                        s.opts.base_url.trim_end_matches('/'),
                        file_id,
                        req.expires,
                        s.signer.sign(&req)
                    )
                }
            };
        Ok(UploadTicket {
            file_id,
            upload_url,
            content_type: content_type.into(),
            expires_at,
            upload_instructions: format!(
                "Use PUT method with Content-Type: {content_type} header. Then call POST /ingest with fileId."
            ),
        })
    }

    /// Receives an upload's body sent to its signed URL (`url` may be the full URL or its path
    /// and query). Checks signature, expiry, content type and size; streams the body to the
    /// blob store.
    pub fn receive_upload(
        &self,
        url: &str,
        content_type: &str,
        body: &mut dyn Read,
    ) -> Result<UploadedFile> {
        let s = self.shared();
        let parsed = ParsedUrl::parse(url)?;
        let file_id = parsed.last_segment().to_string();
        let bad = || {
            Error::InvalidSignature(
                "this is not a valid upload URL: use the uploadUrl exactly as issued".into(),
            )
        };
        let expires: i64 = parsed
            .get("expires")
            .and_then(|e| e.parse().ok())
            .ok_or_else(bad)?;
        let sig = parsed.get("sig").ok_or_else(bad)?;
        let upload = s.state.get_upload(&file_id)?.ok_or_else(bad)?;
        let req = SignedRequest {
            action: "upload".into(),
            resource: file_id.clone(),
            expires,
            content_type: upload.format.content_type().into(),
        };
        s.signer.verify(&req, sig, Timestamp::now())?;
        s.store_body(upload, content_type, body)
    }

    /// Takes an upload's body the host received itself from an authenticated caller (a
    /// multipart form field, say): creates the upload and streams the body to the blob store
    /// (in parts to an object store, never whole in memory). Works with every backend,
    /// including those whose upload URLs point at the store.
    pub fn upload_body(
        &self,
        req: &UploadRequest,
        content_type: &str,
        body: &mut dyn Read,
    ) -> Result<UploadedFile> {
        let s = self.shared();
        let (upload, _) = s.new_upload(req)?;
        s.store_body(upload, content_type, body)
    }

    /// The upload `file_id` of `tenant` (`FILE_NOT_FOUND` for another tenant's).
    pub fn upload(&self, file_id: &str, tenant: Option<&str>) -> Result<UploadedFile> {
        let u = self.shared().upload_of(file_id, tenant)?;
        let r = u
            .received
            .ok_or_else(|| Error::UploadNotReceived(file_id.to_string()))?;
        Ok(UploadedFile {
            file_id: u.file_id,
            file_name: u.file_name,
            format: u.format,
            size: r.size,
            sha256: r.sha256,
            received_at: r.received_at,
        })
    }

    /// Checks the uploaded file (format, corruption, CSV template, row limits) and queues a job.
    /// File-level problems are answered here, before a job exists.
    pub fn start_ingest(&self, req: &IngestRequest) -> Result<JobStatus> {
        let s = self.shared();
        if req.file_id.trim().is_empty() {
            return Err(Error::invalid("fileId is required"));
        }
        if req.schema_version.trim().is_empty() {
            return Err(Error::invalid("schemaVersion is required"));
        }
        if req.dataset.trim().is_empty() {
            return Err(Error::invalid("dataset is required"));
        }
        if let Some(m) = &req.metadata {
            if !m.is_object() {
                return Err(Error::invalid("metadata must be a JSON object"));
            }
        }
        let mut upload = s.upload_of(&req.file_id, req.tenant.as_deref())?;
        if upload.received.is_none() && s.blobs.presigns_uploads() {
            upload = s.find_direct_upload(upload)?;
        }
        let received = upload
            .received
            .clone()
            .ok_or_else(|| Error::UploadNotReceived(req.file_id.clone()))?;
        let schema = s.schema(&req.dataset, &req.schema_version)?;
        let etag = received.etag.as_deref();
        let max_rows = match (req.options.max_rows, schema.max_rows()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let check = format::precheck(
            s.blobs.open_version(&upload.blob_key, 0, etag)?,
            upload.format,
            max_rows,
        )?;
        let mut csv_header = None;
        if upload.format == Format::Csv {
            let names = check.csv_header.clone().unwrap_or_default();
            let refs: Vec<&str> = names.iter().map(String::as_str).collect();
            schema.csv_columns(&refs)?;
            let framer = format::Framer::new(
                s.blobs.open_version(&upload.blob_key, 0, etag)?,
                Format::Csv,
                Default::default(),
            )?;
            csv_header = framer.csv_header_raw().map(<[u8]>::to_vec);
        }
        let now = Timestamp::now();
        let job = s.state.insert_job(&NewJob {
            job_id: new_id("job", now)?,
            tenant: upload.tenant.clone(),
            file_id: upload.file_id.clone(),
            dataset: req.dataset.clone(),
            schema_version: req.schema_version.clone(),
            metadata: req.metadata.clone(),
            options: req.options.clone(),
            total_rows: check.total_rows,
            csv_header,
            created_at: now,
        })?;
        debug_assert_eq!(job.blob.size, received.size);
        s.notify();
        s.status(job)
    }

    /// The job's status (`JOB_NOT_FOUND` for an unknown id or another tenant's).
    pub fn job(&self, job_id: &str, tenant: Option<&str>) -> Result<JobStatus> {
        let s = self.shared();
        let job = s.job_of(job_id, tenant)?;
        s.status(job)
    }

    /// Waits until the job is terminal or `timeout` passes; returns its status then.
    pub fn wait(&self, job_id: &str, timeout: Duration, tenant: Option<&str>) -> Result<JobStatus> {
        self.wait_while(job_id, timeout, tenant, &mut || false)
    }

    /// `wait` that also returns early when `interrupted()` says so (checked every few ms):
    /// bindings pass their signal check here.
    pub fn wait_while(
        &self,
        job_id: &str,
        timeout: Duration,
        tenant: Option<&str>,
        interrupted: &mut dyn FnMut() -> bool,
    ) -> Result<JobStatus> {
        let s = self.shared();
        let deadline = Instant::now() + timeout;
        loop {
            let seen = *s.wake.0.lock().unwrap_or_else(|e| e.into_inner());
            let status = self.job(job_id, tenant)?;
            let now = Instant::now();
            if status.status.is_terminal() || now >= deadline || interrupted() {
                return Ok(status);
            }
            let step = (deadline - now).min(Duration::from_millis(50));
            let guard = s.wake.0.lock().unwrap_or_else(|e| e.into_inner());
            if *guard == seen {
                let _ = s.wake.1.wait_timeout(guard, step);
            }
        }
    }

    /// Cancels a queued or processing job.
    pub fn cancel(&self, job_id: &str, tenant: Option<&str>) -> Result<JobStatus> {
        let s = self.shared();
        s.job_of(job_id, tenant)?;
        let job = s.state.cancel_job(job_id, Timestamp::now())?;
        s.notify();
        s.status(job)
    }

    /// Streams a report of the job to `w`.
    pub fn write_report(
        &self,
        job_id: &str,
        kind: ReportKind,
        tenant: Option<&str>,
        w: &mut dyn Write,
    ) -> Result<()> {
        let s = self.shared();
        let job = s.job_of(job_id, tenant)?;
        report::write(s.state.as_ref(), &job, kind, w)
    }

    /// Every row error of the job (`ReportFormat::Csv` or `Ndjson`), as bytes.
    pub fn report(
        &self,
        job_id: &str,
        format: report::ReportFormat,
        tenant: Option<&str>,
    ) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        self.write_report(job_id, ReportKind::Errors(format), tenant, &mut out)?;
        Ok(out)
    }

    /// The job's failed rows in the upload's own format, ready to fix and upload again.
    pub fn failed_rows(&self, job_id: &str, tenant: Option<&str>) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        self.write_report(job_id, ReportKind::FailedRows, tenant, &mut out)?;
        Ok(out)
    }

    /// A signed, expiring URL for a report of the job (served through `download`).
    pub fn signed_report_url(
        &self,
        job_id: &str,
        kind: ReportKind,
        expires_in_seconds: i64,
        tenant: Option<&str>,
    ) -> Result<String> {
        let s = self.shared();
        if !(1..=86_400 * 7).contains(&expires_in_seconds) {
            return Err(Error::invalid(
                "expiresInSeconds must be between 1 and 604800",
            ));
        }
        let job = s.job_of(job_id, tenant)?;
        // With an object store, a finished job's report is written there once and served by
        // the store's presigned GET (it no longer changes); otherwise the host serves it.
        if job.state.is_terminal() && s.blobs.presigns_uploads() {
            if let Some(url) = s.report_in_store(&job, kind, expires_in_seconds)? {
                return Ok(url);
            }
        }
        let expires = Timestamp::now().unix_seconds() + expires_in_seconds;
        let req = SignedRequest {
            action: "download".into(),
            resource: format!("{job_id}/{}", kind.as_str()),
            expires,
            content_type: String::new(),
        };
        Ok(format!(
            "{}/downloads/{}/{}?expires={}&sig={}",
            s.opts.base_url.trim_end_matches('/'),
            job_id,
            pct_encode(kind.as_str()),
            expires,
            s.signer.sign(&req)
        ))
    }

    /// Serves a signed download URL (full URL or path and query).
    pub fn download(&self, url: &str) -> Result<Download> {
        let s = self.shared();
        let parsed = ParsedUrl::parse(url)?;
        let bad = || {
            Error::InvalidSignature(
                "this is not a valid download URL: use it exactly as issued".into(),
            )
        };
        let mut segs = parsed.path.trim_end_matches('/').rsplit('/');
        let kind_s = segs.next().ok_or_else(bad)?.to_string();
        let job_id = segs.next().ok_or_else(bad)?.to_string();
        let expires: i64 = parsed
            .get("expires")
            .and_then(|e| e.parse().ok())
            .ok_or_else(bad)?;
        let sig = parsed.get("sig").ok_or_else(bad)?;
        let req = SignedRequest {
            action: "download".into(),
            resource: format!("{job_id}/{kind_s}"),
            expires,
            content_type: String::new(),
        };
        s.signer
            .verify(&req, sig, Timestamp::now())
            .map_err(|e| match e {
                Error::UploadUrlExpired(_) => Error::UploadUrlExpired(
                    "this download URL has expired; request a new one".into(),
                ),
                e => e,
            })?;
        let kind: ReportKind = kind_s.parse()?;
        let job = s
            .state
            .get_job(&job_id)?
            .ok_or_else(|| Error::JobNotFound(job_id.clone()))?;
        let mut body = Vec::new();
        report::write(s.state.as_ref(), &job, kind, &mut body)?;
        Ok(Download {
            content_type: kind.content_type(job.format),
            file_name: kind.file_name(&job_id, job.format),
            body,
        })
    }

    /// Runs queued jobs on the calling thread until none is left; returns how many ran.
    pub fn run_pending(&self) -> Result<usize> {
        let s = self.shared();
        let worker = s.next_worker_id();
        let mut n = 0;
        while let Some(job) = s
            .state
            .claim_next(&worker, Timestamp::now(), s.opts.lease)?
        {
            s.run_claimed(job, &worker, None);
            n += 1;
        }
        Ok(n)
    }

    /// Runs one job on the calling thread (if it is queued, or its lease expired) and returns
    /// its status afterwards.
    pub fn run_job(&self, job_id: &str, tenant: Option<&str>) -> Result<JobStatus> {
        self.run_job_with_sink(job_id, tenant, None)
    }

    /// `run_job` with valid rows going to `sink` (a binding's callback) instead of the table.
    pub fn run_job_with_sink(
        &self,
        job_id: &str,
        tenant: Option<&str>,
        sink: Option<Arc<dyn Sink>>,
    ) -> Result<JobStatus> {
        let s = self.shared();
        s.job_of(job_id, tenant)?;
        let worker = s.next_worker_id();
        if let Some(job) = s
            .state
            .claim_job(job_id, &worker, Timestamp::now(), s.opts.lease)?
        {
            s.run_claimed(job, &worker, sink);
        }
        self.job(job_id, tenant)
    }

    /// Rows stored in the default sink table of `dataset` under `version`'s schema.
    pub fn stored_rows(&self, dataset: &str, version: &str) -> Result<u64> {
        let schema = self.schema(dataset, version)?;
        self.shared()
            .state
            .count_sink_rows(&SinkTable::for_schema(dataset, &schema))
    }

    /// The storage behind this ingestor.
    pub fn state_store(&self) -> Arc<dyn StateStore> {
        Arc::clone(&self.shared().state)
    }
}

/// The state store of a URL (`postgres://`).
fn open_state_url(url: &str) -> Result<Arc<dyn StateStore>> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        #[cfg(feature = "postgres")]
        return Ok(Arc::new(crate::storage::PgStateStore::open(url)?));
        #[cfg(not(feature = "postgres"))]
        return Err(Error::storage(
            "state URL is a PostgreSQL URL, but this build of bulk-ingest lacks the `postgres` feature",
        ));
    }
    let scheme = url.split_once("://").map(|(s, _)| s).unwrap_or(url);
    Err(Error::storage(format!(
        "state URL scheme '{scheme}' is not supported: use postgres://user@host:port/database (or no URL for SQLite in the data directory)"
    )))
}

/// The blob store of a URL (`s3://`).
fn open_blob_url(url: &str, s3: &S3Options) -> Result<Arc<dyn BlobStore>> {
    if url.starts_with("s3://") {
        #[cfg(feature = "s3")]
        return Ok(Arc::new(crate::storage::S3BlobStore::open(url, s3)?));
        #[cfg(not(feature = "s3"))]
        {
            let _ = s3;
            return Err(Error::storage(format!(
                "blob URL '{url}' is an object-store URL, but this build of bulk-ingest lacks the `s3` feature"
            )));
        }
    }
    let _ = s3;
    let scheme = url.split_once("://").map(|(s, _)| s).unwrap_or(url);
    Err(Error::storage(format!(
        "blob URL scheme '{scheme}' is not supported: use s3://bucket/prefix (or no URL for files in the data directory)"
    )))
}

fn check_name(what: &str, v: &str) -> Result<()> {
    if v.is_empty()
        || v.len() > 64
        || !v
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
    {
        return Err(Error::invalid(format!(
            "{what} '{v}' must be 1..64 characters of letters, digits, '_', '-' or '.'"
        )));
    }
    Ok(())
}

fn tenant_of(t: &Option<String>) -> Result<&str> {
    match t.as_deref() {
        None => Ok(DEFAULT_TENANT),
        Some(t) if t.is_empty() || t.len() > 256 => {
            Err(Error::invalid("tenant must be 1..256 bytes"))
        }
        Some(t) => Ok(t),
    }
}

fn random_bytes(n: usize) -> Result<Vec<u8>> {
    let mut v = vec![0u8; n];
    getrandom::getrandom(&mut v).map_err(|e| Error::storage(format!("no randomness: {e}")))?;
    Ok(v)
}

fn load_or_create_secret(path: &Path) -> Result<Vec<u8>> {
    match std::fs::read(path) {
        Ok(v) if !v.is_empty() => return Ok(v),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(Error::storage(format!(
                "cannot read {}: {e}",
                path.display()
            )))
        }
    }
    let secret = crate::storage::hex(&random_bytes(32)?).into_bytes();
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, &secret)
        .map_err(|e| Error::storage(format!("cannot write {}: {e}", tmp.display())))?;
    // Another process may have won the race: keep whichever landed first.
    if std::fs::hard_link(&tmp, path).is_err() {
        let _ = std::fs::remove_file(&tmp);
        return std::fs::read(path)
            .map_err(|e| Error::storage(format!("cannot read {}: {e}", path.display())));
    }
    let _ = std::fs::remove_file(&tmp);
    Ok(secret)
}

impl Shared {
    fn notify(&self) {
        let mut g = self.wake.0.lock().unwrap_or_else(|e| e.into_inner());
        *g = g.wrapping_add(1);
        self.wake.1.notify_all();
    }

    fn next_worker_id(&self) -> String {
        format!(
            "{}-{}",
            self.instance,
            self.worker_seq.fetch_add(1, Ordering::Relaxed)
        )
    }

    fn schema(&self, dataset: &str, version: &str) -> Result<Schema> {
        let key = (dataset.to_string(), version.to_string());
        if let Some(s) = self
            .schemas
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
        {
            return Ok(s.clone());
        }
        let rec =
            self.state
                .get_schema(dataset, version)?
                .ok_or_else(|| Error::SchemaNotFound {
                    dataset: dataset.to_string(),
                    version: version.to_string(),
                })?;
        let schema = Schema::compile(&rec.source)?;
        self.schemas
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, schema.clone());
        Ok(schema)
    }

    /// An upload the client PUT to the store's presigned URL: finds the object
    /// (`UPLOAD_NOT_RECEIVED` when absent) and records its size, hash and ETag, which the job
    /// then reads exactly.
    fn find_direct_upload(&self, upload: UploadRecord) -> Result<UploadRecord> {
        let Some((size, _)) = self.blobs.head(&upload.blob_key)? else {
            return Err(Error::UploadNotReceived(upload.file_id));
        };
        if size > self.opts.max_upload_bytes {
            return Err(Error::FileTooLarge {
                limit: self.opts.max_upload_bytes,
            });
        }
        let info = self
            .blobs
            .stat(&upload.blob_key)?
            .ok_or_else(|| Error::UploadNotReceived(upload.file_id.clone()))?;
        let received = ReceivedInfo {
            size: info.size,
            sha256: info.sha256,
            etag: info.etag,
            received_at: Timestamp::now(),
        };
        match self
            .state
            .mark_received(&upload.file_id, &upload.blob_key, &received)
        {
            // Another call recorded it first: that record stands.
            Ok(()) | Err(Error::UploadAlreadyReceived(_)) => {}
            Err(e) => return Err(e),
        }
        self.state
            .get_upload(&upload.file_id)?
            .ok_or_else(|| Error::FileNotFound(upload.file_id.clone()))
    }

    /// Validates an upload request and stores the new upload; with the URL lifetime asked.
    fn new_upload(&self, req: &UploadRequest) -> Result<(UploadRecord, i64)> {
        let s = self;
        let file_name = req.file_name.trim();
        if file_name.is_empty() {
            return Err(Error::invalid("fileName is required"));
        }
        if file_name.len() > 1024 {
            return Err(Error::invalid("fileName must be at most 1024 bytes"));
        }
        let format = req
            .format
            .ok_or_else(|| Error::invalid("format is required: one of ndjson, json, csv"))?;
        let secs = req.expires_in_seconds.unwrap_or(3600);
        if !(1..=86_400).contains(&secs) {
            return Err(Error::invalid(format!(
                "expiresInSeconds must be between 1 and 86400 (one day); got {secs}"
            )));
        }
        let tenant = tenant_of(&req.tenant)?;
        let now = Timestamp::now();
        let file_id = new_id("file", now)?;
        let expires_at = Timestamp((now.unix_seconds() + secs) * 1000);
        let blob_key = format!("uploads/{file_id}");
        let rec = UploadRecord {
            file_id,
            tenant: tenant.to_string(),
            file_name: file_name.to_string(),
            format,
            blob_key,
            created_at: now,
            expires_at,
            received: None,
        };
        s.state.insert_upload(&rec)?;
        Ok((rec, secs))
    }

    /// Writes a finished job's report to the blob store (once) and presigns a download of it.
    fn report_in_store(
        &self,
        job: &JobRecord,
        kind: ReportKind,
        expires_in_seconds: i64,
    ) -> Result<Option<String>> {
        let key = format!("reports/{}/{}", job.job_id, kind.as_str());
        if self.blobs.head(&key)?.is_none() {
            // Through a temporary file: a report can be large, and the store reads a body.
            let tmp = std::env::temp_dir().join(format!(
                "bulk-ingest-report-{}-{}",
                std::process::id(),
                new_id("tmp", Timestamp::now())?
            ));
            let written = (|| -> Result<crate::storage::BlobInfo> {
                let io = |e: std::io::Error| {
                    Error::storage(format!("writing a report to {}: {e}", tmp.display()))
                };
                let mut w = std::io::BufWriter::new(std::fs::File::create(&tmp).map_err(io)?);
                report::write(self.state.as_ref(), job, kind, &mut w)?;
                w.flush().map_err(io)?;
                drop(w);
                let mut r = std::fs::File::open(&tmp).map_err(io)?;
                self.blobs.put(&key, &mut r, None)
            })();
            let _ = std::fs::remove_file(&tmp);
            written?;
        }
        self.blobs.presign_download(
            &key,
            Duration::from_secs(expires_in_seconds as u64),
            kind.content_type(job.format),
            &kind.file_name(&job.job_id, job.format),
        )
    }

    /// Stores a received body under an attempt key of its own and records it.
    fn store_body(
        &self,
        upload: UploadRecord,
        content_type: &str,
        body: &mut dyn Read,
    ) -> Result<UploadedFile> {
        let file_id = upload.file_id.clone();
        if upload.received.is_some() {
            return Err(Error::UploadAlreadyReceived(upload.file_id));
        }
        if !upload.format.accepts_content_type(content_type) {
            return Err(Error::UnsupportedMediaType(format!(
                "Content-Type must be {} for this {} upload; got '{}'",
                upload.format.content_type(),
                upload.format,
                content_type
            )));
        }
        // Each attempt writes a blob of its own; the first one recorded wins, so two PUTs racing
        // on one URL never leave one's bytes under the other's hash.
        let attempt = new_id("attempt", Timestamp::now())?;
        let blob_key = format!("{}/{attempt}", upload.blob_key);
        let info = self
            .blobs
            .put(&blob_key, body, Some(self.opts.max_upload_bytes))?;
        let received = ReceivedInfo {
            size: info.size,
            sha256: info.sha256.clone(),
            etag: info.etag.clone(),
            received_at: Timestamp::now(),
        };
        if let Err(e) = self.state.mark_received(&file_id, &blob_key, &received) {
            let _ = self.blobs.delete(&blob_key);
            return Err(e);
        }
        Ok(UploadedFile {
            file_id,
            file_name: upload.file_name,
            format: upload.format,
            size: info.size,
            sha256: info.sha256,
            received_at: received.received_at,
        })
    }

    fn upload_of(&self, file_id: &str, tenant: Option<&str>) -> Result<UploadRecord> {
        let tenant = tenant.unwrap_or(DEFAULT_TENANT);
        self.state
            .get_upload(file_id)?
            .filter(|u| u.tenant == tenant)
            .ok_or_else(|| Error::FileNotFound(file_id.to_string()))
    }

    fn job_of(&self, job_id: &str, tenant: Option<&str>) -> Result<JobRecord> {
        let tenant = tenant.unwrap_or(DEFAULT_TENANT);
        self.state
            .get_job(job_id)?
            .filter(|j| j.tenant == tenant)
            .ok_or_else(|| Error::JobNotFound(job_id.to_string()))
    }

    fn status(&self, job: JobRecord) -> Result<JobStatus> {
        let errors = if job.error_rows > 0 {
            let n = job
                .options
                .error_sample
                .map(|n| n as usize)
                .unwrap_or(self.opts.error_sample);
            self.state.job_errors(&job.job_id, n)?
        } else {
            Vec::new()
        };
        Ok(JobStatus {
            job_id: job.job_id,
            status: job.state,
            total_rows: job.total_rows,
            processed_rows: job.processed_rows,
            error_rows: job.error_rows,
            errors,
            started_at: job.started_at,
            completed_at: job.completed_at,
            created_at: job.created_at,
            file_id: job.file_id,
            dataset: job.dataset,
            schema_version: job.schema_version,
            metadata: job.metadata,
            error: job.error,
        })
    }

    /// Runs a claimed job to its end (or until its lease is lost or it is cancelled). Every
    /// outcome is recorded in the store; nothing is returned.
    fn run_claimed(&self, job: JobRecord, worker: &str, sink: Option<Arc<dyn Sink>>) {
        let lease = Lease {
            job_id: job.job_id.clone(),
            worker: worker.to_string(),
        };
        let lost = AtomicBool::new(false);
        let done = (Mutex::new(false), Condvar::new());
        let outcome = std::thread::scope(|scope| {
            // Heartbeat: keeps the lease while a long stretch is validated or committed.
            scope.spawn(|| {
                let period = self.opts.lease / 3;
                let mut g = done.0.lock().unwrap_or_else(|e| e.into_inner());
                while !*g {
                    let (ng, _) = done
                        .1
                        .wait_timeout(g, period)
                        .unwrap_or_else(|e| e.into_inner());
                    g = ng;
                    if *g {
                        break;
                    }
                    match self
                        .state
                        .heartbeat(&lease, Timestamp::now().plus(self.opts.lease))
                    {
                        Ok(true) => {}
                        Ok(false) => lost.store(true, Ordering::SeqCst),
                        Err(_) => {}
                    }
                }
            });
            let r = self.process(&job, &lease, sink, &lost);
            *done.0.lock().unwrap_or_else(|e| e.into_inner()) = true;
            done.1.notify_all();
            r
        });
        let now = Timestamp::now();
        let _ = match outcome {
            Ok(Some((state, error))) => self.state.finish_job(&lease, state, error.as_ref(), now),
            Ok(None) => Ok(false),
            Err(e) => {
                let err = JobError {
                    code: e.code().to_string(),
                    message: e.to_string(),
                };
                self.state
                    .finish_job(&lease, JobState::Failed, Some(&err), now)
            }
        };
        self.notify();
    }

    /// The job's pass. `Ok(None)`: the lease was lost or the job cancelled (nothing to record).
    fn process(
        &self,
        job: &JobRecord,
        lease: &Lease,
        sink: Option<Arc<dyn Sink>>,
        lost: &AtomicBool,
    ) -> Result<Option<(JobState, Option<JobError>)>> {
        let schema = self.schema(&job.dataset, &job.schema_version)?;
        let table = SinkTable::for_schema(&job.dataset, &schema);
        let sink = sink.or_else(|| {
            self.sinks
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(&job.dataset)
                .cloned()
        });
        let sink_ctx = SinkContext {
            job_id: job.job_id.clone(),
            dataset: job.dataset.clone(),
            schema_version: job.schema_version.clone(),
            table: table.clone(),
        };
        if let Some((size, etag)) = self.blobs.head(&job.blob_key)? {
            if size != job.blob.size || (job.blob.etag.is_some() && etag != job.blob.etag) {
                return Err(Error::CorruptedFile(format!(
                    "the uploaded file changed after the job started (size {} then {size}); upload it again under a new file id",
                    job.blob.size
                )));
            }
        } else {
            return Err(Error::FileNotFound(job.file_id.clone()));
        }
        let cp = job.checkpoint;
        let start = Start {
            resume: (cp.offset > 0).then_some(ResumePoint {
                offset: cp.offset,
                line: cp.line,
            }),
            rows_before: cp.rows,
        };
        // Per-file `unique` fields are checked in memory; after a resume, the keys of the rows
        // before the checkpoint are read again first.
        let mut tracker = UniqueTracker::new(KeyScope::UniqueFields.constraints(&schema));
        if !tracker.is_empty() && cp.rows > 0 {
            pipeline::run(
                self.blobs
                    .open_version(&job.blob_key, 0, job.blob.etag.as_deref())?,
                job.format,
                &schema,
                Start::default(),
                PassOptions {
                    threads: self.opts.threads.max(1),
                    chunk_size: self.opts.chunk_size,
                    rows: RowsKept::KeysOnly,
                    keys: KeyScope::UniqueFields,
                },
                &mut |r: ChunkResult| {
                    let before = (0..r.batch.len())
                        .take_while(|&i| r.batch.row_number(i) <= cp.rows)
                        .count();
                    tracker.check_keys(&r.keys, before);
                    let last = r
                        .batch
                        .len()
                        .checked_sub(1)
                        .map(|i| r.batch.row_number(i))
                        .unwrap_or(0);
                    let last_failed = r.failed.last().map(|f| f.0).unwrap_or(0);
                    Ok(if last.max(last_failed) >= cp.rows {
                        Flow::Stop
                    } else {
                        Flow::Continue
                    })
                },
            )?;
        }
        // A resumed job reads the file's start (header, sniff) and then, unless it is gzip,
        // only from the checkpoint on (a ranged read); a gzip file is read through again.
        let head = self
            .blobs
            .open_version(&job.blob_key, 0, job.blob.etag.as_deref())?;
        let open_at = |offset: u64| {
            if offset > job.blob.size {
                return Err(Error::CorruptedFile(format!(
                    "file ends at byte {}, before the resume offset {offset}",
                    job.blob.size
                )));
            }
            self.blobs
                .open_version(&job.blob_key, offset, job.blob.etag.as_deref())
        };
        let max_errors = job.options.max_error_rows;
        let mut group = Group::new(schema.fields().len());
        let mut rows_seen = cp.rows;
        let mut result: Option<(JobState, Option<JobError>)> = None;
        let mut error_rows = job.error_rows;
        let mut processed = job.processed_rows;
        let mut last_commit = Instant::now();
        let commit = |group: &mut Group, rows_seen: u64| -> Result<Option<(u64, u64)>> {
            let failed: Vec<FailedRow<'_>> = group
                .failed
                .iter()
                .map(|(row, line, data, range)| FailedRow {
                    row: *row,
                    line: *line,
                    raw: data
                        .get(range.start as usize..range.end as usize)
                        .unwrap_or(&[]),
                })
                .collect();
            let c = ChunkCommit {
                rows: &group.batch,
                table: &table,
                store_rows: sink.is_none(),
                errors: &group.errors,
                failed: &failed,
                checkpoint: Checkpoint {
                    offset: group.end.offset,
                    line: group.end.line,
                    rows: rows_seen,
                },
                lease_until: Timestamp::now().plus(self.opts.lease),
            };
            let mut cb = |b: &RowBatch, rows: &[usize]| -> Result<()> {
                match &sink {
                    Some(s) => s.write(&sink_ctx, b, rows),
                    None => Ok(()),
                }
            };
            let out = self.state.commit_chunk(
                lease,
                &c,
                if sink.is_some() { Some(&mut cb) } else { None },
            )?;
            drop(failed);
            group.clear();
            self.notify();
            Ok(out.map(|o| (o.processed_rows, o.error_rows)))
        };
        pipeline::run_seek(
            head,
            open_at,
            job.format,
            &schema,
            start,
            PassOptions {
                threads: self.opts.threads.max(1),
                chunk_size: self.opts.chunk_size,
                rows: RowsKept::All,
                keys: KeyScope::UniqueFields,
            },
            &mut |mut r: ChunkResult| {
                if lost.load(Ordering::SeqCst) || self.shutdown.load(Ordering::SeqCst) {
                    return Ok(Flow::Stop);
                }
                enforce_unique(&mut r, &mut tracker, &schema);
                rows_seen += r.rows;
                group.add(r);
                let full = group.batch.len() + group.failed.len() >= self.opts.commit_rows
                    || last_commit.elapsed() >= Duration::from_secs(1)
                    || group.is_last;
                if !full {
                    return Ok(Flow::Continue);
                }
                last_commit = Instant::now();
                match commit(&mut group, rows_seen)? {
                    None => {
                        lost.store(true, Ordering::SeqCst);
                        Ok(Flow::Stop)
                    }
                    Some((p, e)) => {
                        processed = p;
                        error_rows = e;
                        if let Some(limit) = max_errors {
                            if e > limit {
                                let err = Error::ErrorLimitExceeded { limit };
                                result = Some((
                                    JobState::Failed,
                                    Some(JobError {
                                        code: err.code().into(),
                                        message: err.to_string(),
                                    }),
                                ));
                                return Ok(Flow::Stop);
                            }
                        }
                        Ok(Flow::Continue)
                    }
                }
            },
        )?;
        if lost.load(Ordering::SeqCst) || self.shutdown.load(Ordering::SeqCst) {
            return Ok(None);
        }
        if let Some(r) = result {
            return Ok(Some(r));
        }
        if !group.is_empty() {
            match commit(&mut group, rows_seen)? {
                None => return Ok(None),
                Some((p, e)) => {
                    processed = p;
                    error_rows = e;
                }
            }
        }
        if let Some(limit) = max_errors {
            if error_rows > limit {
                let err = Error::ErrorLimitExceeded { limit };
                return Ok(Some((
                    JobState::Failed,
                    Some(JobError {
                        code: err.code().into(),
                        message: err.to_string(),
                    }),
                )));
            }
        }
        Ok(Some(if processed == 0 && error_rows == 0 {
            (
                JobState::Failed,
                Some(JobError {
                    code: "INVALID_FILE_FORMAT".into(),
                    message: "the file has no data rows".into(),
                }),
            )
        } else if processed == 0 {
            // Every row failed: the row errors say why.
            (JobState::Failed, None)
        } else if error_rows > 0 {
            (JobState::PartiallyCompleted, None)
        } else {
            (JobState::Completed, None)
        }))
    }
}

/// Chunk results gathered into one commit.
struct Group {
    batch: RowBatch,
    errors: Vec<RowError>,
    failed: Vec<(u64, Option<u64>, Arc<Vec<u8>>, std::ops::Range<u32>)>,
    end: ResumePoint,
    is_last: bool,
    chunks: usize,
}

impl Group {
    fn new(ncols: usize) -> Self {
        Group {
            batch: RowBatch::new(ncols),
            errors: Vec::new(),
            failed: Vec::new(),
            end: ResumePoint::default(),
            is_last: false,
            chunks: 0,
        }
    }
    fn add(&mut self, r: ChunkResult) {
        self.batch.append(r.batch);
        self.errors.extend(r.errors);
        self.failed.extend(
            r.failed
                .into_iter()
                .map(|(row, line, range)| (row, line, Arc::clone(&r.data), range)),
        );
        self.end = r.end;
        self.is_last = r.is_last;
        self.chunks += 1;
    }
    fn is_empty(&self) -> bool {
        self.chunks == 0
    }
    fn clear(&mut self) {
        *self = Group::new(self.batch.columns());
    }
}

fn worker_loop(s: &Arc<Shared>) {
    let worker = s.next_worker_id();
    while !s.shutdown.load(Ordering::SeqCst) {
        let seen = *s.wake.0.lock().unwrap_or_else(|e| e.into_inner());
        match s.state.claim_next(&worker, Timestamp::now(), s.opts.lease) {
            Ok(Some(job)) => {
                s.run_claimed(job, &worker, None);
                continue;
            }
            Ok(None) => {}
            Err(_) => {}
        }
        let guard = s.wake.0.lock().unwrap_or_else(|e| e.into_inner());
        if *guard == seen && !s.shutdown.load(Ordering::SeqCst) {
            let _ = s.wake.1.wait_timeout(guard, s.opts.poll_interval);
        }
    }
}
