//! The scale-out state store: PostgreSQL through the synchronous `postgres` crate (feature
//! `postgres`).
//!
//! Many processes on many machines share one database. Row locks stand in for SQLite's single
//! writer: a worker claims a job with `SELECT ... FOR UPDATE SKIP LOCKED` (claimers skip each
//! other's candidates instead of queueing behind them), and every write of a worker locks its
//! job row first and checks the lease there, so a takeover and a late write never interleave.
//! A chunk's sink rows (written with `COPY ... (FORMAT binary)`), keys, row errors, failed rows,
//! counts and checkpoint commit in one transaction. The primary-key rule is a unique index
//! (`"{table}__keys"(k bytea PRIMARY KEY)`): two workers inserting the same key serialise on
//! it, and the second sees the first's key once it commits.

mod sink;

use std::collections::HashSet;
use std::fmt;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use postgres::error::SqlState;
use postgres::{Client, GenericClient, NoTls, Row, Transaction};

use super::{
    check_transition, unique_error, Checkpoint, ChunkCommit, CommitOutcome, JobRecord, Lease,
    NewJob, ReceivedInfo, SchemaRecord, SinkCallback, StateStore, UploadRecord,
};
use crate::batch::SinkTable;
use crate::error::{Error, Result};
use crate::model::{JobError, JobOptions, JobState, Timestamp};
use crate::types::{Format, RowError, RowErrorCode};

/// Failed rows read per page by `for_each_failed_row`.
const FAILED_PAGE: i64 = 512;
/// Idle connections kept for reuse.
const MAX_IDLE: usize = 16;

/// The schema steps, in order: step `i` brings the recorded version from `i` to `i + 1`.
/// A step is never edited once released: a change is a new step at the end.
pub(crate) const MIGRATIONS: &[&str] = &[
    // 1: schemas, uploads, jobs, row errors and failed rows.
    "CREATE TABLE schemas (
        dataset TEXT NOT NULL,
        version TEXT NOT NULL,
        dialect TEXT NOT NULL,
        source  TEXT NOT NULL,
        PRIMARY KEY (dataset, version)
    );
    CREATE TABLE uploads (
        file_id     TEXT PRIMARY KEY,
        tenant      TEXT NOT NULL,
        file_name   TEXT NOT NULL,
        format      TEXT NOT NULL,
        blob_key    TEXT NOT NULL,
        created_at  BIGINT NOT NULL,
        expires_at  BIGINT NOT NULL,
        size        BIGINT,
        sha256      TEXT,
        etag        TEXT,
        received_at BIGINT
    );
    CREATE TABLE jobs (
        id               BIGSERIAL PRIMARY KEY,
        job_id           TEXT NOT NULL UNIQUE,
        tenant           TEXT NOT NULL,
        file_id          TEXT NOT NULL,
        dataset          TEXT NOT NULL,
        schema_version   TEXT NOT NULL,
        format           TEXT NOT NULL,
        blob_key         TEXT NOT NULL,
        blob_size        BIGINT NOT NULL,
        blob_sha256      TEXT NOT NULL,
        blob_etag        TEXT,
        blob_received_at BIGINT NOT NULL,
        metadata         TEXT,
        options          TEXT NOT NULL,
        state            TEXT NOT NULL,
        total_rows       BIGINT,
        processed_rows   BIGINT NOT NULL DEFAULT 0,
        error_rows       BIGINT NOT NULL DEFAULT 0,
        cp_offset        BIGINT NOT NULL DEFAULT 0,
        cp_line          BIGINT NOT NULL DEFAULT 0,
        cp_rows          BIGINT NOT NULL DEFAULT 0,
        csv_header       BYTEA,
        error_code       TEXT,
        error_message    TEXT,
        created_at       BIGINT NOT NULL,
        started_at       BIGINT,
        completed_at     BIGINT,
        lease_owner      TEXT,
        lease_until      BIGINT,
        attempts         INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX jobs_by_state ON jobs (state, id);
    CREATE INDEX jobs_claimable ON jobs (id) WHERE state IN ('queued', 'processing');
    CREATE TABLE row_errors (
        id      BIGSERIAL PRIMARY KEY,
        job_id  TEXT NOT NULL,
        row     BIGINT NOT NULL,
        seq     INTEGER NOT NULL,
        line    BIGINT,
        field   TEXT,
        code    TEXT NOT NULL,
        message TEXT NOT NULL
    );
    CREATE INDEX row_errors_by_row ON row_errors (job_id, row, seq, id);
    CREATE TABLE failed_rows (
        id     BIGSERIAL PRIMARY KEY,
        job_id TEXT NOT NULL,
        row    BIGINT NOT NULL,
        line   BIGINT,
        raw    BYTEA NOT NULL
    );
    CREATE INDEX failed_rows_by_row ON failed_rows (job_id, row, id);",
    // 2: settings shared by every process (the URL-signing secret).
    "CREATE TABLE settings (
        name  TEXT PRIMARY KEY,
        value BYTEA NOT NULL
    );",
];

/// Maps a PostgreSQL error to `STORAGE_ERROR`, saying which operation failed.
pub(crate) fn db_err<D: fmt::Display>(op: D) -> impl FnOnce(postgres::Error) -> Error {
    move |e| {
        let msg = match e.as_db_error() {
            Some(db) => format!(
                "{op}: PostgreSQL error {}: {}{}",
                db.code().code(),
                db.message(),
                db.detail().map(|d| format!(" ({d})")).unwrap_or_default()
            ),
            None if e.is_closed() => format!("{op}: the connection to PostgreSQL was closed ({e})"),
            None => format!("{op}: {e}"),
        };
        Error::Storage(msg)
    }
}

fn is_unique_violation(e: &postgres::Error) -> bool {
    e.code() == Some(&SqlState::UNIQUE_VIOLATION)
}

