//! Storage behind two traits: a [`BlobStore`] for file bodies and reports, and a
//! [`StateStore`] for schemas, uploads, jobs, checkpoints, row errors and the default sink.
//!
//! The traits are shaped for every backend the design names: the embedded SQLite + local
//! directory default, the in-memory backend for tests, and PostgreSQL + an S3-compatible store
//! (presigned URLs, ranged reads, `SELECT ... FOR UPDATE SKIP LOCKED` claims). One conformance
//! suite ([`conformance`]) is run against each.

use std::io::Read;
use std::time::Duration;

use crate::batch::{RowBatch, SinkTable};
use crate::error::Result;
use crate::model::{JobError, JobOptions, JobState, Timestamp};
use crate::types::{Format, RowError};

mod local;
mod memory;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "s3")]
mod s3;
mod sqlite;

#[cfg(any(test, feature = "conformance"))]
pub mod conformance;

#[cfg(feature = "postgres")]
pub use self::postgres::PgStateStore;
pub use local::LocalBlobStore;
pub(crate) use memory::hex;
pub use memory::{MemoryBlobStore, MemoryStateStore};
#[cfg(feature = "s3")]
pub use s3::S3BlobStore;
pub use sqlite::SqliteStateStore;

/// Where and how to reach an S3-compatible object store (used with the `s3` feature); unset
/// fields come from the usual `AWS_*` variables (`AWS_ENDPOINT_URL`, `AWS_REGION`,
/// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_ALLOW_HTTP`).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct S3Options {
    /// Endpoint of an S3-compatible server, e.g. `http://127.0.0.1:9000` (path-style requests).
    /// Unset: AWS S3.
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    /// Allow `http://` endpoints (default: when the endpoint is `http://`).
    pub allow_http: Option<bool>,
}

impl std::fmt::Debug for S3Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Options")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field(
                "secret_access_key",
                &self.secret_access_key.as_ref().map(|_| "***"),
            )
            .field("allow_http", &self.allow_http)
            .finish()
    }
}

/// What a blob store knows of a stored body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobInfo {
    pub size: u64,
    /// Hex SHA-256 of the body.
    pub sha256: String,
    /// The store's version tag (object stores' ETag); `None` where the store has none.
    pub etag: Option<String>,
}

/// File bodies and generated files.
pub trait BlobStore: Send + Sync {
    /// Streams `body` into `key`, at most `limit` bytes (`FILE_TOO_LARGE` beyond, and then
    /// nothing is left behind). The blob appears whole or not at all.
    fn put(&self, key: &str, body: &mut dyn Read, limit: Option<u64>) -> Result<BlobInfo>;
    /// Reads a blob from byte `offset` on. A missing key is `FILE_NOT_FOUND`.
    fn open(&self, key: &str, offset: u64) -> Result<Box<dyn Read + Send>>;
    /// Reads a blob from byte `offset` on, provided it is still the version tagged `etag`
    /// (`CORRUPTED_FILE` when it was overwritten since). Stores without version tags read
    /// whatever is there.
    fn open_version(
        &self,
        key: &str,
        offset: u64,
        _etag: Option<&str>,
    ) -> Result<Box<dyn Read + Send>> {
        self.open(key, offset)
    }
    /// Size and hash of a stored blob, `None` when absent.
    fn stat(&self, key: &str) -> Result<Option<BlobInfo>>;
    /// Size and version tag of a stored blob, `None` when absent: what `stat` says without
    /// the hash (which an object store may have to read the whole blob for).
    fn head(&self, key: &str) -> Result<Option<(u64, Option<String>)>> {
        Ok(self.stat(key)?.map(|i| (i.size, i.etag)))
    }
    /// Removes a blob; a missing key is not an error.
    fn delete(&self, key: &str) -> Result<()>;
    /// A URL at which a client can PUT `key` itself (object stores' presigned URLs). `None`:
    /// the host receives uploads and calls `receive_upload`.
    fn presign_put(
        &self,
        _key: &str,
        _content_type: &str,
        _expires: Duration,
    ) -> Result<Option<String>> {
        Ok(None)
    }
    /// Whether `presign_put` gives URLs: clients then PUT uploads to the store itself, and
    /// `start_ingest` finds the object there.
    fn presigns_uploads(&self) -> bool {
        false
    }
    /// A URL at which a client can GET `key` itself. `None`: the host serves downloads.
    fn presign_get(&self, _key: &str, _expires: Duration) -> Result<Option<String>> {
        Ok(None)
    }
    /// `presign_get` for a download: the response carries `content_type` and an attachment
    /// named `file_name` (both folded into the signature).
    fn presign_download(
        &self,
        key: &str,
        expires: Duration,
        _content_type: &str,
        _file_name: &str,
    ) -> Result<Option<String>> {
        self.presign_get(key, expires)
    }
}

