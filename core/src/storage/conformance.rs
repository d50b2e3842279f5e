//! The conformance suite: the contract of [`StateStore`] and [`BlobStore`] as executable checks.
//!
//! Every backend's tests call [`run_all`] on a fresh pair of stores (the functions use their own
//! ids and tables, so they may also be called one by one). A new backend is done when it passes.
//! Failures are assertion panics naming the contract that broke.

// Reachable from outside once the crate root re-exports `storage::conformance` (feature
// `conformance`); until then the feature build would call all of it dead.
#![cfg_attr(not(test), allow(dead_code))]

use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::{
    BlobStore, Checkpoint, ChunkCommit, CommitOutcome, FailedRow, JobRecord, Lease, NewJob,
    ReceivedInfo, SchemaRecord, SinkCallback, StateStore, UploadRecord,
};
use crate::batch::{key_hash, ColumnType, RowBatch, RowMeta, SinkTable};
use crate::error::{Error, Result};
use crate::model::{JobError, JobOptions, JobState, Timestamp};
use crate::types::{Cell, Format, RowError, RowErrorCode};

/// The suite's clock: a fixed instant, moved by hand.
pub const T0: Timestamp = Timestamp(1_700_000_000_000);
/// The lease every claim of the suite takes.
pub const LEASE: Duration = Duration::from_secs(30);

/// Runs every check of the suite. Expects empty stores.
pub fn run_all(state: &dyn StateStore, blobs: &dyn BlobStore) {
    schemas(state);
    uploads(state);
    job_creation(state);
    claims(state);
    concurrent_claims(state);
    stale_lease_writes_nothing(state);
    commit_counts_and_errors(state);
    key_rule(state);
    keys_without_sink_rows(state);
    keys_per_tenant(state);
    sink_error_rolls_back(state);
    finish_transitions(state);
    cancel(state);
    blob_round_trip(blobs);
    blob_limit(blobs);
}

// ---------------------------------------------------------------------------------------------
// Test data

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// A sink table `ds_{name}`: `id` TEXT (the primary key), `n` INTEGER, `x` REAL, `ok` BOOLEAN.
pub fn test_table(name: &str) -> SinkTable {
    SinkTable {
        dataset: name.to_string(),
        name: format!("ds_{name}"),
        columns: vec![
            ("id".to_string(), ColumnType::Text),
            ("n".to_string(), ColumnType::Integer),
            ("x".to_string(), ColumnType::Real),
            ("ok".to_string(), ColumnType::Boolean),
        ],
        key: Some(vec![0]),
    }
}

/// The original bytes the suite gives row `row` with key `id`.
pub fn test_raw(row: u64, id: &str) -> Vec<u8> {
    format!("{{\"id\":\"{id}\",\"n\":{row}}}\n").into_bytes()
}

/// Valid rows of [`test_table`], one per `(row number, id)`, starting on line `row + 1`.
pub fn test_batch(rows: &[(u64, &str)]) -> RowBatch {
    let mut data = Vec::new();
    let mut ranges = Vec::new();
    for &(row, id) in rows {
        let start = data.len() as u32;
        data.extend(test_raw(row, id));
        ranges.push(start..data.len() as u32);
    }
    let mut batch = RowBatch::new(4);
    let chunk = batch.add_chunk(Arc::new(data));
    for (&(row, id), raw) in rows.iter().zip(ranges) {
        let cells = [
            Cell::Str(id),
            Cell::Int(row as i64),
            Cell::Num(row as f64 / 2.0),
            Cell::Bool(row % 2 == 0),
        ];
        let key_hash = key_hash(&cells, &[0]);
        batch.push(
            &cells,
            RowMeta {
                row,
                line: Some(row + 1),
                raw,
                chunk,
                key_hash,
            },
        );
    }
    batch
}

/// A row error of row `row` (line `row + 1`).
pub fn test_error(row: u64, code: RowErrorCode, message: &str) -> RowError {
    RowError {
        row,
        line: Some(row + 1),
        field: Some("n".to_string()),
        code,
        message: message.to_string(),
    }
}

fn test_upload(file_id: &str, format: Format) -> UploadRecord {
    UploadRecord {
        file_id: file_id.to_string(),
        tenant: "tenant-a".to_string(),
        file_name: format!("{file_id}.{}", format.as_str()),
        format,
        blob_key: format!("uploads/{file_id}"),
        created_at: T0,
        expires_at: T0.plus(secs(3600)),
        received: None,
    }
}

fn test_received(at: Timestamp) -> ReceivedInfo {
    ReceivedInfo {
        size: 1234,
        sha256: "ab".repeat(32),
        etag: Some("\"etag-1\"".to_string()),
        received_at: at,
    }
}

fn test_new_job(job_id: &str, file_id: &str) -> NewJob {
    NewJob {
        job_id: job_id.to_string(),
        tenant: "tenant-a".to_string(),
        file_id: file_id.to_string(),
        dataset: "conf".to_string(),
        schema_version: "1.0".to_string(),
        metadata: None,
        options: JobOptions::default(),
        total_rows: 100,
        csv_header: None,
        created_at: T0,
    }
}

/// A queued job `job_id` on a received upload of its own.
pub fn queued_job(state: &dyn StateStore, job_id: &str) -> JobRecord {
    let file_id = format!("file-of-{job_id}");
    state
        .insert_upload(&test_upload(&file_id, Format::Ndjson))
        .expect("insert_upload");
    state
        .mark_received(&file_id, &format!("uploads/{file_id}"), &test_received(T0))
        .expect("mark_received");
    state
        .insert_job(&test_new_job(job_id, &file_id))
        .expect("insert_job")
}

/// A job `job_id` claimed by `worker` at `now`.
pub fn claimed_job(state: &dyn StateStore, job_id: &str, worker: &str, now: Timestamp) -> Lease {
    queued_job(state, job_id);
    let job = state
        .claim_job(job_id, worker, now, LEASE)
        .expect("claim_job");
    assert!(job.is_some(), "a queued job is claimable");
    Lease {
        job_id: job_id.to_string(),
        worker: worker.to_string(),
    }
}

/// A job `job_id` of `tenant` (on an upload of that tenant), claimed by `worker` at `now`.
pub fn claimed_job_of(
    state: &dyn StateStore,
    job_id: &str,
    tenant: &str,
    worker: &str,
    now: Timestamp,
) -> Lease {
    let file_id = format!("file-of-{job_id}");
    let upload = UploadRecord {
        tenant: tenant.to_string(),
        ..test_upload(&file_id, Format::Ndjson)
    };
    state.insert_upload(&upload).expect("insert_upload");
    state
        .mark_received(&file_id, &format!("uploads/{file_id}"), &test_received(T0))
        .expect("mark_received");
    let new = NewJob {
        tenant: tenant.to_string(),
        ..test_new_job(job_id, &file_id)
    };
    state.insert_job(&new).expect("insert_job");
    let job = state
        .claim_job(job_id, worker, now, LEASE)
        .expect("claim_job");
    assert!(job.is_some(), "a queued job is claimable");
    Lease {
        job_id: job_id.to_string(),
        worker: worker.to_string(),
    }
}

