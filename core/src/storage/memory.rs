//! The in-memory backend: everything in maps behind a mutex. For tests and short-lived hosts.

use std::collections::{HashMap, HashSet};
use std::io::{Cursor, Read};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::*;
use crate::error::Error;

/// Blobs in memory.
#[derive(Debug, Default)]
pub struct MemoryBlobStore {
    blobs: Mutex<HashMap<String, Arc<Vec<u8>>>>,
}

impl MemoryBlobStore {
    pub fn new() -> Self {
        Self::default()
    }
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Arc<Vec<u8>>>> {
        self.blobs.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl BlobStore for MemoryBlobStore {
    fn put(&self, key: &str, body: &mut dyn Read, limit: Option<u64>) -> Result<BlobInfo> {
        let mut data = Vec::new();
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = body.read(&mut buf)?;
            if n == 0 {
                break;
            }
            data.extend_from_slice(&buf[..n]);
            hasher.update(&buf[..n]);
            if let Some(l) = limit {
                if data.len() as u64 > l {
                    return Err(Error::FileTooLarge { limit: l });
                }
            }
        }
        let info = BlobInfo {
            size: data.len() as u64,
            sha256: hex(&hasher.finalize()),
            etag: None,
        };
        self.lock().insert(key.to_string(), Arc::new(data));
        Ok(info)
    }

    fn open(&self, key: &str, offset: u64) -> Result<Box<dyn Read + Send>> {
        let data = self
            .lock()
            .get(key)
            .cloned()
            .ok_or_else(|| Error::FileNotFound(key.to_string()))?;
        let mut c = Cursor::new(ArcBytes(data));
        c.set_position(offset);
        Ok(Box::new(c))
    }

    fn stat(&self, key: &str) -> Result<Option<BlobInfo>> {
        Ok(self.lock().get(key).map(|d| BlobInfo {
            size: d.len() as u64,
            sha256: hex(&Sha256::digest(d.as_slice())),
            etag: None,
        }))
    }

    fn delete(&self, key: &str) -> Result<()> {
        self.lock().remove(key);
        Ok(())
    }
}

struct ArcBytes(Arc<Vec<u8>>);
impl AsRef<[u8]> for ArcBytes {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

/// A failed row as kept: row, line, original bytes.
type FailedEntry = (u64, Option<u64>, Vec<u8>);

#[derive(Default)]
struct State {
    schemas: HashMap<(String, String), SchemaRecord>,
    uploads: HashMap<String, UploadRecord>,
    jobs: HashMap<String, JobRecord>,
    job_order: Vec<String>,
    errors: HashMap<String, Vec<RowError>>,
    failed: HashMap<String, Vec<FailedEntry>>,
    keys: HashMap<String, HashSet<String>>,
    sink_rows: HashMap<String, u64>,
}

/// Jobs and uploads in memory.
#[derive(Default)]
pub struct MemoryStateStore {
    state: Mutex<State>,
}

impl MemoryStateStore {
    pub fn new() -> Self {
        Self::default()
    }
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn held<'a>(st: &'a mut State, lease: &Lease) -> Option<&'a mut JobRecord> {
    st.jobs.get_mut(&lease.job_id).filter(|j| {
        j.state == JobState::Processing && j.lease_owner.as_deref() == Some(lease.worker.as_str())
    })
}

fn claim(j: &mut JobRecord, worker: &str, now: Timestamp, lease: Duration) -> bool {
    let expired = j.state == JobState::Processing && !matches!(j.lease_until, Some(t) if t >= now);
    if j.state != JobState::Queued && !expired {
        return false;
    }
    j.state = JobState::Processing;
    j.lease_owner = Some(worker.to_string());
    j.lease_until = Some(now.plus(lease));
    j.attempts += 1;
    if j.started_at.is_none() {
        j.started_at = Some(now);
    }
    true
}

impl StateStore for MemoryStateStore {
    fn put_schema(&self, rec: &SchemaRecord) -> Result<()> {
        let mut st = self.lock();
        let k = (rec.dataset.clone(), rec.version.clone());
        if let Some(old) = st.schemas.get(&k) {
            if old.source != rec.source {
                return Err(Error::invalid(format!(
                    "schema {} {} is already registered with another document; register it under a new version",
                    rec.dataset, rec.version
                )));
            }
            return Ok(());
        }
        st.schemas.insert(k, rec.clone());
        Ok(())
    }