/// A registered schema as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaRecord {
    pub dataset: String,
    pub version: String,
    pub dialect: String,
    pub source: String,
}

/// An upload as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadRecord {
    pub file_id: String,
    pub tenant: String,
    pub file_name: String,
    pub format: Format,
    pub blob_key: String,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    /// Set once the body is stored.
    pub received: Option<ReceivedInfo>,
}

/// Facts about a received body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedInfo {
    pub size: u64,
    pub sha256: String,
    pub etag: Option<String>,
    pub received_at: Timestamp,
}

/// Where a job has got to: everything before `offset` is committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Checkpoint {
    /// Byte offset in the decoded stream of the first byte not yet consumed.
    pub offset: u64,
    /// 1-based line number at `offset`.
    pub line: u64,
    /// Data rows consumed (valid or not) before `offset`.
    pub rows: u64,
}

/// A job as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct JobRecord {
    pub job_id: String,
    pub tenant: String,
    pub file_id: String,
    pub dataset: String,
    pub schema_version: String,
    pub format: Format,
    pub blob_key: String,
    /// The blob's facts when the job was started: a job reads exactly that version.
    pub blob: ReceivedInfo,
    pub metadata: Option<serde_json::Value>,
    pub options: JobOptions,
    pub state: JobState,
    pub total_rows: Option<u64>,
    pub processed_rows: u64,
    pub error_rows: u64,
    pub checkpoint: Checkpoint,
    /// The CSV header record as it was in the file (for the failed-rows file).
    pub csv_header: Option<Vec<u8>>,
    pub error: Option<JobError>,
    pub created_at: Timestamp,
    pub started_at: Option<Timestamp>,
    pub completed_at: Option<Timestamp>,
    /// The worker holding the job, and until when.
    pub lease_owner: Option<String>,
    pub lease_until: Option<Timestamp>,
    /// How many times the job was claimed.
    pub attempts: u32,
}

/// Proof that a worker holds a job: every write of the worker names it, and the store refuses
/// writes from a worker whose lease was taken over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub job_id: String,
    pub worker: String,
}

/// One rejected row's original bytes (for the failed-rows file).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailedRow<'a> {
    pub row: u64,
    pub line: Option<u64>,
    pub raw: &'a [u8],
}

/// What one commit of a worker carries: the valid rows of a stretch of the file, the rows that
/// failed in it, and the checkpoint after it. All of it commits in one transaction, or none.
pub struct ChunkCommit<'a> {
    /// Valid rows (the key rule not yet applied).
    pub rows: &'a RowBatch,
    /// The table the rows go to, with its key columns.
    pub table: &'a SinkTable,
    /// Store the rows in the store's own sink table (the default sink). When false only the
    /// keys are recorded (a host sink receives the rows).
    pub store_rows: bool,
    /// Row errors of the rows that failed validation, ordered by row.
    pub errors: &'a [RowError],
    /// The original bytes of the rows that failed validation, ordered by row.
    pub failed: &'a [FailedRow<'a>],
    /// The checkpoint after this stretch.
    pub checkpoint: Checkpoint,
    /// Until when the lease is extended by this commit.
    pub lease_until: Timestamp,
}

/// What a commit did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CommitOutcome {
    /// Positions in `rows` of rows rejected because their key is already stored (UNIQUE).
    pub duplicates: Vec<usize>,
    /// Counts after the commit.
    pub processed_rows: u64,
    pub error_rows: u64,
}

/// Called inside the commit's transaction with the rows that passed the key rule (a host sink);
/// an error rolls the whole commit back.
pub type SinkCallback<'a> = &'a mut dyn FnMut(&RowBatch, &[usize]) -> Result<()>;

/// A new job's facts.
#[derive(Debug, Clone, PartialEq)]
pub struct NewJob {
    pub job_id: String,
    pub tenant: String,
    pub file_id: String,
    pub dataset: String,
    pub schema_version: String,
    pub metadata: Option<serde_json::Value>,
    pub options: JobOptions,
    pub total_rows: u64,
    pub csv_header: Option<Vec<u8>>,
    pub created_at: Timestamp,
}