/// A commit of `rows` into `table` (rows stored in the default sink).
pub fn test_commit<'a>(
    rows: &'a RowBatch,
    table: &'a SinkTable,
    errors: &'a [RowError],
    failed: &'a [FailedRow<'a>],
    checkpoint: Checkpoint,
    lease_until: Timestamp,
) -> ChunkCommit<'a> {
    ChunkCommit {
        rows,
        table,
        store_rows: true,
        errors,
        failed,
        checkpoint,
        lease_until,
    }
}

fn job(state: &dyn StateStore, job_id: &str) -> JobRecord {
    state
        .get_job(job_id)
        .expect("get_job")
        .expect("the job exists")
}

type Failed = Vec<(u64, Option<u64>, Vec<u8>, Vec<RowError>)>;

fn failed_rows(state: &dyn StateStore, job_id: &str) -> Failed {
    let mut out = Vec::new();
    state
        .for_each_failed_row(job_id, &mut |row, line, raw, errors| {
            out.push((row, line, raw.to_vec(), errors.to_vec()));
            Ok(())
        })
        .expect("for_each_failed_row");
    out
}

/// Cancels every job that is queued or processing, so `claim_next` sees only what follows.
fn drain(state: &dyn StateStore) {
    for st in [JobState::Queued, JobState::Processing] {
        for id in state.jobs_in_state(st).expect("jobs_in_state") {
            state.cancel_job(&id, T0).expect("cancel_job");
        }
    }
}

fn code<T: std::fmt::Debug>(r: Result<T>) -> &'static str {
    match r {
        Ok(v) => panic!("expected an error, got Ok({v:?})"),
        Err(e) => e.code(),
    }
}

// ---------------------------------------------------------------------------------------------
// State store

/// Schemas: stored and read back; the same document again is a no-op; versions are immutable.
pub fn schemas(state: &dyn StateStore) {
    let v1 = SchemaRecord {
        dataset: "conf_schema".to_string(),
        version: "1.0".to_string(),
        dialect: "jsonschema".to_string(),
        source: r#"{"type":"object","properties":{"id":{"type":"string"}}}"#.to_string(),
    };
    assert_eq!(
        state.get_schema("conf_schema", "1.0").unwrap(),
        None,
        "unknown schema"
    );
    state.put_schema(&v1).unwrap();
    assert_eq!(
        state.get_schema("conf_schema", "1.0").unwrap(),
        Some(v1.clone())
    );
    state
        .put_schema(&v1)
        .expect("registering the same document again is a no-op");

    let changed = SchemaRecord {
        source: r#"{"type":"object"}"#.to_string(),
        ..v1.clone()
    };
    assert_eq!(
        code(state.put_schema(&changed)),
        "INVALID_REQUEST",
        "versions are immutable"
    );
    assert_eq!(
        state.get_schema("conf_schema", "1.0").unwrap(),
        Some(v1.clone()),
        "unchanged"
    );

    let v2 = SchemaRecord {
        version: "2.0".to_string(),
        dialect: "tableschema".to_string(),
        ..changed
    };
    state.put_schema(&v2).unwrap();
    assert_eq!(state.get_schema("conf_schema", "2.0").unwrap(), Some(v2));
    assert_eq!(state.get_schema("conf_schema", "1.0").unwrap(), Some(v1));
    assert_eq!(state.get_schema("other", "1.0").unwrap(), None);
}

/// Uploads: stored and read back; a body is recorded once.
pub fn uploads(state: &dyn StateStore) {
    let up = test_upload("file-conf-up", Format::Csv);
    assert_eq!(state.get_upload("file-conf-up").unwrap(), None);
    state.insert_upload(&up).unwrap();
    assert_eq!(state.get_upload("file-conf-up").unwrap(), Some(up.clone()));
    assert!(
        state.insert_upload(&up).is_err(),
        "a file id is stored once"
    );

    let info = test_received(T0.plus(secs(5)));
    // The body's blob key is the one the receiving attempt wrote.
    state
        .mark_received("file-conf-up", "uploads/file-conf-up/attempt-1", &info)
        .unwrap();
    let got = state.get_upload("file-conf-up").unwrap().expect("upload");
    assert_eq!(
        got,
        UploadRecord {
            received: Some(info.clone()),
            blob_key: "uploads/file-conf-up/attempt-1".into(),
            ..up.clone()
        }
    );

    let again = ReceivedInfo {
        size: 1,
        sha256: "00".repeat(32),
        etag: None,
        received_at: T0.plus(secs(9)),
    };
    assert_eq!(
        code(state.mark_received("file-conf-up", "uploads/file-conf-up/attempt-2", &again)),
        "UPLOAD_ALREADY_RECEIVED"
    );
    assert_eq!(
        state
            .get_upload("file-conf-up")
            .unwrap()
            .and_then(|u| u.received),
        Some(info),
        "unchanged"
    );
    assert_eq!(
        code(state.mark_received("file-conf-nowhere", "uploads/x", &again)),
        "FILE_NOT_FOUND"
    );

    let plain = UploadRecord {
        received: None,
        ..test_upload("file-conf-up2", Format::Json)
    };
    state.insert_upload(&plain).unwrap();
    let no_etag = ReceivedInfo {
        etag: None,
        ..test_received(T0)
    };
    state
        .mark_received("file-conf-up2", "uploads/file-conf-up2", &no_etag)
        .unwrap();
    assert_eq!(
        state
            .get_upload("file-conf-up2")
            .unwrap()
            .and_then(|u| u.received),
        Some(no_etag)
    );
}

/// Jobs are created queued, for received uploads only, with every fact kept.
pub fn job_creation(state: &dyn StateStore) {
    state
        .insert_upload(&test_upload("file-conf-pending", Format::Ndjson))
        .unwrap();
    assert_eq!(
        code(state.insert_job(&test_new_job("job-conf-early", "file-conf-pending"))),
        "UPLOAD_NOT_RECEIVED"
    );
    assert_eq!(
        state.get_job("job-conf-early").unwrap(),
        None,
        "nothing created"
    );
    assert_eq!(
        code(state.insert_job(&test_new_job("job-conf-nofile", "file-conf-missing"))),
        "FILE_NOT_FOUND"
    );
    assert_eq!(state.get_job("job-conf-nofile").unwrap(), None);

    let up = test_upload("file-conf-job", Format::Csv);
    state.insert_upload(&up).unwrap();
    let info = test_received(T0.plus(secs(1)));
    state
        .mark_received("file-conf-job", "uploads/file-conf-job", &info)
        .unwrap();
    let new = NewJob {
        metadata: Some(
            serde_json::json!({"source": "conformance", "tags": ["a", "b"], "n": 1.5, "deep": {"x": null}}),
        ),
        options: JobOptions {
            max_error_rows: Some(10),
            max_rows: Some(1000),
            error_sample: Some(5),
        },
        total_rows: 42,
        csv_header: Some(b"id,n,x,ok\r\n".to_vec()),
        created_at: T0.plus(secs(2)),
        ..test_new_job("job-conf-new", "file-conf-job")
    };
    let rec = state.insert_job(&new).unwrap();
    let expected = JobRecord {
        job_id: new.job_id.clone(),
        tenant: new.tenant.clone(),
        file_id: new.file_id.clone(),
        dataset: new.dataset.clone(),
        schema_version: new.schema_version.clone(),
        format: Format::Csv,
        blob_key: up.blob_key.clone(),
        blob: info,
        metadata: new.metadata.clone(),
        options: new.options.clone(),
        state: JobState::Queued,
        total_rows: Some(42),
        processed_rows: 0,
        error_rows: 0,
        checkpoint: Checkpoint::default(),
        csv_header: new.csv_header.clone(),
        error: None,
        created_at: new.created_at,
        started_at: None,
        completed_at: None,
        lease_owner: None,
        lease_until: None,
        attempts: 0,
    };
    assert_eq!(rec, expected, "insert_job returns the stored job");
    assert_eq!(
        state.get_job("job-conf-new").unwrap(),
        Some(expected),
        "get_job reads it back"
    );
    assert_eq!(state.get_job("job-conf-unknown").unwrap(), None);
    assert!(state
        .jobs_in_state(JobState::Queued)
        .unwrap()
        .contains(&"job-conf-new".to_string()));
    state.cancel_job("job-conf-new", T0).unwrap();
}