    fn get_schema(&self, dataset: &str, version: &str) -> Result<Option<SchemaRecord>> {
        Ok(self
            .lock()
            .schemas
            .get(&(dataset.to_string(), version.to_string()))
            .cloned())
    }

    fn insert_upload(&self, rec: &UploadRecord) -> Result<()> {
        let mut st = self.lock();
        if st.uploads.contains_key(&rec.file_id) {
            return Err(Error::storage(format!(
                "file id {} exists already",
                rec.file_id
            )));
        }
        st.uploads.insert(rec.file_id.clone(), rec.clone());
        Ok(())
    }

    fn get_upload(&self, file_id: &str) -> Result<Option<UploadRecord>> {
        Ok(self.lock().uploads.get(file_id).cloned())
    }

    fn mark_received(&self, file_id: &str, blob_key: &str, info: &ReceivedInfo) -> Result<()> {
        let mut st = self.lock();
        let u = st
            .uploads
            .get_mut(file_id)
            .ok_or_else(|| Error::FileNotFound(file_id.to_string()))?;
        if u.received.is_some() {
            return Err(Error::UploadAlreadyReceived(file_id.to_string()));
        }
        u.received = Some(info.clone());
        u.blob_key = blob_key.to_string();
        Ok(())
    }

    fn insert_job(&self, job: &NewJob) -> Result<JobRecord> {
        let mut st = self.lock();
        let u = st
            .uploads
            .get(&job.file_id)
            .ok_or_else(|| Error::FileNotFound(job.file_id.clone()))?;
        let blob = u
            .received
            .clone()
            .ok_or_else(|| Error::UploadNotReceived(job.file_id.clone()))?;
        let rec = JobRecord::queued(job, u.format, u.blob_key.clone(), blob);
        st.jobs.insert(rec.job_id.clone(), rec.clone());
        st.job_order.push(rec.job_id.clone());
        Ok(rec)
    }

    fn get_job(&self, job_id: &str) -> Result<Option<JobRecord>> {
        Ok(self.lock().jobs.get(job_id).cloned())
    }

    fn job_errors(&self, job_id: &str, limit: usize) -> Result<Vec<RowError>> {
        Ok(self
            .lock()
            .errors
            .get(job_id)
            .map(|e| e.iter().take(limit).cloned().collect())
            .unwrap_or_default())
    }

    fn for_each_failed_row(
        &self,
        job_id: &str,
        f: &mut dyn FnMut(u64, Option<u64>, &[u8], &[RowError]) -> Result<()>,
    ) -> Result<()> {
        let (failed, errors) = {
            let st = self.lock();
            (
                st.failed.get(job_id).cloned().unwrap_or_default(),
                st.errors.get(job_id).cloned().unwrap_or_default(),
            )
        };
        let mut ei = 0;
        for (row, line, raw) in &failed {
            while ei < errors.len() && errors[ei].row < *row {
                ei += 1;
            }
            let start = ei;
            while ei < errors.len() && errors[ei].row == *row {
                ei += 1;
            }
            f(*row, *line, raw, &errors[start..ei])?;
        }
        Ok(())
    }

    fn claim_next(
        &self,
        worker: &str,
        now: Timestamp,
        lease: Duration,
    ) -> Result<Option<JobRecord>> {
        let mut st = self.lock();
        let st = &mut *st;
        for id in &st.job_order {
            if let Some(j) = st.jobs.get_mut(id) {
                if claim(j, worker, now, lease) {
                    return Ok(Some(j.clone()));
                }
            }
        }
        Ok(None)
    }

    fn claim_job(
        &self,
        job_id: &str,
        worker: &str,
        now: Timestamp,
        lease: Duration,
    ) -> Result<Option<JobRecord>> {
        let mut st = self.lock();
        let Some(j) = st.jobs.get_mut(job_id) else {
            return Ok(None);
        };
        Ok(claim(j, worker, now, lease).then(|| j.clone()))
    }

    fn heartbeat(&self, lease: &Lease, until: Timestamp) -> Result<bool> {
        let mut st = self.lock();
        Ok(match held(&mut st, lease) {
            Some(j) => {
                j.lease_until = Some(until);
                true
            }
            None => false,
        })
    }