/// One page of a job's failed rows as SQL stores read them (id, row, line, raw bytes), ordered by
/// row, each handed to `f` with its errors taken from `errors` (the same rows' errors, ordered by
/// row): the merge both SQL backends' `for_each_failed_row` share.
pub(crate) fn pair_failed_rows(
    page: &[(i64, i64, Option<i64>, Vec<u8>)],
    errors: &[RowError],
    f: &mut dyn FnMut(u64, Option<u64>, &[u8], &[RowError]) -> Result<()>,
) -> Result<()> {
    let mut ei = 0;
    for (_, row, line, raw) in page {
        let row = *row as u64;
        while errors.get(ei).is_some_and(|e| e.row < row) {
            ei += 1;
        }
        let start = ei;
        while errors.get(ei).is_some_and(|e| e.row == row) {
            ei += 1;
        }
        f(
            row,
            line.map(|l| l as u64),
            raw,
            errors.get(start..ei).unwrap_or(&[]),
        )?;
    }
    Ok(())
}

impl JobRecord {
    /// The record a store keeps for a job it has just queued: `job` as asked, on the upload's
    /// received body (`format`, `blob_key`, `blob`), nothing processed yet. Every backend stores
    /// exactly this, so they agree on a new job's fields.
    pub fn queued(job: &NewJob, format: Format, blob_key: String, blob: ReceivedInfo) -> Self {
        JobRecord {
            job_id: job.job_id.clone(),
            tenant: job.tenant.clone(),
            file_id: job.file_id.clone(),
            dataset: job.dataset.clone(),
            schema_version: job.schema_version.clone(),
            format,
            blob_key,
            blob,
            metadata: job.metadata.clone(),
            options: job.options.clone(),
            state: JobState::Queued,
            total_rows: Some(job.total_rows),
            processed_rows: 0,
            error_rows: 0,
            checkpoint: Checkpoint::default(),
            csv_header: job.csv_header.clone(),
            error: None,
            created_at: job.created_at,
            started_at: None,
            completed_at: None,
            lease_owner: None,
            lease_until: None,
            attempts: 0,
        }
    }
}

/// Schemas, uploads, jobs, checkpoints, row errors and the default sink.
///
/// Every state change is checked against the state machine inside the store's transaction
/// (`INVALID_STATE_TRANSITION` otherwise), so concurrent processes cannot race past it.
pub trait StateStore: Send + Sync {
    /// Stores a schema. Registering the same document again is a no-op; another document
    /// under an existing version is `INVALID_REQUEST` (versions are immutable).
    fn put_schema(&self, rec: &SchemaRecord) -> Result<()>;
    fn get_schema(&self, dataset: &str, version: &str) -> Result<Option<SchemaRecord>>;

    fn insert_upload(&self, rec: &UploadRecord) -> Result<()>;
    /// The upload, whatever its tenant (the caller checks tenancy).
    fn get_upload(&self, file_id: &str) -> Result<Option<UploadRecord>>;
    /// Records the body's facts and the blob key it was written under (each receiving attempt
    /// writes its own blob, so two racing PUTs never mix bytes: the first recorded wins);
    /// `UPLOAD_ALREADY_RECEIVED` when a body was recorded before, and then nothing changes.
    fn mark_received(&self, file_id: &str, blob_key: &str, info: &ReceivedInfo) -> Result<()>;

    /// Creates a queued job for a received upload (`UPLOAD_NOT_RECEIVED` otherwise).
    fn insert_job(&self, job: &NewJob) -> Result<JobRecord>;
    /// The job, whatever its tenant (the caller checks tenancy).
    fn get_job(&self, job_id: &str) -> Result<Option<JobRecord>>;
    /// The first `limit` row errors of a job, ordered by row.
    fn job_errors(&self, job_id: &str, limit: usize) -> Result<Vec<RowError>>;
    /// Every failed row of a job in row order with its errors and original bytes.
    #[allow(clippy::type_complexity)]
    fn for_each_failed_row(
        &self,
        job_id: &str,
        f: &mut dyn FnMut(u64, Option<u64>, &[u8], &[RowError]) -> Result<()>,
    ) -> Result<()>;