fn bad_value(what: &str, e: impl fmt::Display) -> Error {
    Error::storage(format!(
        "the database holds a {what} that does not parse: {e}"
    ))
}

fn opt_u64(v: Option<i64>) -> Option<u64> {
    v.map(|v| v as u64)
}

/// Connections to one database: reused when idle, opened on demand.
struct Pool {
    config: postgres::Config,
    idle: Mutex<Vec<Client>>,
}

/// A connection taken from the pool; goes back when dropped (unless it broke).
struct Conn<'a> {
    client: Option<Client>,
    pool: &'a Pool,
}

impl std::ops::Deref for Conn<'_> {
    type Target = Client;
    fn deref(&self) -> &Client {
        self.client.as_ref().expect("connection present until drop")
    }
}

impl std::ops::DerefMut for Conn<'_> {
    fn deref_mut(&mut self) -> &mut Client {
        self.client.as_mut().expect("connection present until drop")
    }
}

impl Drop for Conn<'_> {
    fn drop(&mut self) {
        if let Some(c) = self.client.take() {
            if !c.is_closed() {
                let mut idle = self.pool.lock();
                if idle.len() < MAX_IDLE {
                    idle.push(c);
                }
            }
        }
    }
}

impl Pool {
    fn lock(&self) -> MutexGuard<'_, Vec<Client>> {
        self.idle.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn get(&self) -> Result<Conn<'_>> {
        let client = match self.lock().pop() {
            Some(c) => c,
            None => self
                .config
                .connect(NoTls)
                .map_err(db_err("connecting to PostgreSQL"))?,
        };
        Ok(Conn {
            client: Some(client),
            pool: self,
        })
    }
}

/// Schemas, uploads, jobs, row errors and the default sink in one PostgreSQL database, shared
/// by any number of processes. A host sink callback runs inside `commit_chunk`'s transaction.
pub struct PgStateStore {
    pool: Pool,
    /// Sink and key tables known to exist (committed), with the columns made sure of.
    known: Mutex<HashSet<String>>,
}

impl fmt::Debug for PgStateStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgStateStore").finish_non_exhaustive()
    }
}

/// Splits the library's own `schema=NAME` parameter off a PostgreSQL URL.
fn split_schema(url: &str) -> Result<(String, Option<String>)> {
    let Some((base, query)) = url.split_once('?') else {
        return Ok((url.to_string(), None));
    };
    let mut schema = None;
    let mut rest = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.strip_prefix("schema=") {
            Some(s) => schema = Some(s.to_string()),
            None => rest.push(pair),
        }
    }
    let url = if rest.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", rest.join("&"))
    };
    Ok((url, schema))
}

fn check_schema_name(s: &str) -> Result<()> {
    let ok = !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && !s.as_bytes()[0].is_ascii_digit();
    if ok {
        Ok(())
    } else {
        Err(Error::storage(format!(
            "PostgreSQL URL: schema '{s}' is not valid (use lower-case letters, digits and _, at most 63, not starting with a digit)"
        )))
    }
}

impl PgStateStore {
    /// Connects to the database at `url` (`postgres://user:password@host:port/db`, the
    /// parameters of libpq's URLs), and brings its schema up to date. `?schema=NAME` keeps
    /// every table of the store in that PostgreSQL schema (created when absent), so several
    /// deployments can share one database.
    pub fn open(url: &str) -> Result<Self> {
        let shown = redact(url);
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(Error::storage(format!(
                "state URL '{shown}' is not a PostgreSQL URL (postgres://user@host:port/database)"
            )));
        }
        let (conn_url, schema) = split_schema(url)?;
        let mut config: postgres::Config = conn_url
            .parse()
            .map_err(|e| Error::storage(format!("PostgreSQL URL '{shown}' is not valid: {e}")))?;
        if config.get_application_name().is_none() {
            config.application_name("bulk-ingest");
        }
        config.connect_timeout(Duration::from_secs(10));
        if let Some(schema) = &schema {
            check_schema_name(schema)?;
            let mut c = config
                .connect(NoTls)
                .map_err(db_err(format!("connecting to PostgreSQL at {shown}")))?;
            // Two processes creating it at once: one wins, the other sees it.
            match c.batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {schema}")) {
                Ok(()) => {}
                Err(e) if is_unique_violation(&e) => {}
                Err(e) => return Err(db_err(format!("creating schema {schema}"))(e)),
            }
            config.options(&format!("-c search_path={schema}"));
        }
        let store = PgStateStore {
            pool: Pool {
                config,
                idle: Mutex::new(Vec::new()),
            },
            known: Mutex::new(HashSet::new()),
        };
        {
            let mut c = store
                .pool
                .get()
                .map_err(|e| Error::storage(format!("{e} (URL {shown})")))?;
            migrate(&mut c, MIGRATIONS)?;
        }
        Ok(store)
    }

    fn conn(&self) -> Result<Conn<'_>> {
        self.pool.get()
    }

    /// Runs `f` in a transaction; commits when it returns `Ok`.
    fn write<T>(&self, op: &str, f: impl FnOnce(&mut Transaction<'_>) -> Result<T>) -> Result<T> {
        let mut c = self.conn()?;
        let mut tx = c
            .transaction()
            .map_err(db_err(format_args!("{op} (begin)")))?;
        let out = f(&mut tx)?;
        tx.commit().map_err(db_err(format_args!("{op} (commit)")))?;
        Ok(out)
    }

    /// The `(job id, row)` pairs stored in the default sink table of `table`, for one job or
    /// all, ordered by job and row. For hosts and tests (exactly-once checks).
    pub fn sink_rows(&self, table: &SinkTable, job_id: Option<&str>) -> Result<Vec<(String, u64)>> {
        let mut c = self.conn()?;
        if !sink::table_exists(&mut *c, &table.name)? {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT _job_id, _row FROM {} WHERE $1::text IS NULL OR _job_id = $1 ORDER BY _job_id, _row",
            sink::quote(&table.name)
        );
        let rows = c
            .query(&sql, &[&job_id])
            .map_err(db_err(format!("reading sink table {}", table.name)))?;
        Ok(rows
            .iter()
            .map(|r| (r.get::<_, String>(0), r.get::<_, i64>(1) as u64))
            .collect())
    }
}

