//! A job that loses its lease part-way and is resumed from its checkpoint: for a plain file
//! the resumed pass reads the file's start (header, sniff) and then only from the checkpoint
//! on (a ranged read), never the bytes in between (NDJSON, JSON array, CSV with a BOM and
//! quoted newlines); a gzip file is read through again. Either way the job's counts, row
//! errors and failed rows are exactly those of an uninterrupted run.

mod common;

use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bulk_ingest::{
    BlobInfo, BlobStore, ChunkCommit, CommitOutcome, Format, Ingestor, IngestorOptions, JobRecord,
    JobState, JobStatus, Lease, MemoryBlobStore, MemoryStateStore, NewJob, ReceivedInfo, Result,
    RowError, SchemaRecord, SinkCallback, SinkTable, StateStore, Timestamp, UploadRecord,
};
use common::*;

/// A memory blob store that records every open (its offset) and counts the bytes read.
#[derive(Default)]
struct CountingBlobs {
    inner: MemoryBlobStore,
    read: Arc<AtomicU64>,
    opens: Mutex<Vec<u64>>,
}

struct CountingReader {
    inner: Box<dyn Read + Send>,
    read: Arc<AtomicU64>,
}

impl Read for CountingReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.fetch_add(n as u64, Ordering::SeqCst);
        Ok(n)
    }
}

impl CountingBlobs {
    /// The offsets opened and the bytes read since the last call.
    fn take(&self) -> (Vec<u64>, u64) {
        (
            std::mem::take(&mut *self.opens.lock().unwrap()),
            self.read.swap(0, Ordering::SeqCst),
        )
    }
}

impl BlobStore for CountingBlobs {
    fn put(&self, key: &str, body: &mut dyn Read, limit: Option<u64>) -> Result<BlobInfo> {
        self.inner.put(key, body, limit)
    }
    fn open(&self, key: &str, offset: u64) -> Result<Box<dyn Read + Send>> {
        self.opens.lock().unwrap().push(offset);
        Ok(Box::new(CountingReader {
            inner: self.inner.open(key, offset)?,
            read: Arc::clone(&self.read),
        }))
    }
    fn stat(&self, key: &str) -> Result<Option<BlobInfo>> {
        self.inner.stat(key)
    }
    fn delete(&self, key: &str) -> Result<()> {
        self.inner.delete(key)
    }
}

/// A memory state store whose holder loses the lease at the first commit after one whose
/// checkpoint passed `lose_after` bytes (that commit is refused, as for a worker whose lease
/// was taken over); afterwards claims see a clock far ahead, so the lease has expired.
struct LosingState {
    inner: MemoryStateStore,
    lose_after: AtomicU64,
    armed: AtomicBool,
    lost: AtomicBool,
}

impl LosingState {
    fn new(lose_after: u64) -> Self {
        LosingState {
            inner: MemoryStateStore::new(),
            lose_after: AtomicU64::new(lose_after),
            armed: AtomicBool::new(false),
            lost: AtomicBool::new(false),
        }
    }

    fn now(&self, now: Timestamp) -> Timestamp {
        if self.lost.load(Ordering::SeqCst) {
            now.plus(Duration::from_secs(3600))
        } else {
            now
        }
    }
}