/// `claim_next` takes the oldest queued job, never one whose lease holds, and takes over an
/// expired lease (attempts counted, checkpoint kept); the old holder's heartbeat then fails.
pub fn claims(state: &dyn StateStore) {
    drain(state);
    assert_eq!(
        state.claim_next("w1", T0, LEASE).unwrap(),
        None,
        "nothing to claim"
    );
    for id in ["job-conf-claim-a", "job-conf-claim-b", "job-conf-claim-c"] {
        queued_job(state, id);
    }
    let a = state.claim_next("w1", T0, LEASE).unwrap().expect("a job");
    assert_eq!(a.job_id, "job-conf-claim-a", "the oldest queued job first");
    assert_eq!(a.state, JobState::Processing);
    assert_eq!(a.lease_owner.as_deref(), Some("w1"));
    assert_eq!(a.lease_until, Some(T0.plus(LEASE)));
    assert_eq!(a.attempts, 1);
    assert_eq!(a.started_at, Some(T0));
    assert_eq!(job(state, "job-conf-claim-a"), a, "the claim is stored");

    let b = state.claim_next("w2", T0, LEASE).unwrap().expect("a job");
    assert_eq!(b.job_id, "job-conf-claim-b");
    assert_eq!(
        state
            .claim_job("job-conf-claim-a", "w2", T0.plus(secs(1)), LEASE)
            .unwrap(),
        None,
        "lease holds"
    );
    let c = state
        .claim_next("w1", T0.plus(secs(1)), LEASE)
        .unwrap()
        .expect("a job");
    assert_eq!(c.job_id, "job-conf-claim-c");
    assert_eq!(
        state.claim_next("w2", T0.plus(secs(2)), LEASE).unwrap(),
        None,
        "every lease holds"
    );
    assert_eq!(
        state.jobs_in_state(JobState::Processing).unwrap(),
        vec!["job-conf-claim-a", "job-conf-claim-b", "job-conf-claim-c"]
    );

    // w1 gets somewhere with a; b and c stay leased for an hour.
    let w1a = Lease {
        job_id: a.job_id.clone(),
        worker: "w1".to_string(),
    };
    let table = test_table("conf_claims");
    let rows = test_batch(&[(1, "cl-1"), (2, "cl-2")]);
    let cp = Checkpoint {
        offset: 120,
        line: 3,
        rows: 2,
    };
    let out = state
        .commit_chunk(
            &w1a,
            &test_commit(&rows, &table, &[], &[], cp, T0.plus(LEASE)),
            None,
        )
        .unwrap();
    assert!(out.is_some(), "the holder commits");
    for (id, w) in [("job-conf-claim-b", "w2"), ("job-conf-claim-c", "w1")] {
        let lease = Lease {
            job_id: id.to_string(),
            worker: w.to_string(),
        };
        assert!(
            state.heartbeat(&lease, T0.plus(secs(3600))).unwrap(),
            "heartbeat of a held job"
        );
    }

    // w1 crashes: at its lease's end the lease still holds; just after, w2 takes over.
    assert_eq!(
        state.claim_next("w2", T0.plus(LEASE), LEASE).unwrap(),
        None,
        "not expired at lease_until"
    );
    let late = T0.plus(LEASE).plus(secs(1));
    let taken = state
        .claim_next("w2", late, LEASE)
        .unwrap()
        .expect("the expired job");
    assert_eq!(taken.job_id, "job-conf-claim-a");
    assert_eq!(taken.attempts, 2, "attempts counted");
    assert_eq!(taken.checkpoint, cp, "resumes from the checkpoint");
    assert_eq!(taken.processed_rows, 2);
    assert_eq!(taken.started_at, Some(T0), "started_at kept");
    assert_eq!(taken.lease_owner.as_deref(), Some("w2"));
    assert_eq!(taken.lease_until, Some(late.plus(LEASE)));
    assert!(
        !state.heartbeat(&w1a, late.plus(secs(60))).unwrap(),
        "the old holder lost the lease"
    );
    let w2a = Lease {
        job_id: a.job_id.clone(),
        worker: "w2".to_string(),
    };
    assert!(state.heartbeat(&w2a, late.plus(secs(60))).unwrap());
    assert_eq!(
        job(state, "job-conf-claim-a").lease_until,
        Some(late.plus(secs(60)))
    );

    // claim_job takes over an expired lease too.
    assert_eq!(
        state
            .claim_job("job-conf-claim-b", "w3", T0.plus(secs(3600)), LEASE)
            .unwrap(),
        None
    );
    let b2 = state
        .claim_job("job-conf-claim-b", "w3", T0.plus(secs(3601)), LEASE)
        .unwrap()
        .expect("expired");
    assert_eq!((b2.attempts, b2.lease_owner.as_deref()), (2, Some("w3")));
    assert_eq!(
        state.claim_job("job-conf-nope", "w3", T0, LEASE).unwrap(),
        None,
        "unknown job"
    );
    drain(state);
}

/// Workers claiming at once from several threads never get the same job.
pub fn concurrent_claims(state: &dyn StateStore) {
    drain(state);
    let mut ids: Vec<String> = (0..24).map(|i| format!("job-conf-conc-{i:02}")).collect();
    for id in &ids {
        queued_job(state, id);
    }
    let mut got: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|w| {
                s.spawn(move || {
                    let worker = format!("cw{w}");
                    let mut mine = Vec::new();
                    while let Some(j) = state.claim_next(&worker, T0, LEASE).expect("claim_next") {
                        assert_eq!(j.lease_owner.as_deref(), Some(worker.as_str()));
                        mine.push(j.job_id);
                    }
                    mine
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("claiming thread"))
            .collect()
    });
    got.sort();
    ids.sort();
    assert_eq!(got, ids, "every job claimed exactly once");
    for id in &ids {
        assert_eq!(job(state, id).attempts, 1);
    }
    drain(state);
}