/// `postgres://user:secret@host` shown as `postgres://user:***@host`.
pub(crate) fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (auth, host) = match rest.split_once('@') {
        Some(p) => p,
        None => return url.to_string(),
    };
    match auth.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_string(),
    }
}

/// Applies the steps the database lacks, under an advisory lock so processes opening the
/// database at once apply each step exactly once.
fn migrate(c: &mut Client, steps: &[&str]) -> Result<usize> {
    let mut tx = c
        .transaction()
        .map_err(db_err("migrating the database schema (begin)"))?;
    tx.batch_execute(
        "SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.bulk_ingest_migrations'));
         CREATE TABLE IF NOT EXISTS bulk_ingest_migrations (version INTEGER NOT NULL);",
    )
    .map_err(db_err("migrating the database schema (lock)"))?;
    let current: Option<i32> = tx
        .query_opt("SELECT max(version) FROM bulk_ingest_migrations", &[])
        .map_err(db_err("reading the database schema version"))?
        .and_then(|r| r.get(0));
    let current = usize::try_from(current.unwrap_or(0)).unwrap_or(usize::MAX);
    if current > steps.len() {
        return Err(Error::storage(format!(
            "the database schema is at version {current}, newer than this library's {}; upgrade the library",
            steps.len()
        )));
    }
    for (i, step) in steps.iter().enumerate().skip(current) {
        tx.batch_execute(step)
            .map_err(|e| Error::storage(format!("applying database migration {}: {e}", i + 1)))?;
        tx.execute(
            "INSERT INTO bulk_ingest_migrations (version) VALUES ($1)",
            &[&((i + 1) as i32)],
        )
        .map_err(db_err("recording the database schema version"))?;
    }
    tx.commit()
        .map_err(db_err("migrating the database schema (commit)"))?;
    Ok(steps.len())
}

const JOB_COLS: &str = "job_id, tenant, file_id, dataset, schema_version, format, blob_key, blob_size, \
     blob_sha256, blob_etag, blob_received_at, metadata, options, state, total_rows, processed_rows, \
     error_rows, cp_offset, cp_line, cp_rows, csv_header, error_code, error_message, created_at, \
     started_at, completed_at, lease_owner, lease_until, attempts";

fn job_from_row(r: &Row) -> Result<JobRecord> {
    let metadata = match r.get::<_, Option<String>>(11) {
        Some(s) => Some(serde_json::from_str(&s).map_err(|e| bad_value("job metadata", e))?),
        None => None,
    };
    let options: JobOptions =
        serde_json::from_str(&r.get::<_, String>(12)).map_err(|e| bad_value("job options", e))?;
    let error = r.get::<_, Option<String>>(21).map(|code| JobError {
        code,
        message: r.get::<_, Option<String>>(22).unwrap_or_default(),
    });
    Ok(JobRecord {
        job_id: r.get(0),
        tenant: r.get(1),
        file_id: r.get(2),
        dataset: r.get(3),
        schema_version: r.get(4),
        format: r
            .get::<_, String>(5)
            .parse::<Format>()
            .map_err(|e| bad_value("format", e))?,
        blob_key: r.get(6),
        blob: ReceivedInfo {
            size: r.get::<_, i64>(7) as u64,
            sha256: r.get(8),
            etag: r.get(9),
            received_at: Timestamp(r.get(10)),
        },
        metadata,
        options,
        state: r
            .get::<_, String>(13)
            .parse::<JobState>()
            .map_err(|e| bad_value("job state", e))?,
        total_rows: opt_u64(r.get(14)),
        processed_rows: r.get::<_, i64>(15) as u64,
        error_rows: r.get::<_, i64>(16) as u64,
        checkpoint: Checkpoint {
            offset: r.get::<_, i64>(17) as u64,
            line: r.get::<_, i64>(18) as u64,
            rows: r.get::<_, i64>(19) as u64,
        },
        csv_header: r.get(20),
        error,
        created_at: Timestamp(r.get(23)),
        started_at: r.get::<_, Option<i64>>(24).map(Timestamp),
        completed_at: r.get::<_, Option<i64>>(25).map(Timestamp),
        lease_owner: r.get(26),
        lease_until: r.get::<_, Option<i64>>(27).map(Timestamp),
        attempts: u32::try_from(r.get::<_, i32>(28)).unwrap_or(0),
    })
}

/// The job, its row locked when `lock` (inside a transaction).
fn get_job_in(c: &mut impl GenericClient, job_id: &str, lock: bool) -> Result<Option<JobRecord>> {
    let sql = format!(
        "SELECT {JOB_COLS} FROM jobs WHERE job_id = $1{}",
        if lock { " FOR UPDATE" } else { "" }
    );
    c.query_opt(&sql, &[&job_id])
        .map_err(db_err(format!("reading job {job_id}")))?
        .as_ref()
        .map(job_from_row)
        .transpose()
}

fn row_error_from_row(r: &Row) -> Result<RowError> {
    Ok(RowError {
        row: r.get::<_, i64>(0) as u64,
        line: opt_u64(r.get(1)),
        field: r.get(2),
        code: r
            .get::<_, String>(3)
            .parse::<RowErrorCode>()
            .map_err(|e| bad_value("row error code", e))?,
        message: r.get(4),
    })
}