    fn commit_chunk(
        &self,
        lease: &Lease,
        commit: &ChunkCommit<'_>,
        sink: Option<SinkCallback<'_>>,
    ) -> Result<Option<CommitOutcome>> {
        let mut guard = self.lock();
        let st = &mut *guard;
        let Some(job) = held(st, lease) else {
            return Ok(None);
        };
        // Keys are per tenant: the stored text is the tenant's prefix, then the key.
        let prefix = tenant_key_prefix(&job.tenant);
        let rows = commit.rows;
        let mut duplicates = Vec::new();
        let mut inserted = Vec::new();
        let mut unique_errors = Vec::new();
        if let Some(key) = commit.table.key.as_deref() {
            let keys = st.keys.entry(commit.table.name.clone()).or_default();
            let mut text = String::new();
            for i in 0..rows.len() {
                rows.key_text(i, key, &mut text);
                let scoped = format!("{prefix}{text}");
                if keys.insert(scoped.clone()) {
                    inserted.push(scoped);
                } else {
                    duplicates.push(i);
                    unique_errors.push(unique_error(commit.table, rows, i, &text));
                }
            }
        }
        let accepted: Vec<usize> = {
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
            if let Err(e) = sink(rows, &accepted) {
                if let Some(keys) = st.keys.get_mut(&commit.table.name) {
                    for k in &inserted {
                        keys.remove(k);
                    }
                }
                return Err(e);
            }
        }
        if commit.store_rows {
            *st.sink_rows.entry(commit.table.name.clone()).or_default() += accepted.len() as u64;
        }
        let errs = st.errors.entry(lease.job_id.clone()).or_default();
        errs.extend(commit.errors.iter().cloned());
        errs.extend(unique_errors);
        errs.sort_by_key(|e| e.row);
        let failed = st.failed.entry(lease.job_id.clone()).or_default();
        failed.extend(
            commit
                .failed
                .iter()
                .map(|f| (f.row, f.line, f.raw.to_vec())),
        );
        failed.extend(
            duplicates
                .iter()
                .map(|&i| (rows.meta(i).row, rows.meta(i).line, rows.raw(i).to_vec())),
        );
        failed.sort_by_key(|f| f.0);
        let job = st
            .jobs
            .get_mut(&lease.job_id)
            .ok_or_else(|| Error::JobNotFound(lease.job_id.clone()))?;
        job.processed_rows += accepted.len() as u64;
        job.error_rows += (commit.failed.len() + duplicates.len()) as u64;
        job.checkpoint = commit.checkpoint;
        job.lease_until = Some(commit.lease_until);
        Ok(Some(CommitOutcome {
            duplicates,
            processed_rows: job.processed_rows,
            error_rows: job.error_rows,
        }))
    }

    fn finish_job(
        &self,
        lease: &Lease,
        state: JobState,
        error: Option<&JobError>,
        now: Timestamp,
    ) -> Result<bool> {
        let mut st = self.lock();
        let Some(j) = held(&mut st, lease) else {
            return Ok(false);
        };
        check_transition(&j.job_id, j.state, state)?;
        j.state = state;
        j.error = error.cloned();
        // Only a terminal state completes the job (a job handed back to the queue has none).
        j.completed_at = state.is_terminal().then_some(now);
        j.lease_owner = None;
        j.lease_until = None;
        Ok(true)
    }

    fn cancel_job(&self, job_id: &str, now: Timestamp) -> Result<JobRecord> {
        let mut st = self.lock();
        let j = st
            .jobs
            .get_mut(job_id)
            .ok_or_else(|| Error::JobNotFound(job_id.to_string()))?;
        check_transition(job_id, j.state, JobState::Cancelled)?;
        j.state = JobState::Cancelled;
        j.completed_at = Some(now);
        j.lease_owner = None;
        j.lease_until = None;
        Ok(j.clone())
    }

    fn jobs_in_state(&self, state: JobState) -> Result<Vec<String>> {
        let st = self.lock();
        Ok(st
            .job_order
            .iter()
            .filter(|id| st.jobs.get(*id).is_some_and(|j| j.state == state))
            .cloned()
            .collect())
    }

    fn count_sink_rows(&self, table: &SinkTable) -> Result<u64> {
        Ok(self.lock().sink_rows.get(&table.name).copied().unwrap_or(0))
    }
}