/// A commit from a worker that does not hold the lease writes nothing.
pub fn stale_lease_writes_nothing(state: &dyn StateStore) {
    let table = test_table("conf_stale");
    let w1 = claimed_job(state, "job-conf-stale", "w1", T0);
    queued_job(state, "job-conf-stale-q");
    let rows = test_batch(&[(1, "st-1"), (2, "st-2")]);
    let errors = [test_error(3, RowErrorCode::Type, "n: not an integer")];
    let raw3 = test_raw(3, "st-3");
    let failed = [FailedRow {
        row: 3,
        line: Some(4),
        raw: &raw3,
    }];
    let cp = Checkpoint {
        offset: 90,
        line: 4,
        rows: 3,
    };
    let commit = test_commit(&rows, &table, &errors, &failed, cp, T0.plus(secs(100)));

    let never = Lease {
        job_id: "job-conf-stale-q".to_string(),
        worker: "w1".to_string(),
    };
    assert_eq!(
        state.commit_chunk(&never, &commit, None).unwrap(),
        None,
        "a queued job is held by nobody"
    );

    let late = T0.plus(LEASE).plus(secs(1));
    assert!(
        state
            .claim_job("job-conf-stale", "w2", late, LEASE)
            .unwrap()
            .is_some(),
        "takeover"
    );
    let before = job(state, "job-conf-stale");
    let mut called = false;
    let mut sink = |_: &RowBatch, _: &[usize]| -> Result<()> {
        called = true;
        Ok(())
    };
    assert_eq!(
        state.commit_chunk(&w1, &commit, Some(&mut sink)).unwrap(),
        None,
        "stale lease"
    );
    assert!(!called, "the host sink is not called for a stale lease");
    let stranger = Lease {
        job_id: "job-conf-stale".to_string(),
        worker: "w9".to_string(),
    };
    assert_eq!(state.commit_chunk(&stranger, &commit, None).unwrap(), None);
    assert_eq!(job(state, "job-conf-stale"), before, "job unchanged");
    assert!(
        state.job_errors("job-conf-stale", 100).unwrap().is_empty(),
        "no errors written"
    );
    assert!(
        failed_rows(state, "job-conf-stale").is_empty(),
        "no failed rows written"
    );
    assert_eq!(state.count_sink_rows(&table).unwrap(), 0, "no rows written");

    // The keys the stale worker tried are free: the holder's commit takes them.
    let w2 = Lease {
        job_id: "job-conf-stale".to_string(),
        worker: "w2".to_string(),
    };
    let out = state
        .commit_chunk(&w2, &commit, None)
        .unwrap()
        .expect("the holder commits");
    assert_eq!(
        out,
        CommitOutcome {
            duplicates: vec![],
            processed_rows: 2,
            error_rows: 1
        }
    );
    assert_eq!(state.count_sink_rows(&table).unwrap(), 2);
    state.cancel_job("job-conf-stale", T0).unwrap();
    state.cancel_job("job-conf-stale-q", T0).unwrap();
}

/// Counts, checkpoint and lease move with each commit; errors come back ordered by row (also
/// when a later commit carries earlier rows), cut at the limit; failed rows with their bytes.
pub fn commit_counts_and_errors(state: &dyn StateStore) {
    let table = test_table("conf_commit");
    let id = "job-conf-commit";
    let lease = claimed_job(state, id, "w1", T0);

    let rows1 = test_batch(&[(1, "cm-1"), (2, "cm-2"), (4, "cm-4")]);
    let errors1 = [
        test_error(8, RowErrorCode::Required, "n: required"),
        test_error(9, RowErrorCode::Maximum, "n: 10 is more than the maximum 9"),
    ];
    let (raw8, raw9) = (test_raw(8, "cm-8"), test_raw(9, "cm-9"));
    let failed1 = [
        FailedRow {
            row: 8,
            line: Some(9),
            raw: &raw8,
        },
        FailedRow {
            row: 9,
            line: Some(10),
            raw: &raw9,
        },
    ];
    let cp1 = Checkpoint {
        offset: 300,
        line: 11,
        rows: 9,
    };
    let out1 = state
        .commit_chunk(
            &lease,
            &test_commit(&rows1, &table, &errors1, &failed1, cp1, T0.plus(secs(60))),
            None,
        )
        .unwrap()
        .expect("held");
    assert_eq!(
        out1,
        CommitOutcome {
            duplicates: vec![],
            processed_rows: 3,
            error_rows: 2
        }
    );
    let j = job(state, id);
    assert_eq!((j.processed_rows, j.error_rows, j.checkpoint), (3, 2, cp1));
    assert_eq!(
        j.lease_until,
        Some(T0.plus(secs(60))),
        "a commit extends the lease"
    );

    let rows2 = test_batch(&[(6, "cm-6"), (7, "cm-7")]);
    let errors2 = [
        test_error(3, RowErrorCode::Required, "x: required"),
        test_error(3, RowErrorCode::Pattern, "id: does not match"),
        test_error(5, RowErrorCode::Type, "n: not an integer"),
    ];
    let (raw3, raw5) = (test_raw(3, "cm-3"), b"not json at all\n".to_vec());
    let failed2 = [
        FailedRow {
            row: 3,
            line: Some(4),
            raw: &raw3,
        },
        FailedRow {
            row: 5,
            line: None,
            raw: &raw5,
        },
    ];
    let cp2 = Checkpoint {
        offset: 600,
        line: 20,
        rows: 12,
    };
    let out2 = state
        .commit_chunk(
            &lease,
            &test_commit(&rows2, &table, &errors2, &failed2, cp2, T0.plus(secs(90))),
            None,
        )
        .unwrap()
        .expect("held");
    assert_eq!(
        out2,
        CommitOutcome {
            duplicates: vec![],
            processed_rows: 5,
            error_rows: 4
        }
    );
    let j = job(state, id);
    assert_eq!((j.processed_rows, j.error_rows, j.checkpoint), (5, 4, cp2));
    assert_eq!(
        (j.state, j.lease_until),
        (JobState::Processing, Some(T0.plus(secs(90))))
    );

    let all = vec![
        errors2[0].clone(),
        errors2[1].clone(),
        errors2[2].clone(),
        errors1[0].clone(),
        errors1[1].clone(),
    ];
    assert_eq!(
        state.job_errors(id, 100).unwrap(),
        all,
        "ordered by row, a row's errors in order"
    );
    assert_eq!(
        state.job_errors(id, 2).unwrap(),
        all[..2].to_vec(),
        "the first `limit`"
    );
    assert!(state.job_errors(id, 0).unwrap().is_empty());
    assert!(state.job_errors("job-conf-unknown", 10).unwrap().is_empty());

    let expected: Failed = vec![
        (3, Some(4), raw3.clone(), all[..2].to_vec()),
        (5, None, raw5.clone(), all[2..3].to_vec()),
        (8, Some(9), raw8.clone(), all[3..4].to_vec()),
        (9, Some(10), raw9.clone(), all[4..5].to_vec()),
    ];
    assert_eq!(
        failed_rows(state, id),
        expected,
        "failed rows in row order, bytes and errors"
    );
    assert_eq!(state.count_sink_rows(&table).unwrap(), 5);

    // An error from the callback of for_each_failed_row stops it and comes back.
    let mut seen = 0;
    let err = state
        .for_each_failed_row(id, &mut |_, _, _, _| {
            seen += 1;
            Err(Error::storage("reader closed"))
        })
        .unwrap_err();
    assert_eq!((seen, err), (1, Error::storage("reader closed")));
    assert!(state
        .finish_job(
            &lease,
            JobState::PartiallyCompleted,
            None,
            T0.plus(secs(100))
        )
        .unwrap());
}