/// Claims `job_id` (its row locked by the caller's transaction) for `worker` when it is queued
/// or its lease expired before `now`.
fn claim_in(
    tx: &mut Transaction<'_>,
    job_id: &str,
    worker: &str,
    now: Timestamp,
    lease: Duration,
) -> Result<Option<JobRecord>> {
    let Some(mut j) = get_job_in(tx, job_id, true)? else {
        return Ok(None);
    };
    let expired = j.state == JobState::Processing && !matches!(j.lease_until, Some(t) if t >= now);
    if j.state != JobState::Queued && !expired {
        return Ok(None);
    }
    if expired {
        // The crashed worker's job goes back through queued and resumes from its checkpoint.
        check_transition(job_id, JobState::Processing, JobState::Queued)?;
    }
    check_transition(job_id, JobState::Queued, JobState::Processing)?;
    j.state = JobState::Processing;
    j.lease_owner = Some(worker.to_string());
    j.lease_until = Some(now.plus(lease));
    j.attempts = j.attempts.saturating_add(1);
    let started = *j.started_at.get_or_insert(now);
    let attempts = i32::try_from(j.attempts).unwrap_or(i32::MAX);
    tx.execute(
        "UPDATE jobs SET state = $2, lease_owner = $3, lease_until = $4, attempts = $5, started_at = $6
         WHERE job_id = $1",
        &[&job_id, &j.state.as_str(), &worker, &now.plus(lease).0, &attempts, &started.0],
    )
    .map_err(db_err(format!("claiming job {job_id}")))?;
    Ok(Some(j))
}

/// The tenant of the job `lease` holds (processing, owned by the worker), its row locked until
/// the transaction ends; `None` when the lease is not held.
fn held_tenant(tx: &mut Transaction<'_>, lease: &Lease) -> Result<Option<String>> {
    let row = tx
        .query_opt(
            "SELECT state, lease_owner, tenant FROM jobs WHERE job_id = $1 FOR UPDATE",
            &[&lease.job_id],
        )
        .map_err(db_err(format!(
            "checking the lease of job {}",
            lease.job_id
        )))?;
    Ok(row.and_then(|r| {
        let state: String = r.get(0);
        let owner: Option<String> = r.get(1);
        (state == JobState::Processing.as_str() && owner.as_deref() == Some(lease.worker.as_str()))
            .then(|| r.get(2))
    }))
}

/// The body of `commit_chunk`, inside its transaction. `Ok(None)`: the lease is not held.
fn commit_in(
    tx: &mut Transaction<'_>,
    known: &HashSet<String>,
    pending: &mut HashSet<String>,
    lease: &Lease,
    commit: &ChunkCommit<'_>,
    sink: Option<SinkCallback<'_>>,
) -> Result<Option<CommitOutcome>> {
    let Some(tenant) = held_tenant(tx, lease)? else {
        return Ok(None);
    };
    let (table, rows, job_id) = (commit.table, commit.rows, lease.job_id.as_str());
    sink::check_shape(table, rows, commit.store_rows)?;

    let mut duplicates = Vec::new();
    if let Some(key) = table.key.as_deref() {
        sink::ensure_key_table(tx, known, pending, table)?;
        duplicates = sink::apply_key_rule(tx, table, key, rows, &tenant)?;
    }
    let accepted: Vec<usize> = if duplicates.is_empty() {
        (0..rows.len()).collect()
    } else {
        let mut d = duplicates.iter().peekable();
        (0..rows.len())
            .filter(|i| {
                if d.peek() == Some(&i) {
                    d.next();
                    false
                } else {
                    true
                }
            })
            .collect()
    };

    if let Some(sink) = sink {
        sink(rows, &accepted)?;
    }
    if commit.store_rows && !accepted.is_empty() {
        sink::ensure_sink_table(tx, known, pending, table)?;
        sink::copy_rows(tx, table, rows, &accepted, job_id)?;
    }

    {
        let err = || db_err(format!("storing the row errors of job {job_id}"));
        let st = tx
            .prepare(
                "INSERT INTO row_errors (job_id, row, seq, line, field, code, message)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .map_err(err())?;
        let put = |tx: &mut Transaction<'_>, seq: usize, e: &RowError| {
            tx.execute(
                &st,
                &[
                    &job_id,
                    &(e.row as i64),
                    &(seq as i32),
                    &e.line.map(|l| l as i64),
                    &e.field,
                    &e.code.as_str(),
                    &e.message,
                ],
            )
            .map(|_| ())
            .map_err(err())
        };
        for (seq, e) in commit.errors.iter().enumerate() {
            put(tx, seq, e)?;
        }
        let mut text = String::new();
        let key = table.key.as_deref().unwrap_or(&[]);
        for (n, &i) in duplicates.iter().enumerate() {
            rows.key_text(i, key, &mut text);
            put(
                tx,
                commit.errors.len() + n,
                &unique_error(table, rows, i, &text),
            )?;
        }
    }
    {
        let err = || db_err(format!("storing the failed rows of job {job_id}"));
        let st = tx
            .prepare("INSERT INTO failed_rows (job_id, row, line, raw) VALUES ($1, $2, $3, $4)")
            .map_err(err())?;
        for f in commit.failed {
            tx.execute(
                &st,
                &[&job_id, &(f.row as i64), &f.line.map(|l| l as i64), &f.raw],
            )
            .map_err(err())?;
        }
        for &i in &duplicates {
            let m = rows.meta(i);
            tx.execute(
                &st,
                &[
                    &job_id,
                    &(m.row as i64),
                    &m.line.map(|l| l as i64),
                    &rows.raw(i),
                ],
            )
            .map_err(err())?;
        }
    }

    let cp = commit.checkpoint;
    let rejected = (commit.failed.len() + duplicates.len()) as i64;
    let r = tx
        .query_one(
            "UPDATE jobs SET processed_rows = processed_rows + $2, error_rows = error_rows + $3,
                 cp_offset = $4, cp_line = $5, cp_rows = $6, lease_until = $7
             WHERE job_id = $1 RETURNING processed_rows, error_rows",
            &[
                &job_id,
                &(accepted.len() as i64),
                &rejected,
                &(cp.offset as i64),
                &(cp.line as i64),
                &(cp.rows as i64),
                &commit.lease_until.0,
            ],
        )
        .map_err(db_err(format!("updating the counts of job {job_id}")))?;
    Ok(Some(CommitOutcome {
        duplicates,
        processed_rows: r.get::<_, i64>(0) as u64,
        error_rows: r.get::<_, i64>(1) as u64,
    }))
}