impl StateStore for LosingState {
    fn put_schema(&self, rec: &SchemaRecord) -> Result<()> {
        self.inner.put_schema(rec)
    }
    fn get_schema(&self, dataset: &str, version: &str) -> Result<Option<SchemaRecord>> {
        self.inner.get_schema(dataset, version)
    }
    fn insert_upload(&self, rec: &UploadRecord) -> Result<()> {
        self.inner.insert_upload(rec)
    }
    fn get_upload(&self, file_id: &str) -> Result<Option<UploadRecord>> {
        self.inner.get_upload(file_id)
    }
    fn mark_received(&self, file_id: &str, blob_key: &str, info: &ReceivedInfo) -> Result<()> {
        self.inner.mark_received(file_id, blob_key, info)
    }
    fn insert_job(&self, job: &NewJob) -> Result<JobRecord> {
        self.inner.insert_job(job)
    }
    fn get_job(&self, job_id: &str) -> Result<Option<JobRecord>> {
        self.inner.get_job(job_id)
    }
    fn job_errors(&self, job_id: &str, limit: usize) -> Result<Vec<RowError>> {
        self.inner.job_errors(job_id, limit)
    }
    fn for_each_failed_row(
        &self,
        job_id: &str,
        f: &mut dyn FnMut(u64, Option<u64>, &[u8], &[RowError]) -> Result<()>,
    ) -> Result<()> {
        self.inner.for_each_failed_row(job_id, f)
    }
    fn claim_next(
        &self,
        worker: &str,
        now: Timestamp,
        lease: Duration,
    ) -> Result<Option<JobRecord>> {
        self.inner.claim_next(worker, self.now(now), lease)
    }
    fn claim_job(
        &self,
        job_id: &str,
        worker: &str,
        now: Timestamp,
        lease: Duration,
    ) -> Result<Option<JobRecord>> {
        self.inner.claim_job(job_id, worker, self.now(now), lease)
    }
    fn heartbeat(&self, lease: &Lease, until: Timestamp) -> Result<bool> {
        self.inner.heartbeat(lease, until)
    }
    fn commit_chunk(
        &self,
        lease: &Lease,
        commit: &ChunkCommit<'_>,
        sink: Option<SinkCallback<'_>>,
    ) -> Result<Option<CommitOutcome>> {
        if self.lost.load(Ordering::SeqCst) {
            // Only the first holder loses its lease; the next one runs to the end.
            return self.inner.commit_chunk(lease, commit, sink);
        }
        if self.armed.load(Ordering::SeqCst) {
            self.lost.store(true, Ordering::SeqCst);
            return Ok(None);
        }
        if commit.checkpoint.offset > self.lose_after.load(Ordering::SeqCst) {
            self.armed.store(true, Ordering::SeqCst);
        }
        self.inner.commit_chunk(lease, commit, sink)
    }
    fn finish_job(
        &self,
        lease: &Lease,
        state: JobState,
        error: Option<&bulk_ingest::JobError>,
        now: Timestamp,
    ) -> Result<bool> {
        self.inner.finish_job(lease, state, error, now)
    }
    fn cancel_job(&self, job_id: &str, now: Timestamp) -> Result<JobRecord> {
        self.inner.cancel_job(job_id, now)
    }
    fn jobs_in_state(&self, state: JobState) -> Result<Vec<String>> {
        self.inner.jobs_in_state(state)
    }
    fn count_sink_rows(&self, table: &SinkTable) -> Result<u64> {
        self.inner.count_sink_rows(table)
    }
}

fn job_opts() -> IngestorOptions {
    IngestorOptions {
        commit_rows: 500,
        chunk_size: 16 * 1024,
        ..opts(0)
    }
}

/// Everything a user sees of a finished job, for comparing two runs.
#[derive(Debug, PartialEq)]
struct Outcome {
    status: JobState,
    total_rows: Option<u64>,
    processed_rows: u64,
    error_rows: u64,
    errors: Vec<RowError>,
    failed_rows: Vec<u8>,
    stored_rows: u64,
}

fn outcome(ing: &Ingestor, st: &JobStatus) -> Outcome {
    Outcome {
        status: st.status,
        total_rows: st.total_rows,
        processed_rows: st.processed_rows,
        error_rows: st.error_rows,
        errors: ing
            .state_store()
            .job_errors(&st.job_id, usize::MAX)
            .unwrap(),
        failed_rows: ing.failed_rows(&st.job_id, None).unwrap(),
        stored_rows: ing.stored_rows("pop", "1.0").unwrap(),
    }
}

/// An uninterrupted run of `body`.
fn one_pass(format: Format, body: &[u8]) -> Outcome {
    let ing = Ingestor::in_memory(job_opts()).unwrap();
    ing.register_schema("pop", "1.0", POP_SCHEMA).unwrap();
    let job = ingest(&ing, &upload(&ing, format, body, None), "pop");
    let st = ing.run_job(&job.job_id, None).unwrap();
    assert!(st.status.is_terminal(), "{st:?}");
    outcome(&ing, &st)
}