    /// Claims the oldest queued job, or a processing job whose lease expired before `now`
    /// (which goes back through queued and resumes from its checkpoint).
    fn claim_next(
        &self,
        worker: &str,
        now: Timestamp,
        lease: Duration,
    ) -> Result<Option<JobRecord>>;
    /// Claims one given job on the same terms; `None` when it is not claimable.
    fn claim_job(
        &self,
        job_id: &str,
        worker: &str,
        now: Timestamp,
        lease: Duration,
    ) -> Result<Option<JobRecord>>;
    /// Extends a lease; `false` when the worker no longer holds the job (taken over,
    /// cancelled, or finished).
    fn heartbeat(&self, lease: &Lease, until: Timestamp) -> Result<bool>;
    /// Commits a stretch of the file: rows (key rule applied in order, first occurrence wins),
    /// errors, failed rows, counts and the checkpoint, in one transaction. `Ok(None)` when the
    /// lease is no longer held (nothing was written).
    fn commit_chunk(
        &self,
        lease: &Lease,
        commit: &ChunkCommit<'_>,
        sink: Option<SinkCallback<'_>>,
    ) -> Result<Option<CommitOutcome>>;
    /// Moves a held job to a terminal state; `false` when the lease is no longer held.
    fn finish_job(
        &self,
        lease: &Lease,
        state: JobState,
        error: Option<&JobError>,
        now: Timestamp,
    ) -> Result<bool>;
    /// Cancels a queued or processing job (`INVALID_STATE_TRANSITION` from a terminal state).
    fn cancel_job(&self, job_id: &str, now: Timestamp) -> Result<JobRecord>;
    /// Ids of jobs in a state, oldest first (for hosts and tests).
    fn jobs_in_state(&self, state: JobState) -> Result<Vec<String>>;
    /// Rows stored in the default sink table of a dataset (for hosts and tests).
    fn count_sink_rows(&self, table: &SinkTable) -> Result<u64>;
    /// The URL-signing secret shared by every process on this store: `candidate` becomes it
    /// when none is stored yet (the first process wins). `None`: the store keeps no secret and
    /// each host keeps its own (the embedded default keeps it in the data directory).
    fn shared_secret(&self, _candidate: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(None)
    }
}

/// The `UNIQUE` row error for row `i` of `batch`, whose key `key_text` is already stored.
pub(crate) fn unique_error(
    table: &SinkTable,
    batch: &RowBatch,
    i: usize,
    key_text: &str,
) -> RowError {
    let key = table.key.as_deref().unwrap_or(&[]);
    let names: Vec<&str> = key
        .iter()
        .filter_map(|&c| table.columns.get(c).map(|(n, _)| n.as_str()))
        .collect();
    let shown: String = key_text.replace('\u{1f}', ", ").chars().take(80).collect();
    let meta = batch.meta(i);
    RowError {
        row: meta.row,
        line: meta.line,
        field: Some(names.join(",")),
        code: crate::types::RowErrorCode::Unique,
        message: format!(
            "{}: \"{}\" duplicates a row already ingested (the primary key must be unique)",
            names.join(","),
            shown
        ),
    }
}

/// What the primary-key rule mixes (XOR) into a row's key hash so tenants do not share key
/// spaces. For one tenant the mix is a bijection of the key hash (equal key hashes stay equal,
/// different ones stay different). Stored on disk: fixed forever.
pub(crate) fn tenant_hash(tenant: &str) -> u64 {
    // FNV-1a over the tenant's bytes, then the murmur3 finaliser.
    let mut t: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in tenant.as_bytes() {
        t = (t ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    t ^= tenant.len() as u64;
    t ^= t >> 33;
    t = t.wrapping_mul(0xff51_afd7_ed55_8ccd);
    t ^= t >> 33;
    t = t.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    t ^ (t >> 33)
}

/// What the primary-key rule puts before a row's key text (the engine's
/// [`key_text`](crate::batch::RowBatch::key_text)) so tenants do not share key spaces: the
/// tenant, then U+001F. A U+001E or U+001F inside the tenant is escaped by a U+001E, so the
/// tenant part always ends at the first unescaped U+001F and no two tenants' texts meet.
pub(crate) fn tenant_key_prefix(tenant: &str) -> String {
    let mut out = String::with_capacity(tenant.len() + 1);
    for c in tenant.chars() {
        if c == '\u{1e}' || c == '\u{1f}' {
            out.push('\u{1e}');
        }
        out.push(c);
    }
    out.push('\u{1f}');
    out
}

/// Checks a state move against the state machine.
pub(crate) fn check_transition(job_id: &str, from: JobState, to: JobState) -> Result<()> {
    if from.can_move_to(to) {
        Ok(())
    } else {
        Err(crate::error::Error::InvalidStateTransition {
            job_id: job_id.to_string(),
            from: from.as_str().to_string(),
            to: to.as_str().to_string(),
        })
    }
}