fn received_from(r: &Row, size: usize) -> Option<ReceivedInfo> {
    r.get::<_, Option<i64>>(size + 3).map(|at| ReceivedInfo {
        size: r.get::<_, Option<i64>>(size).unwrap_or(0) as u64,
        sha256: r.get::<_, Option<String>>(size + 1).unwrap_or_default(),
        etag: r.get(size + 2),
        received_at: Timestamp(at),
    })
}

impl StateStore for PgStateStore {
    fn put_schema(&self, rec: &SchemaRecord) -> Result<()> {
        self.write("registering a schema", |tx| {
            tx.execute(
                "INSERT INTO schemas (dataset, version, dialect, source) VALUES ($1, $2, $3, $4)
                 ON CONFLICT DO NOTHING",
                &[&rec.dataset, &rec.version, &rec.dialect, &rec.source],
            )
            .map_err(db_err("storing a schema"))?;
            let source: String = tx
                .query_one(
                    "SELECT source FROM schemas WHERE dataset = $1 AND version = $2",
                    &[&rec.dataset, &rec.version],
                )
                .map_err(db_err("reading a schema"))?
                .get(0);
            if source == rec.source {
                Ok(())
            } else {
                Err(Error::invalid(format!(
                    "schema {} {} is already registered with another document; register it under a new version",
                    rec.dataset, rec.version
                )))
            }
        })
    }

    fn get_schema(&self, dataset: &str, version: &str) -> Result<Option<SchemaRecord>> {
        Ok(self
            .conn()?
            .query_opt(
                "SELECT dataset, version, dialect, source FROM schemas WHERE dataset = $1 AND version = $2",
                &[&dataset, &version],
            )
            .map_err(db_err(format!("reading schema {dataset} {version}")))?
            .map(|r| SchemaRecord {
                dataset: r.get(0),
                version: r.get(1),
                dialect: r.get(2),
                source: r.get(3),
            }))
    }

    fn insert_upload(&self, rec: &UploadRecord) -> Result<()> {
        let r = rec.received.as_ref();
        self.conn()?
            .execute(
                "INSERT INTO uploads (file_id, tenant, file_name, format, blob_key, created_at, expires_at,
                                      size, sha256, etag, received_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                &[
                    &rec.file_id,
                    &rec.tenant,
                    &rec.file_name,
                    &rec.format.as_str(),
                    &rec.blob_key,
                    &rec.created_at.0,
                    &rec.expires_at.0,
                    &r.map(|r| r.size as i64),
                    &r.map(|r| r.sha256.as_str()),
                    &r.and_then(|r| r.etag.as_deref()),
                    &r.map(|r| r.received_at.0),
                ],
            )
            .map(|_| ())
            .map_err(|e| {
                if is_unique_violation(&e) {
                    Error::storage(format!("file id {} exists already", rec.file_id))
                } else {
                    db_err(format!("storing upload {}", rec.file_id))(e)
                }
            })
    }

    fn get_upload(&self, file_id: &str) -> Result<Option<UploadRecord>> {
        let row = self
            .conn()?
            .query_opt(
                "SELECT file_id, tenant, file_name, format, blob_key, created_at, expires_at,
                        size, sha256, etag, received_at
                 FROM uploads WHERE file_id = $1",
                &[&file_id],
            )
            .map_err(db_err(format!("reading upload {file_id}")))?;
        row.map(|r| {
            Ok(UploadRecord {
                file_id: r.get(0),
                tenant: r.get(1),
                file_name: r.get(2),
                format: r
                    .get::<_, String>(3)
                    .parse::<Format>()
                    .map_err(|e| bad_value("format", e))?,
                blob_key: r.get(4),
                created_at: Timestamp(r.get(5)),
                expires_at: Timestamp(r.get(6)),
                received: received_from(&r, 7),
            })
        })
        .transpose()
    }

    fn mark_received(&self, file_id: &str, blob_key: &str, info: &ReceivedInfo) -> Result<()> {
        self.write("recording a received upload", |tx| {
            let row = tx
                .query_opt(
                    "SELECT received_at FROM uploads WHERE file_id = $1 FOR UPDATE",
                    &[&file_id],
                )
                .map_err(db_err(format!("reading upload {file_id}")))?;
            match row.map(|r| r.get::<_, Option<i64>>(0)) {
                None => return Err(Error::FileNotFound(file_id.to_string())),
                Some(Some(_)) => return Err(Error::UploadAlreadyReceived(file_id.to_string())),
                Some(None) => {}
            }
            tx.execute(
                "UPDATE uploads SET size = $2, sha256 = $3, etag = $4, received_at = $5, blob_key = $6
                 WHERE file_id = $1",
                &[
                    &file_id,
                    &(info.size as i64),
                    &info.sha256,
                    &info.etag,
                    &info.received_at.0,
                    &blob_key,
                ],
            )
            .map(|_| ())
            .map_err(db_err(format!("recording upload {file_id} as received")))
        })
    }