/// The primary key: first occurrence wins within a batch, across commits and across jobs of
/// one dataset; every later one is a `UNIQUE` row error with its bytes in the failed rows.
pub fn key_rule(state: &dyn StateStore) {
    let table = test_table("conf_keys");
    let j1 = claimed_job(state, "job-conf-keys-1", "w1", T0);
    let ids = [
        (1, "k-a"),
        (2, "k-b"),
        (3, "k-a"),
        (4, "k-c"),
        (5, "k-b"),
        (6, "k-a"),
    ];
    let rows = test_batch(&ids);
    let cp = Checkpoint {
        offset: 10,
        line: 7,
        rows: 6,
    };
    let out = state
        .commit_chunk(
            &j1,
            &test_commit(&rows, &table, &[], &[], cp, T0.plus(LEASE)),
            None,
        )
        .unwrap();
    assert_eq!(
        out,
        Some(CommitOutcome {
            duplicates: vec![2, 4, 5],
            processed_rows: 3,
            error_rows: 3
        })
    );
    let errors = state.job_errors("job-conf-keys-1", 100).unwrap();
    assert_eq!(
        errors.iter().map(|e| e.row).collect::<Vec<_>>(),
        vec![3, 5, 6]
    );
    for (e, key) in errors.iter().zip(["k-a", "k-b", "k-a"]) {
        assert_eq!(e.code, RowErrorCode::Unique);
        assert_eq!(e.field.as_deref(), Some("id"));
        assert_eq!(e.line, Some(e.row + 1));
        assert!(
            e.message.contains(key),
            "the message shows the key: {}",
            e.message
        );
    }
    let failed = failed_rows(state, "job-conf-keys-1");
    let raws: Vec<(u64, Vec<u8>)> = failed.iter().map(|f| (f.0, f.2.clone())).collect();
    assert_eq!(
        raws,
        vec![
            (3, test_raw(3, "k-a")),
            (5, test_raw(5, "k-b")),
            (6, test_raw(6, "k-a"))
        ]
    );
    assert_eq!(state.count_sink_rows(&table).unwrap(), 3);

    // Across commits of one job.
    let rows = test_batch(&[(7, "k-d"), (8, "k-c"), (9, "k-d")]);
    let out = state
        .commit_chunk(
            &j1,
            &test_commit(&rows, &table, &[], &[], cp, T0.plus(LEASE)),
            None,
        )
        .unwrap();
    assert_eq!(
        out,
        Some(CommitOutcome {
            duplicates: vec![1, 2],
            processed_rows: 4,
            error_rows: 5
        })
    );
    assert!(state
        .finish_job(&j1, JobState::PartiallyCompleted, None, T0.plus(secs(10)))
        .unwrap());

    // Across jobs of the dataset: a second file with the same keys is all duplicates.
    let j2 = claimed_job(state, "job-conf-keys-2", "w2", T0);
    let rows = test_batch(&[(1, "k-a"), (2, "k-b"), (3, "k-c"), (4, "k-d")]);
    let out = state
        .commit_chunk(
            &j2,
            &test_commit(&rows, &table, &[], &[], cp, T0.plus(LEASE)),
            None,
        )
        .unwrap();
    assert_eq!(
        out,
        Some(CommitOutcome {
            duplicates: vec![0, 1, 2, 3],
            processed_rows: 0,
            error_rows: 4
        })
    );
    assert_eq!(state.count_sink_rows(&table).unwrap(), 4);

    // Another dataset has keys of its own.
    let other = test_table("conf_keys_other");
    let out = state
        .commit_chunk(
            &j2,
            &test_commit(&rows, &other, &[], &[], cp, T0.plus(LEASE)),
            None,
        )
        .unwrap();
    assert_eq!(out.map(|o| o.duplicates), Some(vec![]));
    assert_eq!(state.count_sink_rows(&other).unwrap(), 4);

    // A table without a key has no rule.
    let keyless = SinkTable {
        key: None,
        ..test_table("conf_nokey")
    };
    for expect in [2, 4] {
        let rows = test_batch(&[(1, "k-a"), (2, "k-a")]);
        let out = state
            .commit_chunk(
                &j2,
                &test_commit(&rows, &keyless, &[], &[], cp, T0.plus(LEASE)),
                None,
            )
            .unwrap();
        assert_eq!(out.map(|o| o.duplicates), Some(vec![]));
        assert_eq!(state.count_sink_rows(&keyless).unwrap(), expect);
    }
    assert!(state
        .finish_job(&j2, JobState::Failed, None, T0.plus(secs(10)))
        .unwrap());
}

/// With a host sink (`store_rows` false) the keys are still recorded, no row is stored, and
/// the callback sees the positions that passed the key rule.
pub fn keys_without_sink_rows(state: &dyn StateStore) {
    let table = test_table("conf_hostsink");
    let lease = claimed_job(state, "job-conf-host", "w1", T0);
    let mut seen: Vec<Vec<usize>> = Vec::new();
    let mut sink = |batch: &RowBatch, accepted: &[usize]| -> Result<()> {
        assert!(accepted.iter().all(|&i| i < batch.len()));
        seen.push(accepted.to_vec());
        Ok(())
    };
    let cp = Checkpoint::default();
    let rows1 = test_batch(&[(1, "h-1"), (2, "h-2"), (3, "h-1")]);
    let rows2 = test_batch(&[(4, "h-2"), (5, "h-3")]);
    for (rows, dups) in [(&rows1, vec![2]), (&rows2, vec![0])] {
        let commit = ChunkCommit {
            store_rows: false,
            ..test_commit(rows, &table, &[], &[], cp, T0.plus(LEASE))
        };
        let cb: SinkCallback<'_> = &mut sink;
        let out = state
            .commit_chunk(&lease, &commit, Some(cb))
            .unwrap()
            .expect("held");
        assert_eq!(out.duplicates, dups);
    }
    assert_eq!(seen, vec![vec![0, 1], vec![1]]);
    assert_eq!(
        state.count_sink_rows(&table).unwrap(),
        0,
        "a host sink: no row in the default sink"
    );
    let j = job(state, "job-conf-host");
    assert_eq!((j.processed_rows, j.error_rows), (3, 2));

    // The keys are kept: storing rows later still sees them.
    let rows3 = test_batch(&[(6, "h-3"), (7, "h-4")]);
    let out = state
        .commit_chunk(
            &lease,
            &test_commit(&rows3, &table, &[], &[], cp, T0.plus(LEASE)),
            None,
        )
        .unwrap();
    assert_eq!(out.map(|o| o.duplicates), Some(vec![0]));
    assert_eq!(state.count_sink_rows(&table).unwrap(), 1);
    state.cancel_job("job-conf-host", T0).unwrap();
}