/// A run that loses its lease past `lose_after` bytes and is resumed by a second claim.
/// Returns the outcome, the checkpoint resumed from, and the offsets opened and the bytes read
/// by the resumed pass.
fn interrupted(
    format: Format,
    body: &[u8],
    lose_after: u64,
) -> (Outcome, bulk_ingest::Checkpoint, Vec<u64>, u64) {
    let blobs = Arc::new(CountingBlobs::default());
    let state = Arc::new(LosingState::new(lose_after));
    let ing = Ingestor::with_storage(state.clone(), blobs.clone(), job_opts()).unwrap();
    ing.register_schema("pop", "1.0", POP_SCHEMA).unwrap();
    let job = ingest(&ing, &upload(&ing, format, body, None), "pop");
    blobs.take();
    let st = ing.run_job(&job.job_id, None).unwrap();
    assert_eq!(
        st.status,
        JobState::Processing,
        "the lease was lost: {st:?}"
    );
    assert!(state.lost.load(Ordering::SeqCst));
    let (opens, read) = blobs.take();
    assert_eq!(opens, vec![0], "a fresh job reads from the start");
    assert!(read > lose_after.min(body.len() as u64 / 2), "{read}");
    let cp = state.get_job(&job.job_id).unwrap().unwrap().checkpoint;
    assert!(cp.offset > lose_after, "{cp:?}");

    let st = ing.run_job(&job.job_id, None).unwrap();
    assert!(st.status.is_terminal(), "{st:?}");
    let rec = state.get_job(&job.job_id).unwrap().unwrap();
    assert_eq!(rec.attempts, 2, "claimed, lost, claimed again");
    let (opens, read) = blobs.take();
    (outcome(&ing, &st), cp, opens, read)
}

/// A CSV file (with a BOM and a quoted field holding a newline) of the rows of `ndjson`.
fn pop_csv(ndjson: &[u8]) -> Vec<u8> {
    let cols = [
        "eventId",
        "screenId",
        "creativeId",
        "campaignId",
        "playedAt",
        "durationMs",
        "impressions",
        "venueType",
        "playStatus",
    ];
    let mut out = b"\xEF\xBB\xBF".to_vec();
    writeln!(out, "{}\r", cols.join(",")).unwrap();
    for (i, line) in ndjson
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .enumerate()
    {
        let v: serde_json::Value = serde_json::from_slice(line).unwrap();
        let cells: Vec<String> = cols
            .iter()
            .map(|c| match &v[*c] {
                serde_json::Value::String(s) if *c == "creativeId" && i % 5 == 0 => {
                    format!("\"{s}\nnext \"\"line\"\"\"")
                }
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect();
        writeln!(out, "{}\r", cells.join(",")).unwrap();
    }
    out
}

/// A JSON array, one element per line, of the rows of `ndjson`.
fn pop_json_array(ndjson: &[u8]) -> Vec<u8> {
    let rows: Vec<&[u8]> = ndjson
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    let mut out = b" [\n".to_vec();
    out.extend(rows.join(&b",\n"[..]));
    out.extend(b"\n]\n");
    out
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

#[test]
fn a_resumed_plain_job_reads_only_the_head_and_the_rest_and_matches_one_pass() {
    let (nd, bad) = pop_ndjson(5, 6_000, 41);
    let csv = pop_csv(&nd);
    let json = pop_json_array(&nd);
    for (format, body) in [
        (Format::Ndjson, nd),
        (Format::Csv, csv),
        (Format::Json, json),
    ] {
        let size = body.len() as u64;
        let want = one_pass(format, &body);
        assert_eq!(want.status, JobState::PartiallyCompleted);
        assert_eq!(want.error_rows, bad);
        assert_eq!(want.processed_rows, 6_000 - bad);

        let (got, cp, opens, read) = interrupted(format, &body, size * 3 / 5);
        assert_eq!(got, want, "{format}: resumed at {cp:?}");
        assert_eq!(
            opens,
            vec![0, cp.offset],
            "{format}: the head, then the rest from the checkpoint"
        );
        assert!(
            read < size / 2,
            "{format}: the resumed pass read {read} of {size} bytes from {cp:?}"
        );
        assert!(read >= size - cp.offset, "{format}: {read}");
    }
}

#[test]
fn a_resumed_gzip_job_reads_through_and_matches_one_pass() {
    let (nd, bad) = pop_ndjson(6, 6_000, 53);
    let body = gzip(&nd);
    let want = one_pass(Format::Ndjson, &body);
    assert_eq!(want.error_rows, bad);
    let (got, cp, opens, read) = interrupted(Format::Ndjson, &body, nd.len() as u64 * 3 / 5);
    assert_eq!(got, want, "resumed at {cp:?}");
    assert_eq!(opens, vec![0], "gzip cannot be sought: read from the start");
    assert_eq!(read, body.len() as u64);
}