    fn insert_job(&self, job: &NewJob) -> Result<JobRecord> {
        let metadata = job
            .metadata
            .as_ref()
            .map(serde_json::to_string)
            .transpose()
            .map_err(|e| {
                Error::storage(format!("encoding the metadata of job {}: {e}", job.job_id))
            })?;
        let options = serde_json::to_string(&job.options).map_err(|e| {
            Error::storage(format!("encoding the options of job {}: {e}", job.job_id))
        })?;
        self.write("creating a job", |tx| {
            let upload = tx
                .query_opt(
                    "SELECT format, blob_key, size, sha256, etag, received_at FROM uploads
                     WHERE file_id = $1 FOR SHARE",
                    &[&job.file_id],
                )
                .map_err(db_err(format!("reading upload {}", job.file_id)))?
                .ok_or_else(|| Error::FileNotFound(job.file_id.clone()))?;
            let format = upload
                .get::<_, String>(0)
                .parse::<Format>()
                .map_err(|e| bad_value("format", e))?;
            let blob_key: String = upload.get(1);
            let blob = received_from(&upload, 2)
                .ok_or_else(|| Error::UploadNotReceived(job.file_id.clone()))?;
            let rec = JobRecord::queued(job, format, blob_key, blob);
            tx.execute(
                &format!(
                    "INSERT INTO jobs ({JOB_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13,
                     $14, $15, 0, 0, 0, 0, 0, $16, NULL, NULL, $17, NULL, NULL, NULL, NULL, 0)"
                ),
                &[
                    &rec.job_id,
                    &rec.tenant,
                    &rec.file_id,
                    &rec.dataset,
                    &rec.schema_version,
                    &rec.format.as_str(),
                    &rec.blob_key,
                    &(rec.blob.size as i64),
                    &rec.blob.sha256,
                    &rec.blob.etag,
                    &rec.blob.received_at.0,
                    &metadata,
                    &options,
                    &rec.state.as_str(),
                    &(job.total_rows as i64),
                    &rec.csv_header,
                    &rec.created_at.0,
                ],
            )
            .map_err(|e| {
                if is_unique_violation(&e) {
                    Error::storage(format!("job id {} exists already", rec.job_id))
                } else {
                    db_err(format!("storing job {}", rec.job_id))(e)
                }
            })?;
            Ok(rec)
        })
    }

    fn get_job(&self, job_id: &str) -> Result<Option<JobRecord>> {
        get_job_in(&mut *self.conn()?, job_id, false)
    }

    fn job_errors(&self, job_id: &str, limit: usize) -> Result<Vec<RowError>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.conn()?
            .query(
                "SELECT row, line, field, code, message FROM row_errors WHERE job_id = $1
                 ORDER BY row, seq, id LIMIT $2",
                &[&job_id, &limit],
            )
            .map_err(db_err(format!("reading the row errors of job {job_id}")))?
            .iter()
            .map(row_error_from_row)
            .collect()
    }

    fn for_each_failed_row(
        &self,
        job_id: &str,
        f: &mut dyn FnMut(u64, Option<u64>, &[u8], &[RowError]) -> Result<()>,
    ) -> Result<()> {
        // Page through (no connection is held while `f` runs, and memory stays flat).
        let err = || db_err(format!("reading the failed rows of job {job_id}"));
        let mut after = (i64::MIN, i64::MIN);
        loop {
            let (page, errors) = {
                let mut c = self.conn()?;
                let page: Vec<(i64, i64, Option<i64>, Vec<u8>)> = c
                    .query(
                        "SELECT id, row, line, raw FROM failed_rows
                         WHERE job_id = $1 AND (row > $2 OR (row = $2 AND id > $3))
                         ORDER BY row, id LIMIT $4",
                        &[&job_id, &after.0, &after.1, &FAILED_PAGE],
                    )
                    .map_err(err())?
                    .iter()
                    .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
                    .collect();
                let (Some(first), Some(last)) = (page.first(), page.last()) else {
                    return Ok(());
                };
                let errors: Vec<RowError> = c
                    .query(
                        "SELECT row, line, field, code, message FROM row_errors
                         WHERE job_id = $1 AND row BETWEEN $2 AND $3 ORDER BY row, seq, id",
                        &[&job_id, &first.1, &last.1],
                    )
                    .map_err(err())?
                    .iter()
                    .map(row_error_from_row)
                    .collect::<Result<_>>()?;
                (page, errors)
            };
            crate::storage::pair_failed_rows(&page, &errors, f)?;
            match page.last() {
                Some(last) if page.len() as i64 == FAILED_PAGE => after = (last.1, last.0),
                _ => return Ok(()),
            }
        }
    }

    fn claim_next(
        &self,
        worker: &str,
        now: Timestamp,
        lease: Duration,
    ) -> Result<Option<JobRecord>> {
        self.write("claiming the next job", |tx| {
            // Rows other claimers hold are skipped, not waited for.
            let next = tx
                .query_opt(
                    "SELECT job_id FROM jobs
                     WHERE state = 'queued'
                        OR (state = 'processing' AND (lease_until IS NULL OR lease_until < $1))
                     ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED",
                    &[&now.0],
                )
                .map_err(db_err("finding a job to claim"))?;
            match next {
                Some(r) => claim_in(tx, &r.get::<_, String>(0), worker, now, lease),
                None => Ok(None),
            }
        })
    }

    fn claim_job(
        &self,
        job_id: &str,
        worker: &str,
        now: Timestamp,
        lease: Duration,
    ) -> Result<Option<JobRecord>> {
        self.write("claiming a job", |tx| {
            claim_in(tx, job_id, worker, now, lease)
        })
    }

    fn heartbeat(&self, lease: &Lease, until: Timestamp) -> Result<bool> {
        self.conn()?
            .execute(
                "UPDATE jobs SET lease_until = $3 WHERE job_id = $1 AND state = 'processing' AND lease_owner = $2",
                &[&lease.job_id, &lease.worker, &until.0],
            )
            .map(|n| n == 1)
            .map_err(db_err(format!("extending the lease of job {}", lease.job_id)))
    }

    fn commit_chunk(
        &self,
        lease: &Lease,
        commit: &ChunkCommit<'_>,
        sink: Option<SinkCallback<'_>>,
    ) -> Result<Option<CommitOutcome>> {
        let op = || format!("committing a chunk of job {}", lease.job_id);
        let known = self.known.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let mut pending = HashSet::new();
        let mut c = self.conn()?;
        let mut tx = c
            .transaction()
            .map_err(db_err(format_args!("{} (begin)", op())))?;
        // On `Err` or `None` the transaction is dropped, which rolls it back.
        let Some(outcome) = commit_in(&mut tx, &known, &mut pending, lease, commit, sink)? else {
            return Ok(None);
        };
        tx.commit()
            .map_err(db_err(format_args!("{} (commit)", op())))?;
        if !pending.is_empty() {
            self.known
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .extend(pending);
        }
        Ok(Some(outcome))
    }

    fn finish_job(
        &self,
        lease: &Lease,
        state: JobState,
        error: Option<&JobError>,
        now: Timestamp,
    ) -> Result<bool> {
        self.write("finishing a job", |tx| {
            if held_tenant(tx, lease)?.is_none() {
                return Ok(false);
            }
            check_transition(&lease.job_id, JobState::Processing, state)?;
            // `completed_at` is set by terminal states only (a job handed back to the queue has none).
            let completed = state.is_terminal().then_some(now.0);
            tx.execute(
                "UPDATE jobs SET state = $2, error_code = $3, error_message = $4, completed_at = $5,
                     lease_owner = NULL, lease_until = NULL
                 WHERE job_id = $1",
                &[
                    &lease.job_id,
                    &state.as_str(),
                    &error.map(|e| e.code.as_str()),
                    &error.map(|e| e.message.as_str()),
                    &completed,
                ],
            )
            .map_err(db_err(format!("finishing job {}", lease.job_id)))?;
            Ok(true)
        })
    }

    fn cancel_job(&self, job_id: &str, now: Timestamp) -> Result<JobRecord> {
        self.write("cancelling a job", |tx| {
            let mut j = get_job_in(tx, job_id, true)?
                .ok_or_else(|| Error::JobNotFound(job_id.to_string()))?;
            check_transition(job_id, j.state, JobState::Cancelled)?;
            tx.execute(
                "UPDATE jobs SET state = $2, completed_at = $3, lease_owner = NULL, lease_until = NULL
                 WHERE job_id = $1",
                &[&job_id, &JobState::Cancelled.as_str(), &now.0],
            )
            .map_err(db_err(format!("cancelling job {job_id}")))?;
            j.state = JobState::Cancelled;
            j.completed_at = Some(now);
            j.lease_owner = None;
            j.lease_until = None;
            Ok(j)
        })
    }

    fn jobs_in_state(&self, state: JobState) -> Result<Vec<String>> {
        Ok(self
            .conn()?
            .query(
                "SELECT job_id FROM jobs WHERE state = $1 ORDER BY id",
                &[&state.as_str()],
            )
            .map_err(db_err(format!("listing {state} jobs")))?
            .iter()
            .map(|r| r.get(0))
            .collect())
    }

    fn shared_secret(&self, candidate: &[u8]) -> Result<Option<Vec<u8>>> {
        if candidate.is_empty() {
            return Err(Error::invalid("the secret must not be empty"));
        }
        let mut c = self.conn()?;
        c.execute(
            "INSERT INTO settings (name, value) VALUES ('secret', $1) ON CONFLICT DO NOTHING",
            &[&candidate],
        )
        .map_err(db_err("storing the signing secret"))?;
        let row = c
            .query_one("SELECT value FROM settings WHERE name = 'secret'", &[])
            .map_err(db_err("reading the signing secret"))?;
        Ok(Some(row.get(0)))
    }

    fn count_sink_rows(&self, table: &SinkTable) -> Result<u64> {
        let mut c = self.conn()?;
        if !sink::table_exists(&mut *c, &table.name)? {
            return Ok(0);
        }
        c.query_one(
            &format!("SELECT count(*) FROM {}", sink::quote(&table.name)),
            &[],
        )
        .map(|r| r.get::<_, i64>(0) as u64)
        .map_err(db_err(format!(
            "counting the rows of sink table {}",
            table.name
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_parameter_is_split_off() {
        assert_eq!(
            split_schema("postgres://u@h:1/db?schema=abc&sslmode=disable").unwrap(),
            (
                "postgres://u@h:1/db?sslmode=disable".to_string(),
                Some("abc".to_string())
            )
        );
        assert_eq!(
            split_schema("postgres://u@h/db").unwrap(),
            ("postgres://u@h/db".to_string(), None)
        );
        assert!(check_schema_name("bulk_1").is_ok());
        for bad in ["", "A", "1x", "a-b", "a;drop"] {
            assert_eq!(check_schema_name(bad).unwrap_err().code(), "STORAGE_ERROR");
        }
    }

    #[test]
    fn passwords_are_not_shown() {
        assert_eq!(
            redact("postgres://me:hunter2@db:5432/x"),
            "postgres://me:***@db:5432/x"
        );
        assert_eq!(redact("postgres://me@db/x"), "postgres://me@db/x");
    }

    #[test]
    fn unusable_urls_are_storage_errors_naming_the_problem() {
        let e = PgStateStore::open("mysql://x@y/z").unwrap_err();
        assert_eq!(e.code(), "STORAGE_ERROR");
        assert!(e.to_string().contains("not a PostgreSQL URL"), "{e}");
        let e = PgStateStore::open("postgres://u:pw@127.0.0.1:1/db?schema=Bad").unwrap_err();
        assert!(e.to_string().contains("schema 'Bad'"), "{e}");
        let e = PgStateStore::open("postgres://u:pw@127.0.0.1:1/db?bogus=1").unwrap_err();
        assert_eq!(e.code(), "STORAGE_ERROR");
        assert!(!e.to_string().contains("pw@"), "password shown: {e}");
        // Nothing listens on port 1.
        let e = PgStateStore::open("postgres://u:pw@127.0.0.1:1/db").unwrap_err();
        assert_eq!(e.code(), "STORAGE_ERROR");
        assert!(e.to_string().contains("connecting to PostgreSQL"), "{e}");
        assert!(!e.to_string().contains("pw@"), "password shown: {e}");
    }

    use crate::storage::conformance::tests::{fresh_pg_url, service_env};
    use crate::storage::conformance::{
        claimed_job, test_batch, test_commit, test_table, LEASE, T0,
    };

    fn fresh(tag: &str) -> Option<(PgStateStore, String)> {
        let url = fresh_pg_url(&service_env("BULK_INGEST_TEST_PG")?, tag);
        Some((PgStateStore::open(&url).unwrap(), url))
    }

    #[test]
    fn sink_tables_are_typed_and_grow_with_the_schema() {
        let Some((store, url)) = fresh("typed") else {
            return;
        };
        let table = test_table("typed");
        let lease = claimed_job(&store, "job-typed", "w1", T0);
        let rows = test_batch(&[(1, "a"), (2, "b")]);
        let commit = test_commit(
            &rows,
            &table,
            &[],
            &[],
            Checkpoint::default(),
            T0.plus(LEASE),
        );
        store.commit_chunk(&lease, &commit, None).unwrap().unwrap();
        // A later version with one more column: added, old rows keep NULL there.
        let mut wider = table.clone();
        wider
            .columns
            .push(("extra".to_string(), crate::batch::ColumnType::Text));
        let mut batch = crate::batch::RowBatch::new(5);
        let chunk = batch.add_chunk(std::sync::Arc::new(b"{}".to_vec()));
        let cells = [
            crate::types::Cell::Str("c"),
            crate::types::Cell::Int(3),
            crate::types::Cell::Num(1.5),
            crate::types::Cell::Bool(true),
            crate::types::Cell::Str("more"),
        ];
        batch.push(
            &cells,
            crate::batch::RowMeta {
                row: 3,
                line: Some(4),
                raw: 0..2,
                chunk,
                key_hash: crate::batch::key_hash(&cells, &[0]),
            },
        );
        let commit = test_commit(
            &batch,
            &wider,
            &[],
            &[],
            Checkpoint::default(),
            T0.plus(LEASE),
        );
        store.commit_chunk(&lease, &commit, None).unwrap().unwrap();
        assert_eq!(store.count_sink_rows(&wider).unwrap(), 3);

        let (conn_url, schema) = split_schema(&url).unwrap();
        let mut c = Client::connect(&conn_url, NoTls).unwrap();
        let types: Vec<(String, String)> = c
            .query(
                "SELECT column_name::text, data_type::text FROM information_schema.columns
                 WHERE table_schema = $1 AND table_name = 'ds_typed' ORDER BY ordinal_position",
                &[&schema.unwrap()],
            )
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        let want = [
            ("id", "text"),
            ("n", "bigint"),
            ("x", "double precision"),
            ("ok", "boolean"),
            ("_job_id", "text"),
            ("_row", "bigint"),
            ("extra", "text"),
        ];
        let want: Vec<(String, String)> = want
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        assert_eq!(types, want);
    }

    /// Two processes (two stores, two connections pools) committing the same keys at once:
    /// each key is stored once, and every row is either stored or reported a duplicate.
    #[test]
    fn racing_workers_store_each_key_once() {
        let Some((a, url)) = fresh("race") else {
            return;
        };
        let b = PgStateStore::open(&url).unwrap();
        let table = test_table("race");
        let la = claimed_job(&a, "job-race-a", "wa", T0);
        let lb = claimed_job(&b, "job-race-b", "wb", T0);
        let ids: Vec<String> = (0..2_000).map(|i| format!("k{i:05}")).collect();
        let run = |store: &PgStateStore, lease: &Lease, reverse: bool| -> u64 {
            let mut dup = 0;
            for round in 0..10 {
                let mut rows: Vec<(u64, &str)> = (0..200)
                    .map(|i| {
                        let n = round * 200 + i;
                        (
                            (n + 1) as u64,
                            ids[if reverse { 1_999 - n } else { n }].as_str(),
                        )
                    })
                    .collect();
                rows.sort();
                let batch = test_batch(&rows);
                let commit = test_commit(
                    &batch,
                    &table,
                    &[],
                    &[],
                    Checkpoint::default(),
                    T0.plus(LEASE),
                );
                let out = store.commit_chunk(lease, &commit, None).unwrap().unwrap();
                dup += out.duplicates.len() as u64;
            }
            dup
        };
        let (da, db) = std::thread::scope(|s| {
            let ha = s.spawn(|| run(&a, &la, false));
            let hb = s.spawn(|| run(&b, &lb, true));
            (ha.join().unwrap(), hb.join().unwrap())
        });
        assert_eq!(da + db, 2_000, "every key once stored and once a duplicate");
        assert_eq!(a.count_sink_rows(&table).unwrap(), 2_000);
        let stored = a.sink_rows(&table, None).unwrap();
        assert_eq!(stored.len(), 2_000);
    }

    #[test]
    fn the_first_secret_stored_is_everyones() {
        let Some((a, url)) = fresh("secret") else {
            return;
        };
        let b = PgStateStore::open(&url).unwrap();
        assert_eq!(a.shared_secret(b"first").unwrap(), Some(b"first".to_vec()));
        assert_eq!(b.shared_secret(b"second").unwrap(), Some(b"first".to_vec()));
        assert_eq!(a.shared_secret(b"").unwrap_err().code(), "INVALID_REQUEST");
    }
}