/// The primary key is per tenant: two tenants ingesting the same keys into one dataset are
/// both accepted (default sink and host sink alike), the same tenant again gets duplicates, and
/// the `UNIQUE` message shows the key only, never the tenant.
pub fn keys_per_tenant(state: &dyn StateStore) {
    let table = test_table("conf_tenants");
    let cp = Checkpoint::default();
    let ids = [(1, "t-1"), (2, "t-2"), (3, "t-1")];
    let rows = test_batch(&ids);
    let commit = |lease: &Lease, rows: &RowBatch, store_rows: bool| {
        let c = ChunkCommit {
            store_rows,
            ..test_commit(rows, &table, &[], &[], cp, T0.plus(LEASE))
        };
        let mut host = |_: &RowBatch, _: &[usize]| -> Result<()> { Ok(()) };
        let sink: Option<SinkCallback<'_>> = if store_rows { None } else { Some(&mut host) };
        state
            .commit_chunk(lease, &c, sink)
            .expect("commit_chunk")
            .expect("held")
            .duplicates
    };

    let a = claimed_job_of(state, "job-conf-ten-a", "tenant-a", "w1", T0);
    assert_eq!(commit(&a, &rows, true), vec![2], "in-batch duplicate");
    let b = claimed_job_of(state, "job-conf-ten-b", "tenant-b", "w1", T0);
    assert_eq!(
        commit(&b, &rows, true),
        vec![2],
        "another tenant's keys are its own"
    );
    assert_eq!(state.count_sink_rows(&table).unwrap(), 4);

    // The same tenant again, in another job: duplicates, shown by key only.
    let a2 = claimed_job_of(state, "job-conf-ten-a2", "tenant-a", "w1", T0);
    assert_eq!(commit(&a2, &rows, true), vec![0, 1, 2]);
    let errors = state.job_errors("job-conf-ten-a2", 100).unwrap();
    assert_eq!(errors.len(), 3);
    for (e, key) in errors.iter().zip(["t-1", "t-2", "t-1"]) {
        assert_eq!(e.code, RowErrorCode::Unique);
        assert!(e.message.contains(&format!("\"{key}\"")), "{}", e.message);
        assert!(
            !e.message.contains("tenant"),
            "the message must not show the tenant: {}",
            e.message
        );
    }
    assert_eq!(state.count_sink_rows(&table).unwrap(), 4);

    // A host sink: keys per tenant as well, and shared with the default sink's.
    let c = claimed_job_of(state, "job-conf-ten-c", "tenant-c", "w1", T0);
    assert_eq!(commit(&c, &rows, false), vec![2]);
    assert_eq!(commit(&c, &rows, true), vec![0, 1, 2]);
    assert_eq!(commit(&b, &rows, false), vec![0, 1, 2]);
    let more = test_batch(&[(4, "t-3"), (5, "t-1")]);
    assert_eq!(commit(&a2, &more, false), vec![1]);
    assert_eq!(commit(&c, &more, true), vec![1]);
    assert_eq!(commit(&b, &more, true), vec![1]);
    assert_eq!(state.count_sink_rows(&table).unwrap(), 6);

    // Tenant and key cannot run into each other ("x" + "\u{1f}y" is not "x\u{1f}" + "y").
    let d = claimed_job_of(state, "job-conf-ten-d", "x\u{1f}", "w1", T0);
    let e = claimed_job_of(state, "job-conf-ten-e", "x", "w1", T0);
    assert_eq!(
        commit(&d, &test_batch(&[(1, "y")]), true),
        Vec::<usize>::new()
    );
    assert_eq!(
        commit(&e, &test_batch(&[(1, "\u{1f}y")]), true),
        Vec::<usize>::new()
    );
    assert_eq!(commit(&d, &test_batch(&[(2, "y")]), false), vec![0]);

    for id in [
        "job-conf-ten-a",
        "job-conf-ten-b",
        "job-conf-ten-a2",
        "job-conf-ten-c",
        "job-conf-ten-d",
        "job-conf-ten-e",
    ] {
        state.cancel_job(id, T0).unwrap();
    }
}

/// An error from the host sink rolls the whole commit back; a retry then succeeds.
pub fn sink_error_rolls_back(state: &dyn StateStore) {
    let table = test_table("conf_rollback");
    let id = "job-conf-rollback";
    let lease = claimed_job(state, id, "w1", T0);
    let rows1 = test_batch(&[(1, "rb-1")]);
    let cp1 = Checkpoint {
        offset: 20,
        line: 2,
        rows: 1,
    };
    state
        .commit_chunk(
            &lease,
            &test_commit(&rows1, &table, &[], &[], cp1, T0.plus(LEASE)),
            None,
        )
        .unwrap();

    let before = job(state, id);
    let errors_before = state.job_errors(id, 100).unwrap();
    let failed_before = failed_rows(state, id);
    let count_before = state.count_sink_rows(&table).unwrap();

    let rows2 = test_batch(&[(2, "rb-2"), (3, "rb-1"), (4, "rb-3")]);
    let errors = [test_error(
        5,
        RowErrorCode::Enum,
        "ok: not one of the values",
    )];
    let raw5 = test_raw(5, "rb-5");
    let failed = [FailedRow {
        row: 5,
        line: Some(6),
        raw: &raw5,
    }];
    let cp2 = Checkpoint {
        offset: 100,
        line: 7,
        rows: 5,
    };
    let commit = test_commit(&rows2, &table, &errors, &failed, cp2, T0.plus(secs(300)));
    let mut failing =
        |_: &RowBatch, _: &[usize]| -> Result<()> { Err(Error::storage("host sink is down")) };
    let err = state
        .commit_chunk(&lease, &commit, Some(&mut failing))
        .unwrap_err();
    assert_eq!(
        err,
        Error::storage("host sink is down"),
        "the sink's error comes back as is"
    );

    assert_eq!(
        job(state, id),
        before,
        "counts, checkpoint and lease unchanged"
    );
    assert_eq!(
        state.job_errors(id, 100).unwrap(),
        errors_before,
        "no row error written"
    );
    assert_eq!(
        failed_rows(state, id),
        failed_before,
        "no failed row written"
    );
    assert_eq!(
        state.count_sink_rows(&table).unwrap(),
        count_before,
        "no row stored"
    );

    let mut ok = |_: &RowBatch, accepted: &[usize]| -> Result<()> {
        assert_eq!(accepted, &[0, 2]);
        Ok(())
    };
    let out = state
        .commit_chunk(&lease, &commit, Some(&mut ok))
        .unwrap()
        .expect("held");
    assert_eq!(
        out,
        CommitOutcome {
            duplicates: vec![1],
            processed_rows: 3,
            error_rows: 2
        },
        "keys rolled back"
    );
    assert_eq!(job(state, id).checkpoint, cp2);
    assert_eq!(state.count_sink_rows(&table).unwrap(), count_before + 2);
    assert_eq!(
        state
            .job_errors(id, 100)
            .unwrap()
            .iter()
            .map(|e| e.row)
            .collect::<Vec<_>>(),
        vec![3, 5]
    );
    state.cancel_job(id, T0).unwrap();
}

/// `finish_job` moves a held job along the state machine and releases it.
pub fn finish_transitions(state: &dyn StateStore) {
    let t1 = T0.plus(secs(50));
    let a = claimed_job(state, "job-conf-fin-a", "w1", T0);
    let stranger = Lease {
        job_id: a.job_id.clone(),
        worker: "w2".to_string(),
    };
    assert!(
        !state
            .finish_job(&stranger, JobState::Completed, None, t1)
            .unwrap(),
        "not the holder"
    );
    assert_eq!(job(state, "job-conf-fin-a").state, JobState::Processing);
    assert!(state.finish_job(&a, JobState::Completed, None, t1).unwrap());
    let j = job(state, "job-conf-fin-a");
    assert_eq!(
        (j.state, j.completed_at, j.error.clone()),
        (JobState::Completed, Some(t1), None)
    );
    assert_eq!(
        (j.lease_owner, j.lease_until),
        (None, None),
        "the lease is released"
    );

    // Terminal states never change.
    assert!(
        !state.finish_job(&a, JobState::Failed, None, t1).unwrap(),
        "no lease on a finished job"
    );
    assert!(!state.heartbeat(&a, t1.plus(LEASE)).unwrap());
    let rows = test_batch(&[(1, "fin-1")]);
    let table = test_table("conf_finish");
    let commit = test_commit(
        &rows,
        &table,
        &[],
        &[],
        Checkpoint::default(),
        t1.plus(LEASE),
    );
    assert_eq!(state.commit_chunk(&a, &commit, None).unwrap(), None);
    assert_eq!(
        state
            .claim_job("job-conf-fin-a", "w2", t1.plus(secs(3600)), LEASE)
            .unwrap(),
        None
    );
    assert_eq!(
        code(state.cancel_job("job-conf-fin-a", t1)),
        "INVALID_STATE_TRANSITION"
    );
    assert_eq!(job(state, "job-conf-fin-a").state, JobState::Completed);

    let b = claimed_job(state, "job-conf-fin-b", "w1", T0);
    let why = JobError {
        code: "CORRUPTED_FILE".to_string(),
        message: "gzip stream is truncated".to_string(),
    };
    assert!(state
        .finish_job(&b, JobState::Failed, Some(&why), t1)
        .unwrap());
    let j = job(state, "job-conf-fin-b");
    assert_eq!((j.state, j.error), (JobState::Failed, Some(why)));

    let c = claimed_job(state, "job-conf-fin-c", "w1", T0);
    assert!(state
        .finish_job(&c, JobState::PartiallyCompleted, None, t1)
        .unwrap());
    assert_eq!(
        job(state, "job-conf-fin-c").state,
        JobState::PartiallyCompleted
    );

    // Not a move of the state machine: refused, and the job is still held.
    let d = claimed_job(state, "job-conf-fin-d", "w1", T0);
    assert_eq!(
        code(state.finish_job(&d, JobState::Processing, None, t1)),
        "INVALID_STATE_TRANSITION"
    );
    assert_eq!(job(state, "job-conf-fin-d").state, JobState::Processing);
    assert!(state.heartbeat(&d, t1.plus(LEASE)).unwrap(), "still held");
    // Handing a job back to the queue (processing -> queued) is a move; not a completion.
    assert!(state.finish_job(&d, JobState::Queued, None, t1).unwrap());
    let j = job(state, "job-conf-fin-d");
    assert_eq!(
        (j.state, j.completed_at, j.lease_owner),
        (JobState::Queued, None, None)
    );
    let again = state
        .claim_job("job-conf-fin-d", "w2", t1, LEASE)
        .unwrap()
        .expect("claimable again");
    assert_eq!(again.attempts, 2);

    let done = state.jobs_in_state(JobState::Completed).unwrap();
    assert!(
        done.contains(&"job-conf-fin-a".to_string())
            && !done.contains(&"job-conf-fin-b".to_string())
    );
    state.cancel_job("job-conf-fin-d", t1).unwrap();
}

/// `cancel_job`: queued and processing jobs are cancelled (the holder loses its lease);
/// terminal ones are `INVALID_STATE_TRANSITION`, unknown ones `JOB_NOT_FOUND`.
pub fn cancel(state: &dyn StateStore) {
    let t1 = T0.plus(secs(7));
    queued_job(state, "job-conf-cancel-q");
    let q = state.cancel_job("job-conf-cancel-q", t1).unwrap();
    assert_eq!((q.state, q.completed_at), (JobState::Cancelled, Some(t1)));
    assert_eq!(
        job(state, "job-conf-cancel-q"),
        q,
        "the returned record is the stored one"
    );
    assert_eq!(
        state
            .claim_job("job-conf-cancel-q", "w1", t1, LEASE)
            .unwrap(),
        None
    );

    let p = claimed_job(state, "job-conf-cancel-p", "w1", T0);
    let rec = state.cancel_job("job-conf-cancel-p", t1).unwrap();
    assert_eq!(
        (rec.state, rec.lease_owner.clone(), rec.lease_until),
        (JobState::Cancelled, None, None)
    );
    assert_eq!(job(state, "job-conf-cancel-p"), rec);
    assert!(
        !state.heartbeat(&p, t1.plus(LEASE)).unwrap(),
        "the holder lost the job"
    );
    let rows = test_batch(&[(1, "cn-1")]);
    let table = test_table("conf_cancel");
    let commit = test_commit(
        &rows,
        &table,
        &[],
        &[],
        Checkpoint::default(),
        t1.plus(LEASE),
    );
    assert_eq!(state.commit_chunk(&p, &commit, None).unwrap(), None);
    assert!(!state.finish_job(&p, JobState::Completed, None, t1).unwrap());
    assert_eq!(state.count_sink_rows(&table).unwrap(), 0);
    assert_eq!(
        state
            .claim_job("job-conf-cancel-p", "w2", t1.plus(secs(3600)), LEASE)
            .unwrap(),
        None
    );

    assert_eq!(
        code(state.cancel_job("job-conf-cancel-q", t1)),
        "INVALID_STATE_TRANSITION"
    );
    let c = claimed_job(state, "job-conf-cancel-c", "w1", T0);
    assert!(state.finish_job(&c, JobState::Completed, None, t1).unwrap());
    assert_eq!(
        code(state.cancel_job("job-conf-cancel-c", t1)),
        "INVALID_STATE_TRANSITION"
    );
    assert_eq!(job(state, "job-conf-cancel-c").state, JobState::Completed);
    assert_eq!(
        code(state.cancel_job("job-conf-cancel-nope", t1)),
        "JOB_NOT_FOUND"
    );

    let cancelled = state.jobs_in_state(JobState::Cancelled).unwrap();
    let pos = |id: &str| cancelled.iter().position(|x| x == id);
    assert!(
        pos("job-conf-cancel-q") < pos("job-conf-cancel-p") && pos("job-conf-cancel-q").is_some()
    );
}

// ---------------------------------------------------------------------------------------------
// Blob store

fn sha256_hex(data: &[u8]) -> String {
    super::memory::hex(&Sha256::digest(data))
}

fn read_all(blobs: &dyn BlobStore, key: &str, offset: u64) -> Vec<u8> {
    let mut out = Vec::new();
    blobs
        .open(key, offset)
        .expect("open")
        .read_to_end(&mut out)
        .expect("read");
    out
}

/// A body that breaks after a few reads.
struct Broken(usize);

impl Read for Broken {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.0 == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "client went away",
            ));
        }
        self.0 -= 1;
        let n = buf.len().min(4096);
        buf.iter_mut().take(n).for_each(|b| *b = b'z');
        Ok(n)
    }
}

/// Blobs: put (size and hash), open at an offset, stat, overwrite, delete.
pub fn blob_round_trip(blobs: &dyn BlobStore) {
    let data: Vec<u8> = (0..200_000u32).map(|i| (i * 31 % 251) as u8).collect();
    let key = "conf/blobs/a.bin";
    assert_eq!(blobs.stat(key).unwrap(), None);
    assert_eq!(
        blobs.open(key, 0).err().map(|e| e.code()),
        Some("FILE_NOT_FOUND")
    );
    let info = blobs.put(key, &mut data.as_slice(), None).unwrap();
    assert_eq!(
        (info.size, info.sha256.clone()),
        (data.len() as u64, sha256_hex(&data))
    );
    let st = blobs.stat(key).unwrap().expect("stored");
    assert_eq!((st.size, st.sha256), (info.size, info.sha256));
    assert_eq!(read_all(blobs, key, 0), data);
    assert_eq!(
        read_all(blobs, key, 150_001),
        data[150_001..].to_vec(),
        "reads from the offset"
    );
    assert!(read_all(blobs, key, data.len() as u64).is_empty());
    assert!(
        read_all(blobs, key, data.len() as u64 + 10).is_empty(),
        "past the end: nothing"
    );

    let info2 = blobs.put(key, &mut &b"second version"[..], None).unwrap();
    assert_eq!(info2.size, 14);
    assert_eq!(read_all(blobs, key, 7), b"version".to_vec(), "overwritten");

    let empty = blobs
        .put("conf/blobs/sub/empty", &mut &b""[..], Some(0))
        .unwrap();
    assert_eq!((empty.size, empty.sha256), (0, sha256_hex(b"")));
    assert!(read_all(blobs, "conf/blobs/sub/empty", 0).is_empty());

    blobs.delete(key).unwrap();
    assert_eq!(blobs.stat(key).unwrap(), None);
    assert_eq!(
        blobs.open(key, 0).err().map(|e| e.code()),
        Some("FILE_NOT_FOUND")
    );
    blobs
        .delete(key)
        .expect("deleting a missing blob is not an error");
    assert!(
        blobs.stat("conf/blobs/sub/empty").unwrap().is_some(),
        "other blobs stay"
    );
}

/// Over the limit is `FILE_TOO_LARGE` and a broken body an error; neither leaves a blob, nor
/// harms the blob already stored under the key.
pub fn blob_limit(blobs: &dyn BlobStore) {
    let data = vec![7u8; 10_000];
    let key = "conf/limit/big";
    assert_eq!(
        code(blobs.put(key, &mut data.as_slice(), Some(9_999))),
        "FILE_TOO_LARGE"
    );
    assert_eq!(blobs.stat(key).unwrap(), None, "nothing left behind");
    assert_eq!(
        blobs.open(key, 0).err().map(|e| e.code()),
        Some("FILE_NOT_FOUND")
    );
    assert!(
        blobs
            .put("conf/limit/broken", &mut Broken(3), None)
            .is_err(),
        "a read error fails the put"
    );
    assert_eq!(
        blobs.stat("conf/limit/broken").unwrap(),
        None,
        "nothing left behind"
    );

    let info = blobs
        .put(key, &mut data.as_slice(), Some(10_000))
        .expect("exactly the limit is fine");
    assert_eq!(info.size, 10_000);
    assert_eq!(
        code(blobs.put(key, &mut vec![1u8; 20_000].as_slice(), Some(10_000))),
        "FILE_TOO_LARGE"
    );
    assert!(blobs.put(key, &mut Broken(2), None).is_err());
    assert_eq!(
        read_all(blobs, key, 0),
        data,
        "a refused overwrite keeps the stored blob"
    );
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::storage::sqlite::TestDir;
    use crate::storage::{LocalBlobStore, MemoryBlobStore, MemoryStateStore, SqliteStateStore};

    #[test]
    fn memory_backend_passes() {
        run_all(&MemoryStateStore::new(), &MemoryBlobStore::new());
    }

    #[test]
    fn sqlite_backend_passes() {
        let dir = TestDir::new("conformance");
        let state = SqliteStateStore::open(dir.path().join("state.db")).unwrap();
        let blobs = LocalBlobStore::open(dir.path().join("blobs")).unwrap();
        run_all(&state, &blobs);
    }

    /// A service URL from the environment (set by scripts/services.sh). Under CI a missing one
    /// fails the test; elsewhere the test is skipped with a note.
    #[cfg(any(feature = "postgres", feature = "s3"))]
    pub(crate) fn service_env(name: &str) -> Option<String> {
        match std::env::var(name) {
            Ok(v) if !v.is_empty() => Some(v),
            _ if std::env::var("CI").as_deref() == Ok("true") => {
                panic!("{name} is not set: start the services with scripts/services.sh (required under CI)")
            }
            _ => {
                eprintln!("{name} not set: skipped (scripts/services.sh starts the services)");
                None
            }
        }
    }

    /// A PostgreSQL URL selecting a fresh schema of its own.
    #[cfg(feature = "postgres")]
    pub(crate) fn fresh_pg_url(base: &str, tag: &str) -> String {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let sep = if base.contains('?') { '&' } else { '?' };
        format!("{base}{sep}schema=t_{tag}_{}_{nanos}", std::process::id())
    }

    #[cfg(feature = "postgres")]
    #[test]
    fn postgres_backend_passes_the_state_checks() {
        let Some(url) = service_env("BULK_INGEST_TEST_PG") else {
            return;
        };
        let state = crate::storage::PgStateStore::open(&fresh_pg_url(&url, "conf")).unwrap();
        run_all(&state, &MemoryBlobStore::new());
    }

    /// An `s3://` URL under a fresh prefix of its own.
    #[cfg(feature = "s3")]
    pub(crate) fn fresh_s3_url(base: &str, tag: &str) -> String {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        format!(
            "{}/{tag}-{}-{nanos}",
            base.trim_end_matches('/'),
            std::process::id()
        )
    }

    #[cfg(feature = "s3")]
    #[test]
    fn s3_backend_passes_the_blob_checks() {
        let Some(url) = service_env("BULK_INGEST_TEST_S3") else {
            return;
        };
        let blobs = crate::storage::S3BlobStore::open(
            &fresh_s3_url(&url, "conf"),
            &crate::storage::S3Options::default(),
        )
        .unwrap();
        run_all(&MemoryStateStore::new(), &blobs);
    }

    #[cfg(all(feature = "s3", feature = "postgres"))]
    #[test]
    fn postgres_and_s3_pass_together() {
        let (Some(pg), Some(s3)) = (
            service_env("BULK_INGEST_TEST_PG"),
            service_env("BULK_INGEST_TEST_S3"),
        ) else {
            return;
        };
        let state = crate::storage::PgStateStore::open(&fresh_pg_url(&pg, "both")).unwrap();
        let blobs = crate::storage::S3BlobStore::open(
            &fresh_s3_url(&s3, "both"),
            &crate::storage::S3Options::default(),
        )
        .unwrap();
        run_all(&state, &blobs);
    }

    #[test]
    fn sqlite_in_memory_passes_the_state_checks() {
        let state = SqliteStateStore::open_in_memory().unwrap();
        run_all(&state, &MemoryBlobStore::new());
    }
}
